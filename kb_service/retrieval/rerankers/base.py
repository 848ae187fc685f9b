"""The reranker port: score candidate texts against a query with a cross-encoder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class RerankUsage:
    """What the provider billed for one rerank: metering records these API calls and search units."""

    model_id: str
    api_calls: int
    search_units: int


@dataclass(frozen=True, slots=True)
class Reranked:
    # scores[i] is the relevance of texts[i] to the query (higher is better), in input order.
    scores: tuple[float, ...]
    usage: RerankUsage


class RerankerError(Exception):
    """Reranking failed for good (bad key, bad input); retrying will not help."""


class TransientRerankerError(RerankerError):
    """Rate limit, timeout or server error that outlasted the reranker's own retries."""


@runtime_checkable
class Reranker(Protocol):
    @property
    def model_id(self) -> str: ...

    def rerank(self, query: str, texts: Sequence[str]) -> Reranked:
        """One relevance score per text, in the order given."""


@cache
def _rates() -> dict[str, float]:
    raw = json.loads(resources.files(__package__).joinpath("rates.json").read_text("utf-8"))
    return {model_id: float(entry["gu_per_search_unit"]) for model_id, entry in raw["models"].items()}


def rerank_genai_units(model_id: str, search_units: int) -> float:
    """GU for these search units at the model's rate (rates.json, data not code)."""
    try:
        rate = _rates()[model_id]
    except KeyError:
        raise LookupError(f"no GU rate for reranker {model_id!r} in rates.json") from None
    return search_units * rate
