"""Evaluating the filter language over a `VectorIndex`: one boolean per loaded row.

Value tests run once per distinct value of a column and are then gathered by row code, so their
cost does not grow with the number of rows sharing a value. A row lacking the field never matches a
positive test, hence Not(Eq(...)) matches it — the same semantics as OpenSearch's must_not.
"""

from __future__ import annotations

import numpy as np

from kb_service.vectorstores._embedded_index import BoolArray, Column, VectorIndex, with_absent
from kb_service.vectorstores.base import (
    METADATA_PREFIX,
    SYSTEM_FIELDS,
    And,
    Eq,
    Exists,
    Filter,
    In,
    Not,
    Or,
    Prefix,
    Range,
    VectorStoreError,
)


def evaluate(where: Filter, index: VectorIndex) -> BoolArray:
    """Rows of `index` (dead ones included; the caller ANDs `alive`) that match `where`."""
    size = index.size
    match where:
        case And(items):
            mask = np.ones(size, dtype=np.bool_)
            for item in items:
                mask &= evaluate(item, index)
            return mask
        case Or(items):
            mask = np.zeros(size, dtype=np.bool_)
            for item in items:
                mask |= evaluate(item, index)
            return mask
        case Not(item):
            return ~evaluate(item, index)
    column = _column(index, where)
    if column is None:
        return np.zeros(size, dtype=np.bool_)
    match where:
        case Eq(value=value):
            code = column.code(value)
            return column.codes[:size] == code if code >= 0 else np.zeros(size, dtype=np.bool_)
        case In(values=values):
            wanted = set(values)
            return column.select(with_absent(column.table(wanted.__contains__)), size)
        case Exists():
            return column.codes[:size] >= 0
        case Prefix(value=prefix):
            return column.select(with_absent(column.table(lambda value: value.startswith(prefix))), size)
        case Range():
            return column.select(with_absent(_in_range(where, column)), size)
    raise VectorStoreError(f"unknown filter {type(where).__name__}")


def _in_range(where: Range, column: Column) -> BoolArray:
    readings = column.numbers() if where.kind == "number" else column.dates()
    # NaN (not a number / not a date) fails every comparison, and `~isnan` covers an unbounded range.
    passes: BoolArray = ~np.isnan(readings)
    if where.gt is not None:
        passes &= readings > where.gt
    if where.gte is not None:
        passes &= readings >= where.gte
    if where.lt is not None:
        passes &= readings < where.lt
    if where.lte is not None:
        passes &= readings <= where.lte
    return passes


def _column(index: VectorIndex, where: Eq | In | Exists | Prefix | Range) -> Column | None:
    if where.field in SYSTEM_FIELDS:
        return index.system[where.field]
    return index.metadata.get(where.field.removeprefix(METADATA_PREFIX))
