"""The embedder port: one Protocol for the bundled local model and Cohere Embed v3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

# Cohere's names; the local model ignores the distinction but callers must still say which.
InputType: TypeAlias = Literal["search_document", "search_query"]


@dataclass(frozen=True, slots=True)
class EmbeddingCall:
    """What one billed call to the model cost: metering records one API call and these tokens."""

    input_tokens: int


@dataclass(frozen=True, slots=True)
class Embeddings:
    # Row i is the L2-normalised embedding of text i, float32, shape (len(texts), dimension).
    vectors: npt.NDArray[np.float32]
    # One entry per billed call made to produce them (Cohere: ceil(n / 96)).
    calls: tuple[EmbeddingCall, ...]

    @property
    def input_tokens(self) -> int:
        return sum(call.input_tokens for call in self.calls)


class EmbedderError(Exception):
    """Embedding failed for good (bad key, bad input); retrying will not help."""


class TransientEmbedderError(EmbedderError):
    """Rate limit, timeout or server error that outlasted the embedder's own retries."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The model's window: a chunk must not exceed it in the model's own tokens."""

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, special tokens included (used to size chunks)."""

    def embed(self, texts: Sequence[str], input_type: InputType) -> Embeddings:
        """Embed texts; batches internally to the provider's limit (Cohere: 96 per call)."""
