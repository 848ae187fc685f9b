"""What every store applies alike, so they answer alike: the metadata edit of `update_metadata` and
the reciprocal rank fusion of a hybrid search's two legs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kb_service.vectorstores.base import Leg, SearchQuery, VectorStoreError


@dataclass(frozen=True, slots=True)
class MetadataUpdate:
    """`update_metadata`'s edit, validated: the new map is `replace` (or the chunk's own), then `set`
    applied, then `remove`d keys dropped."""

    set: Mapping[str, str]
    remove: tuple[str, ...]
    replace: Mapping[str, str] | None

    def apply(self, metadata: Mapping[str, str]) -> dict[str, str]:
        updated = dict(self.replace if self.replace is not None else metadata)
        updated.update(self.set)
        for key in self.remove:
            updated.pop(key, None)
        return updated


def metadata_update(
    set: Mapping[str, str], remove: Sequence[str], replace: Mapping[str, str] | None
) -> MetadataUpdate:
    """Validate an edit; VectorStoreError for a key both set and removed, or a non-string value."""
    both = sorted(frozenset(set) & frozenset(remove))
    if both:
        raise VectorStoreError(f"metadata keys cannot be both set and removed: {', '.join(both)}")
    for mapping in (set, replace or {}):
        for key, value in mapping.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise VectorStoreError(f"metadata keys and values are strings, not {key!r}: {value!r}")
    return MetadataUpdate(dict(set), tuple(dict.fromkeys(remove)), None if replace is None else dict(replace))


def fuse(
    query: SearchQuery, vector_ranked: Sequence[str], keyword_ranked: Sequence[str]
) -> list[tuple[str, float, int | None, int | None]]:
    """Reciprocal rank fusion of two ranked id lists: (id, score, vector rank, keyword rank), best
    first; equal scores are ordered by id, so every store ranks the same legs the same way."""
    vector_ranks = {chunk_id: rank for rank, chunk_id in enumerate(vector_ranked, 1)}
    keyword_ranks = {chunk_id: rank for rank, chunk_id in enumerate(keyword_ranked, 1)}
    weight = query.vector_weight
    fused = []
    for chunk_id in dict.fromkeys([*vector_ranked, *keyword_ranked]):
        v, kw = vector_ranks.get(chunk_id), keyword_ranks.get(chunk_id)
        score = (weight / (query.rrf_k + v) if v is not None else 0.0) + (
            (1.0 - weight) / (query.rrf_k + kw) if kw is not None else 0.0
        )
        fused.append((chunk_id, score, v, kw))
    fused.sort(key=lambda item: (-item[1], item[0]))
    return fused


def legs_of(vector_rank: int | None, keyword_rank: int | None) -> frozenset[Leg]:
    found: list[Leg] = []
    if vector_rank is not None:
        found.append("vector")
    if keyword_rank is not None:
        found.append("keyword")
    return frozenset(found)
