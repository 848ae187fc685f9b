"""OnnxEmbedder: the contract, parity with torch, the cached export, and the torch fallback."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from structlog.testing import capture_logs

from kb_service.catalog import get_model
from kb_service.config import LocalEmbedderSettings, Settings
from kb_service.embedders.base import Embedder, Embeddings
from kb_service.embedders.factory import build_embedder
from kb_service.embedders.local import BUNDLED_MODEL_ID, LocalEmbedder, bundled_model_dir
from kb_service.embedders.onnx import OnnxEmbedder, export_key, model_path
from tests.kb_service.embedders.contract import EmbedderContract, varied_texts

REPO_ROOT = Path(__file__).resolve().parents[3]


class TestOnnxFp32Contract(EmbedderContract):
    @pytest.fixture
    def embedder(self, onnx_embedder: OnnxEmbedder) -> Embedder:
        return onnx_embedder


class TestOnnxInt8Contract(EmbedderContract):
    batch_invariance_min_cosine = 0.995

    @pytest.fixture
    def embedder(self, onnx_int8_embedder: OnnxEmbedder) -> Embedder:
        return onnx_int8_embedder


@pytest.fixture(scope="module")
def parity_texts() -> list[str]:
    from benchmarks.corpus import make_chunks

    return [*varied_texts(12), *make_chunks(8, words=200, seed=3), *make_chunks(8, words=6, seed=4)]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(a * b, axis=1))


def test_fp32_vectors_match_torch(
    onnx_embedder: OnnxEmbedder, torch_embedder: LocalEmbedder, parity_texts: list[str]
) -> None:
    onnx = onnx_embedder.embed(parity_texts, "search_document")
    torch = torch_embedder.embed(parity_texts, "search_document")
    assert cosines(onnx.vectors, torch.vectors).min() >= 0.999
    assert onnx.input_tokens == torch.input_tokens


def test_int8_vectors_stay_close_to_torch(
    onnx_int8_embedder: OnnxEmbedder,
    torch_embedder: LocalEmbedder,
    parity_texts: list[str],
    record_property: Callable[[str, object], None],
) -> None:
    found = cosines(
        onnx_int8_embedder.embed(parity_texts, "search_document").vectors,
        torch_embedder.embed(parity_texts, "search_document").vectors,
    )
    record_property("int8_cosine_min", float(found.min()))
    record_property("int8_cosine_mean", float(found.mean()))
    assert found.min() >= 0.98
    assert found.mean() >= 0.99


def test_the_export_is_cached_privately_under_a_key_of_the_weights(
    onnx_embedder: OnnxEmbedder, onnx_int8_embedder: OnnxEmbedder, onnx_cache_dir: Path
) -> None:
    key = export_key(bundled_model_dir())
    for variant in ("fp32", "int8"):
        path = model_path(onnx_cache_dir, key, variant)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".export.lock",
        f"{key}.fp32.onnx",
        f"{key}.int8.onnx",
    ]


def test_another_data_folder_gets_a_copy_not_a_second_export(
    onnx_embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    other = OnnxEmbedder(settings=LocalEmbedderSettings(threads=1), cache_dir=tmp_path / "models")
    with capture_logs() as logs:
        assert other.runtime == "onnx-fp32"
    exported = [e for e in logs if e["event"] == "embedders.onnx.exported"]
    assert [e["copied"] for e in exported] == [True]
    np.testing.assert_allclose(
        other.embed(["copy"], "search_query").vectors,
        onnx_embedder.embed(["copy"], "search_query").vectors,
        atol=1e-5,
    )


def test_an_unusable_cache_falls_back_to_torch_with_a_warning(
    torch_embedder: LocalEmbedder, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    embedder = OnnxEmbedder(settings=LocalEmbedderSettings(), cache_dir=blocked)
    with capture_logs() as logs:
        result = embedder.embed(["still answered"], "search_query")
    assert "embedders.onnx.unavailable_using_torch" in [e["event"] for e in logs]
    assert embedder.runtime == "torch"
    np.testing.assert_allclose(
        result.vectors, torch_embedder.embed(["still answered"], "search_query").vectors, atol=1e-6
    )


def test_factory_builds_onnx_by_default_and_torch_when_asked(tmp_path: Path) -> None:
    spec = get_model(BUNDLED_MODEL_ID)
    default = build_embedder(spec, Settings(data_dir=tmp_path))
    assert isinstance(default, OnnxEmbedder)
    torch_settings = Settings(data_dir=tmp_path, local_embedder=LocalEmbedderSettings(runtime="torch"))
    torch = build_embedder(spec, torch_settings)
    assert isinstance(torch, LocalEmbedder)


def test_a_warm_cache_embeds_without_importing_torch(
    onnx_embedder: OnnxEmbedder, onnx_cache_dir: Path
) -> None:
    # Fresh interpreter: once exported, an API process needs neither torch nor transformers.
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from kb_service.embedders.onnx import OnnxEmbedder
        embedder = OnnxEmbedder(cache_dir=Path({str(onnx_cache_dir)!r}))
        assert embedder.embed(["two words"], "search_query").vectors.shape == (1, 384)
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
        print("heavy=" + ",".join(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert [line for line in done.stdout.splitlines() if line.startswith("heavy=")] == ["heavy="]


class _GatedSession:
    """A stand-in ONNX session: each pass records its batch, the first one waits for a gate, and a
    row's vector is its first token id (so each caller can be checked to get its own rows)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batches: list[int] = []

    def run(self, _outputs: object, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        ids = feeds["input_ids"]
        self.batches.append(len(ids))
        self.started.set()
        self.gate.wait(10)
        return [np.repeat(ids[:, 1:2].astype(np.float32), 4, axis=1)]


def test_calls_waiting_for_a_pass_share_the_next_one_and_each_gets_its_own_rows() -> None:
    from kb_service.embedders._onnx_graph import window_tokenizer
    from kb_service.embedders.onnx import _Passes

    session = _GatedSession()
    passes = _Passes(session, batch_size=32)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    encodings = [window_tokenizer().encode(word) for word in words]
    results: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        results[i] = passes.run([encodings[i]])

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert session.started.wait(10)
    rest = [threading.Thread(target=call, args=(i,)) for i in range(1, len(words))]
    for thread in rest:
        thread.start()
    while passes._coalescer.waiting < len(rest):  # every later caller is waiting for the busy session
        time.sleep(0.001)
    session.gate.set()
    for thread in [first, *rest]:
        thread.join(10)

    assert session.batches == [1, len(rest)]  # a lone call at once, then the queue in one pass
    for i, encoding in enumerate(encodings):
        assert results[i].shape == (1, 4)
        assert results[i][0, 0] == encoding.ids[1]


def test_concurrent_queries_get_the_vectors_and_tokens_of_a_call_on_their_own(
    onnx_embedder: OnnxEmbedder,
) -> None:
    texts = [f"question {i}: how are {'very ' * i}long queries padded?" for i in range(16)]
    alone = [onnx_embedder.embed([text], "search_query") for text in texts]
    together: dict[int, Embeddings] = {}

    def call(i: int) -> None:
        together[i] = onnx_embedder.embed([texts[i]], "search_query")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for i, solo in enumerate(alone):
        assert together[i].input_tokens == solo.input_tokens
        assert float(together[i].vectors[0] @ solo.vectors[0]) >= 0.9999
