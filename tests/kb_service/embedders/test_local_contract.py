"""The torch embedder (sentence-transformers) passes the embedder contract."""

from __future__ import annotations

import pytest

from kb_service.embedders.base import Embedder
from kb_service.embedders.local import LocalEmbedder
from tests.kb_service.embedders.contract import EmbedderContract


class TestTorchEmbedderContract(EmbedderContract):
    @pytest.fixture
    def embedder(self, torch_embedder: LocalEmbedder) -> Embedder:
        return torch_embedder
