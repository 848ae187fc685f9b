"""Embedders shared by the embedder tests: one loaded model (and one ONNX export) per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from kb_service.config import LocalEmbedderSettings
from kb_service.embedders.local import LocalEmbedder, bundled_model_dir
from kb_service.embedders.onnx import OnnxEmbedder
from tests.kb_service.embedders.contract import CONTRACT_BATCH_SIZE


@pytest.fixture(scope="session")
def reference_tokenizer() -> Any:
    """The model's own tokenizer as transformers loads it: the oracle for our counts."""
    return AutoTokenizer.from_pretrained(str(bundled_model_dir()), local_files_only=True)


@pytest.fixture(scope="session")
def onnx_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="session")
def torch_embedder() -> LocalEmbedder:
    embedder = LocalEmbedder(settings=LocalEmbedderSettings(batch_size=CONTRACT_BATCH_SIZE, runtime="torch"))
    embedder.embed(["warm up"], "search_document")
    return embedder


@pytest.fixture(scope="session")
def onnx_embedder(onnx_cache_dir: Path) -> OnnxEmbedder:
    embedder = OnnxEmbedder(
        settings=LocalEmbedderSettings(batch_size=CONTRACT_BATCH_SIZE), cache_dir=onnx_cache_dir
    )
    assert embedder.runtime == "onnx-fp32", "the export failed: see the logged warning"
    return embedder


@pytest.fixture(scope="session")
def onnx_int8_embedder(onnx_cache_dir: Path) -> OnnxEmbedder:
    embedder = OnnxEmbedder(
        settings=LocalEmbedderSettings(batch_size=CONTRACT_BATCH_SIZE, quantize="int8"),
        cache_dir=onnx_cache_dir,
    )
    assert embedder.runtime == "onnx-int8", "the int8 export failed: see the logged warning"
    return embedder
