"""Export, cache and check the ONNX graph of the bundled model (the half of `onnx.py` that
writes files; torch and transformers are imported only inside the export functions).

Cache layout: ``<cache_dir>/all-minilm-l6-v2/<key>.<fp32|int8>.onnx``, folders 0700, files 0600,
each written in a temporary folder beside it, fsynced and renamed into place under an exclusive
``flock``, so a reader never sees a partial graph and concurrent processes export once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import structlog
from tokenizers import Encoding, Tokenizer

from kb_service.catalog import get_model
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.base import EmbedderError
from kb_service.embedders.local import (
    BUNDLED_MODEL_ID,
    _prefer_offline,
    bundled_model_dir,
)

log = structlog.get_logger(__name__)

# Bump when the exported graph changes (pooling, inputs, fusion, quantization options).
EXPORT_VERSION: Final = 1
_SOURCE_FILES: Final = ("model.safetensors", "config.json")
_NUM_HEADS: Final = 12
_HIDDEN_SIZE: Final = 384
# What an exported graph must reach against torch on the probe texts before it is cached.
_MIN_PROBE_COSINE: Final = {"fp32": 0.9999, "int8": 0.98}
_PROBE_TEXTS: Final = (
    "How do I reset my password?",
    "The invoice was approved by the finance team after the quarterly review of the budget.",
    "x",
    "Zürich café, naïve façade, 東京 🚀",
)


def variant_of(settings: LocalEmbedderSettings) -> str:
    return "int8" if settings.quantize == "int8" else "fp32"


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# --- cache key and files ------------------------------------------------------------------------

_key_lock = threading.Lock()
_keys: dict[Path, str] = {}


def export_key(model_dir: Path) -> str:
    """Hash of what decides the exported graph; hashed once per process (~0.2 s for 90 MB)."""
    import onnxruntime

    with _key_lock:
        key = _keys.get(model_dir)
        if key is None:
            digest = hashlib.sha256(f"export-v{EXPORT_VERSION};ort-{onnxruntime.__version__}".encode())
            for name in _SOURCE_FILES:
                digest.update(name.encode())
                with (model_dir / name).open("rb") as source:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
            key = digest.hexdigest()[:20]
            _keys[model_dir] = key
        return key


def model_path(cache_dir: Path, key: str, variant: str) -> Path:
    return cache_dir / BUNDLED_MODEL_ID / f"{key}.{variant}.onnx"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


@contextlib.contextmanager
def _export_lock(directory: Path) -> Iterator[None]:
    """One exporting process per cache folder: an API and a worker starting together export once."""
    fd = os.open(directory / ".export.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _publish(source: Path, target: Path) -> None:
    """Make `source` visible as `target` atomically: 0600, fsynced, renamed, directory fsynced."""
    source.chmod(0o600)
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


_published_lock = threading.Lock()
# Graphs this process exported or found, by (key, variant): another cache folder (a test's or a
# benchmark's fresh data folder) gets a copy instead of a second multi-second export.
_published: dict[tuple[str, str], Path] = {}


def ensure_exported(cache_dir: Path, variant: str) -> Path:
    """The cached graph of `variant`, exported (and checked against torch) first if missing."""
    _prefer_offline()
    model_dir = bundled_model_dir()
    key = export_key(model_dir)
    target = model_path(cache_dir, key, variant)
    if target.exists():
        return _remember(key, variant, target)
    # int8 is quantized from the cached fp32 graph; taken before the lock, which is not re-entrant.
    fp32 = ensure_exported(cache_dir, "fp32") if variant == "int8" else None
    _private_dir(cache_dir)
    _private_dir(target.parent)
    with _export_lock(target.parent):
        if target.exists():  # another process exported it while we waited
            return _remember(key, variant, target)
        for leftover in target.parent.glob(".export-*"):  # of a process killed mid-export
            shutil.rmtree(leftover, ignore_errors=True)
        started = time.perf_counter()
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            with _published_lock:
                known = _published.get((key, variant))
            if known is not None and known.exists():
                exported = work / "copy.onnx"
                shutil.copyfile(known, exported)
            else:
                exported = _export_fp32(model_dir, work) if fp32 is None else _export_int8(fp32, work)
            _publish(exported, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _remove_stale(target.parent, key)
        log.info(
            "embedders.onnx.exported",
            model=BUNDLED_MODEL_ID,
            variant=variant,
            path=str(target),
            copied=known is not None,
            seconds=round(time.perf_counter() - started, 2),
        )
    return _remember(key, variant, target)


def _remember(key: str, variant: str, path: Path) -> Path:
    with _published_lock:
        _published.setdefault((key, variant), path)
    return path


def _remove_stale(directory: Path, key: str) -> None:
    """Graphs of older weights or export code are never loaded again."""
    for path in directory.glob("*.onnx"):
        if not path.name.startswith(f"{key}."):
            path.unlink(missing_ok=True)


# --- export (torch is imported here only) ---------------------------------------------------------


def _export_fp32(model_dir: Path, work: Path) -> Path:
    import torch

    raw, fused = work / "raw.onnx", work / "fp32.onnx"
    module = _PooledEncoder.build(model_dir)
    # A padded dummy batch, so the trace keeps the attention-mask path (transformers skips the
    # mask for an all-ones batch, and a trace would bake that in).
    input_ids = torch.ones((2, 16), dtype=torch.int64)
    attention_mask = torch.ones((2, 16), dtype=torch.int64)
    attention_mask[1, 9:] = 0
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns that it is deprecated; it is what torch 2.13 (pinned)
        # exports this model with, without onnxscript, and the probe below checks its output.
        warnings.simplefilter("ignore")
        from onnxruntime.transformers.optimizer import optimize_model

        torch.onnx.export(
            module,
            (input_ids, attention_mask),
            str(raw),
            dynamo=False,
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
        )
        # Fuses embeddings + LayerNorm, attention, bias + GELU and skip + LayerNorm into ONNX
        # Runtime's CPU kernels: fewer, larger operators for the same arithmetic.
        optimized = optimize_model(
            str(raw), model_type="bert", num_heads=_NUM_HEADS, hidden_size=_HIDDEN_SIZE, opt_level=0
        )
        optimized.save_model_to_file(str(fused))
    _probe(module, fused, "fp32")
    return fused


def _export_int8(fp32: Path, work: Path) -> Path:
    result = work / "int8.onnx"
    _quantize(fp32, result)
    _probe(_PooledEncoder.build(bundled_model_dir()), result, "int8")
    return result


def _quantize(source: Path, target: Path) -> None:
    """int8 weights per channel for the fused graph's MatMuls, except each layer's FFN output.

    Measured on varied texts against torch: all MatMuls per tensor, cosine min 0.88; per channel,
    min 0.984 / mean 0.993; per channel with the 1536 -> 384 FFN outputs (whose GELU activations
    have the widest range) left in float, min 0.990 / mean 0.997. The attention projections stay
    float inside the fused Attention operator (quantizing it costs quality and gains little).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    ffn_outputs = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and "/output/dense/" in node.name and "/attention/" not in node.name
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it asks for a pre-processing pass this graph does not need
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=ffn_outputs,
            # The fused operators carry no inferred output types; MatMul outputs are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


class _PooledEncoder:
    """BERT + attention-masked mean pooling + L2 normalisation, as sentence-transformers does."""

    @staticmethod
    def build(model_dir: Path) -> Any:
        import torch
        from transformers import AutoModel

        class PooledEncoder(torch.nn.Module):
            def __init__(self, bert: torch.nn.Module) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=torch.zeros_like(input_ids),
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, p=2.0, dim=1)

        # Eager attention traces into plain ONNX operators the BERT optimizer knows how to fuse.
        bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
        return PooledEncoder(bert).eval()


def _probe(module: Any, path: Path, variant: str) -> None:
    """Refuse a graph whose vectors drift from torch's on a padded batch of varied texts."""
    import torch

    session = open_session(path, threads=1, profile="throughput")
    ids, mask, _ = pad_batch([window_tokenizer().encode(t) for t in _PROBE_TEXTS])
    with torch.no_grad():
        expected = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    actual = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    worst = float(np.min(np.sum(expected * actual, axis=1)))
    if worst < _MIN_PROBE_COSINE[variant]:
        raise EmbedderError(f"exported {variant} graph drifts from torch: cosine {worst:.5f}")


# --- inputs and sessions ------------------------------------------------------------------------

_tokenizer_lock = threading.Lock()
_window_tokenizer: Tokenizer | None = None


def window_tokenizer() -> Tokenizer:
    """The model's tokenizer truncating to the 256-token window, no padding (we pad per batch)."""
    global _window_tokenizer
    with _tokenizer_lock:
        if _window_tokenizer is None:
            _prefer_offline()
            tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
            tokenizer.enable_truncation(max_length=get_model(BUNDLED_MODEL_ID).max_tokens or 256)
            tokenizer.no_padding()
            _window_tokenizer = tokenizer
        return _window_tokenizer


def pad_batch(
    encodings: Sequence[Encoding],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Input ids and mask padded to the longest of `encodings`, and the tokens they hold."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask, int(mask.sum())


def open_session(path: Path, *, threads: int, profile: str) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if profile == "latency" else "0")
    # "latency": pool threads spin between the operators of a pass, and stop when it ends. Left
    # spinning between passes, the pool thread burned 10-14 ms of CPU per search at 1 and 16
    # concurrent searches (the whole core the other requests needed); stopped, 3-5 ms, and the
    # embedder alone answers a query no slower (p50 3.4-4.0 ms vs 4.4-4.9 ms, docs/request-path.md).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
