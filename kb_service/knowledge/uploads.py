"""Checking what a client sends before anything is stored: file names, sizes, collection names and
metadata (pure functions; every refusal names its field)."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, BinaryIO

from kb_service.errors import InvalidInput, PayloadTooLarge
from kb_service.retrieval.filters import is_metadata_key, parse_filter
from kb_service.vectorstores.base import Filter
from schemas.knowledge import MAX_CHUNK_CHARS

MAX_NAME_CHARS = 200
MAX_METADATA_PAIRS = 50
MAX_METADATA_CHARS = 1000
# JSON from a form field or a query string (`metadata`, `filter`) is parsed within these bounds,
# checked before `json.loads`, whose recursion a 100,000-deep array exhausts (a RecursionError, a
# 500). 64 levels hold every filter `parse_filter` accepts (16 levels of and / or, two JSON levels
# each); 1M characters hold the largest valid metadata (50 pairs of 1,200 characters) even \u-escaped.
MAX_JSON_DEPTH = 64
MAX_JSON_CHARS = 1_000_000
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


# A collection's name is a path segment of its routes (`…/collections/{name}/chunks`): a slash (or a
# backslash, which some clients turn into one) would make it unreachable.
_PATH_SEPARATORS = frozenset("/\\")


def validate_collection_name(name: str) -> str:
    cleaned = unicodedata.normalize("NFC", name).strip()
    if (
        not cleaned
        or len(cleaned) > MAX_NAME_CHARS
        or any(unicodedata.category(c)[0] == "C" for c in cleaned)
    ):
        raise InvalidInput(
            f"Invalid collection name {name!r}: use 1-{MAX_NAME_CHARS} printable characters.",
            details={"field": "collection"},
        )
    if any(c in _PATH_SEPARATORS for c in cleaned) or cleaned in (".", ".."):
        raise InvalidInput(
            f"Invalid collection name {name!r}: a name cannot contain / or \\, nor be . or .. "
            "(it is part of the collection's URLs).",
            details={"field": "collection"},
        )
    return cleaned


def parse_metadata_json(raw: str | None, field: str = "metadata") -> dict[str, str]:
    if raw is None or not raw.strip():
        return {}
    value = load_json(raw, field)
    if not isinstance(value, dict):
        raise InvalidInput(f"`{field}` must be a JSON object of strings.", details={"field": field})
    validate_metadata(value, field)
    return value


def validate_metadata(value: dict[str, Any], field: str = "metadata") -> None:
    if len(value) > MAX_METADATA_PAIRS:
        raise InvalidInput(f"`{field}` has more than {MAX_METADATA_PAIRS} keys.", details={"field": field})
    for key, item in value.items():
        if not is_metadata_key(key):
            raise InvalidInput(f"`{field}` has an empty or too long key {key!r}.", details={"field": field})
        if not isinstance(item, str):
            raise InvalidInput(
                f"`{field}` value of {key!r} must be a string, got {type(item).__name__}.",
                details={"field": f"{field}.{key}"},
            )
        if len(item) > MAX_METADATA_CHARS:
            raise InvalidInput(
                f"`{field}` value of {key!r} is longer than {MAX_METADATA_CHARS} characters.",
                details={"field": f"{field}.{key}"},
            )


def validate_pushed_chunk(index: int, text: str, human_readable_id: str, metadata: dict[str, str]) -> None:
    if len(text) > MAX_CHUNK_CHARS:
        raise InvalidInput(
            f"chunks[{index}] ({human_readable_id!r}) has {len(text)} characters; "
            f"the maximum is {MAX_CHUNK_CHARS}. Split it into smaller chunks.",
            details={"field": f"chunks[{index}].text", "human_readable_id": human_readable_id},
        )
    if not text.strip():
        raise InvalidInput(
            f"chunks[{index}] ({human_readable_id!r}) has no text.",
            details={"field": f"chunks[{index}].text"},
        )
    validate_metadata(dict(metadata), f"chunks[{index}].metadata")


def parse_filter_json(raw: str | None) -> Filter | None:
    if raw is None or not raw.strip():
        return None
    return parse_filter(load_json(raw, "filter"))


def load_json(raw: str, field: str) -> Any:
    """`raw` parsed, or a 422 naming `field` when it is not JSON, too long or nested too deeply."""
    if len(raw) > MAX_JSON_CHARS:
        raise InvalidInput(
            f"`{field}` is longer than {MAX_JSON_CHARS:,} characters.", details={"field": field}
        )
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", raw)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(
                f"`{field}` is nested deeper than {MAX_JSON_DEPTH} levels.", details={"field": field}
            )
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"`{field}` is not valid JSON: {exc.msg}.", details={"field": field}) from None


def clean_filename(raw: str | None) -> str:
    # Browsers may send a path; keep the last component only.
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = unicodedata.normalize("NFC", name)
    if not name or len(name) > 500 or any(unicodedata.category(c)[0] == "C" for c in name):
        raise InvalidInput(
            "The upload needs a file name of 1-500 printable characters.", details={"field": "file"}
        )
    return name


def read_limited(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is larger than the {limit // (1024 * 1024)} MB limit.", details={"limit_bytes": limit}
        )
    return data
