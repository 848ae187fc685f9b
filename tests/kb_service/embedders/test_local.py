"""LocalEmbedder with the real bundled all-MiniLM-L6-v2 (loads once per module, ~10 s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from transformers import AutoTokenizer

from kb_service.catalog import get_model
from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.base import Embedder, EmbedderError
from kb_service.embedders.local import BUNDLED_MODEL_ID, LocalEmbedder, bundled_model_dir

REPO_ROOT = Path(__file__).resolve().parents[3]

SAMPLES = [
    "How do I reset my password?",
    "Steps to recover a forgotten account password",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Zürich's café serves crème brûlée — naïve façade, 東京 and emoji 🚀 included.",
    "   leading and trailing whitespace   ",
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    embedder = LocalEmbedder()
    embedder.embed(["warm up"], "search_document")  # loads the model once for the module
    return embedder


@pytest.fixture(scope="module")
def reference_tokenizer() -> Any:
    """The model's own tokenizer as transformers loads it: the oracle for our counts."""
    return AutoTokenizer.from_pretrained(str(bundled_model_dir()), local_files_only=True)


def long_text(words: int) -> str:
    return " ".join(f"knowledge{i % 7} base retrieval" for i in range(words // 3))


def test_satisfies_the_embedder_port_with_the_catalog_dimension_and_window(embedder: LocalEmbedder) -> None:
    spec = get_model(BUNDLED_MODEL_ID)
    assert isinstance(embedder, Embedder)
    assert (embedder.model_id, embedder.dimension, embedder.max_tokens) == (spec.id, 384, 256)


def test_vectors_are_normalised_float32_of_the_model_dimension(embedder: LocalEmbedder) -> None:
    vectors = embedder.embed(SAMPLES, "search_document").vectors
    assert vectors.shape == (len(SAMPLES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_semantically_closer_texts_score_higher(embedder: LocalEmbedder) -> None:
    query = embedder.embed(["I forgot my login password"], "search_query").vectors[0]
    docs = embedder.embed(SAMPLES[:3], "search_document").vectors
    scores = docs @ query
    assert scores[0] > scores[2]
    assert scores[1] > scores[2]


def test_input_type_does_not_change_local_vectors(embedder: LocalEmbedder) -> None:
    as_query = embedder.embed(SAMPLES[:2], "search_query").vectors
    as_document = embedder.embed(SAMPLES[:2], "search_document").vectors
    np.testing.assert_allclose(as_query, as_document, atol=1e-6)


@pytest.mark.parametrize("text", [*SAMPLES, long_text(900), "x"])
def test_count_tokens_matches_the_model_tokenizer_untruncated(
    embedder: LocalEmbedder, reference_tokenizer: Any, text: str
) -> None:
    expected = len(reference_tokenizer(text, truncation=False)["input_ids"])
    assert embedder.count_tokens(text) == expected


def test_count_tokens_includes_cls_and_sep(embedder: LocalEmbedder) -> None:
    assert embedder.count_tokens("hello") == 3


def test_one_call_is_metered_with_the_tokens_the_model_saw(
    embedder: LocalEmbedder, reference_tokenizer: Any
) -> None:
    texts = [*SAMPLES, long_text(900)]
    result = embedder.embed(texts, "search_document")
    seen = [len(reference_tokenizer(t, truncation=True, max_length=256)["input_ids"]) for t in texts]
    assert len(result.calls) == 1
    assert result.input_tokens == sum(seen)
    assert embedder.count_tokens(texts[-1]) > 256  # the long text really was truncated


def test_batching_does_not_change_the_vectors(embedder: LocalEmbedder) -> None:
    texts = [*SAMPLES, long_text(400), long_text(30)]
    together = LocalEmbedder(settings=LocalEmbedderSettings(batch_size=3)).embed(texts, "search_document")
    alone = np.vstack([embedder.embed([t], "search_document").vectors for t in texts])
    np.testing.assert_allclose(together.vectors, alone, atol=1e-5)
    assert len(together.calls) == 1


def test_concurrent_calls_from_threads_give_the_same_vectors(embedder: LocalEmbedder) -> None:
    batches = [[f"{s} #{i}" for s in SAMPLES] for i in range(4)]
    sequential = [embedder.embed(b, "search_document").vectors for b in batches]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda b: embedder.embed(b, "search_document").vectors, batches))
    for expected, actual in zip(sequential, concurrent, strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_empty_input_returns_no_vectors_and_no_calls(embedder: LocalEmbedder) -> None:
    result = embedder.embed([], "search_document")
    assert result.vectors.shape == (0, 384)
    assert result.calls == ()


@pytest.mark.parametrize("blank", ["", "  \n\t"])
def test_empty_text_is_rejected_by_position(embedder: LocalEmbedder, blank: str) -> None:
    with pytest.raises(EmbedderError, match="text 1 is empty"):
        embedder.embed(["fine", blank], "search_document")


def test_a_bare_string_is_not_embedded_character_by_character(embedder: LocalEmbedder) -> None:
    with pytest.raises(TypeError, match="not a single string"):
        embedder.embed("hello", "search_document")


def test_unknown_input_type_is_rejected(embedder: LocalEmbedder) -> None:
    with pytest.raises(ValueError, match="input_type"):
        embedder.embed(["hello"], "classification")  # type: ignore[arg-type]


def test_only_the_bundled_model_is_accepted() -> None:
    with pytest.raises(ValueError, match="runs only the bundled"):
        LocalEmbedder(get_model("embed-english-light-v3.0"))


def test_counting_tokens_does_not_load_torch_or_the_model() -> None:
    # Fresh interpreter: an API process that only counts tokens must stay light.
    script = textwrap.dedent(
        """
        import sys
        from kb_service.embedders.local import LocalEmbedder
        assert LocalEmbedder().count_tokens("two words") == 4
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
        print(",".join(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
