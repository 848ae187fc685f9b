"""A counting wrapper at the embedder port: every `embed` call the pipeline or a search makes, with
how many texts it carried, so a test can prove what was (not) embedded — and so billed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.base import Embedder, Embeddings, InputType
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher


@dataclass
class EmbedCalls:
    texts: list[int] = field(default_factory=list)  # texts per call, in order
    # Called after each call with the number of calls so far (a test exhausts capacity with it).
    after_call: Callable[[int], None] | None = None

    @property
    def count(self) -> int:
        return len(self.texts)

    @property
    def total_texts(self) -> int:
        return sum(self.texts)


class _CountingEmbedder:
    def __init__(self, inner: Embedder, calls: EmbedCalls) -> None:
        self._inner = inner
        self._calls = calls

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    @property
    def dimension(self) -> int:
        return self._inner.dimension

    @property
    def max_tokens(self) -> int:
        return self._inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)

    def embed(self, texts: Sequence[str], input_type: InputType) -> Embeddings:
        embeddings = self._inner.embed(texts, input_type)
        self._calls.texts.append(len(texts))
        if self._calls.after_call is not None:
            self._calls.after_call(self._calls.count)
        return embeddings


class CountingEmbedders(EmbedderRegistry):
    """The session's registry, each embedder wrapped to count its `embed` calls."""

    def __init__(self, inner: EmbedderRegistry) -> None:
        self._inner = inner
        self.calls = EmbedCalls()

    def get(self, model_id: str) -> Embedder:
        return _CountingEmbedder(self._inner.get(model_id), self.calls)


def counting_container(settings: Settings, counted: CountingEmbedders) -> Iterator[Container]:
    """A test container (recorded task messages, migrated) embedding through `counted`."""
    built = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=counted)
    upgrade(built.engine)
    yield built
    built.close()
