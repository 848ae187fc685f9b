"""The contract every bundled-model embedder passes, whatever runtime runs it.

Subclass `EmbedderContract` and provide an `embedder` fixture (built with the conftest's
`CONTRACT_BATCH_SIZE`); every test here then runs against it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from kb_service.catalog import get_model
from kb_service.embedders.base import Embedder, EmbedderError
from kb_service.embedders.local import BUNDLED_MODEL_ID

# The batch size the embedders under test are built with: small, so "more than a batch" is cheap.
CONTRACT_BATCH_SIZE = 4

SAMPLES = [
    "How do I reset my password?",
    "Steps to recover a forgotten account password",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Zürich's café serves crème brûlée — naïve façade, 東京 and emoji 🚀 included.",
    "   leading and trailing whitespace   ",
    "x",
]


def long_text(words: int) -> str:
    return " ".join(f"knowledge{i % 7} base retrieval" for i in range(words // 3))


def varied_texts(n: int) -> list[str]:
    """`n` texts of very different lengths, so length-sorted batches really reorder them."""
    return [f"{SAMPLES[i % len(SAMPLES)]} {long_text(3 * (i * 7 % 40))}".strip() for i in range(n)]


class EmbedderContract:
    # How close a text's vector must stay when its batch mates change (int8 quantizes
    # activations with one range per batch, so it is allowed to move a little).
    batch_invariance_min_cosine: ClassVar[float] = 0.99999

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError("subclasses provide the embedder under test")

    def test_satisfies_the_port_with_the_catalog_dimension_and_window(self, embedder: Embedder) -> None:
        spec = get_model(BUNDLED_MODEL_ID)
        assert isinstance(embedder, Embedder)
        assert (embedder.model_id, embedder.dimension, embedder.max_tokens) == (spec.id, 384, 256)

    def test_vectors_are_unit_length_float32_of_the_dimension(self, embedder: Embedder) -> None:
        vectors = embedder.embed(SAMPLES, "search_document").vectors
        assert vectors.shape == (len(SAMPLES), 384)
        assert vectors.dtype == np.float32
        assert vectors.flags.c_contiguous
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    @pytest.mark.parametrize("text", [*SAMPLES, long_text(900)])
    def test_count_tokens_is_the_tokenizers_untruncated_count(
        self, embedder: Embedder, reference_tokenizer: Any, text: str
    ) -> None:
        assert embedder.count_tokens(text) == len(reference_tokenizer(text, truncation=False)["input_ids"])

    def test_one_call_is_metered_with_the_tokenizers_count_capped_at_the_window(
        self, embedder: Embedder, reference_tokenizer: Any
    ) -> None:
        texts = [*SAMPLES, long_text(900)]
        result = embedder.embed(texts, "search_document")
        seen = [len(reference_tokenizer(t, truncation=True, max_length=256)["input_ids"]) for t in texts]
        assert len(result.calls) == 1
        assert result.input_tokens == sum(seen)

    def test_more_texts_than_a_batch_come_back_in_order_as_if_embedded_alone(
        self, embedder: Embedder
    ) -> None:
        texts = varied_texts(3 * CONTRACT_BATCH_SIZE + 1)
        together = embedder.embed(texts, "search_document")
        alone = np.vstack([embedder.embed([t], "search_document").vectors for t in texts])
        assert len(together.calls) == 1
        cosines = np.sum(together.vectors * alone, axis=1)
        assert cosines.min() >= self.batch_invariance_min_cosine

    def test_empty_input_returns_no_vectors_and_no_calls(self, embedder: Embedder) -> None:
        result = embedder.embed([], "search_document")
        assert result.vectors.shape == (0, 384)
        assert result.calls == ()

    def test_a_very_long_text_is_truncated_to_the_window(self, embedder: Embedder) -> None:
        text = long_text(900)
        assert embedder.count_tokens(text) > 256
        result = embedder.embed([text], "search_document")
        longer = embedder.embed([text + " and a tail the model never sees"], "search_document")
        assert result.input_tokens == longer.input_tokens == 256
        np.testing.assert_array_equal(result.vectors, longer.vectors)

    def test_same_input_twice_gives_identical_vectors(self, embedder: Embedder) -> None:
        texts = varied_texts(2 * CONTRACT_BATCH_SIZE)
        first = embedder.embed(texts, "search_document").vectors
        np.testing.assert_array_equal(embedder.embed(texts, "search_document").vectors, first)

    def test_query_and_document_input_types_are_accepted_and_equal(self, embedder: Embedder) -> None:
        as_query = embedder.embed(SAMPLES[:2], "search_query").vectors
        as_document = embedder.embed(SAMPLES[:2], "search_document").vectors
        np.testing.assert_array_equal(as_query, as_document)

    def test_semantically_closer_texts_score_higher(self, embedder: Embedder) -> None:
        query = embedder.embed(["I forgot my login password"], "search_query").vectors[0]
        scores = embedder.embed(SAMPLES[:3], "search_document").vectors @ query
        assert scores[0] > scores[2]
        assert scores[1] > scores[2]

    @pytest.mark.parametrize("blank", ["", "  \n\t"])
    def test_an_empty_text_is_rejected_by_position(self, embedder: Embedder, blank: str) -> None:
        with pytest.raises(EmbedderError, match="text 1 is empty"):
            embedder.embed(["fine", blank], "search_document")

    def test_a_bare_string_is_not_embedded_character_by_character(self, embedder: Embedder) -> None:
        with pytest.raises(TypeError, match="not a single string"):
            embedder.embed("hello", "search_document")
