from __future__ import annotations

from collections.abc import Iterator

import pytest

from kb_service.embedders.factory import EmbedderRegistry
from tests.kb_service.client.stack import Stack, live_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, embedders: EmbedderRegistry) -> Iterator[Stack]:
    with live_stack(tmp_path_factory.mktemp("cli-stack"), embedders) as running:
        yield running
