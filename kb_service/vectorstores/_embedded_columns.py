"""Dictionary-encoded string columns of the embedded store's in-memory index (`_embedded_index`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from kb_service.vectorstores.base import as_date, as_number

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

ABSENT = -1


class Column:
    """A dictionary-encoded string column: int32 codes per row, -1 where absent."""

    __slots__ = ("_dates", "_lookup", "_numbers", "_ranks", "codes", "values")

    def __init__(self, capacity: int) -> None:
        self.codes: npt.NDArray[np.int32] = np.full(capacity, ABSENT, dtype=np.int32)
        self.values: list[str] = []
        self._lookup: dict[str, int] = {}
        self._numbers: npt.NDArray[np.float64] | None = None
        self._dates: npt.NDArray[np.float64] | None = None
        self._ranks: IntArray | None = None

    def code(self, value: str) -> int:
        return self._lookup.get(value, ABSENT)

    def encode(self, value: str) -> int:
        code = self._lookup.get(value)
        if code is None:
            code = len(self.values)
            self._lookup[value] = code
            self.values.append(value)
        return code

    def encode_into(self, start: int, values: Sequence[str | None]) -> None:
        lookup = self._lookup
        codes = [ABSENT if value is None else lookup.get(value, ABSENT - 1) for value in values]
        if ABSENT - 1 in codes:  # values not seen before: rare once a column has filled up
            codes = [ABSENT if value is None else self.encode(value) for value in values]
        self.codes[start : start + len(values)] = codes

    def adopt(self, values: list[str], codes: npt.NDArray[np.int32]) -> None:
        """Take a snapshot's distinct values and codes (the column's capacity is already reserved)."""
        self.values = values
        self._lookup = {value: code for code, value in enumerate(values)}
        self.codes[: codes.size] = codes

    def grow(self, capacity: int) -> None:
        codes = np.full(capacity, ABSENT, dtype=np.int32)
        codes[: len(self.codes)] = self.codes
        self.codes = codes

    def select(self, table: BoolArray, size: int) -> BoolArray:
        """Rows whose value passes `table` (one entry per distinct value, then False for absent):
        code -1 indexes that last entry."""
        return table[self.codes[:size]]

    def table(self, predicate: Callable[[str], bool]) -> BoolArray:
        return np.fromiter(
            (predicate(value) for value in self.values), dtype=np.bool_, count=len(self.values)
        )

    def numbers(self) -> npt.NDArray[np.float64]:
        """`as_number` of every distinct value (NaN when not a number), computed once per value."""
        self._numbers = _extend(self._numbers, self.values, as_number)
        return self._numbers

    def dates(self) -> npt.NDArray[np.float64]:
        self._dates = _extend(self._dates, self.values, as_date)
        return self._dates

    def ranks(self) -> IntArray:
        """Each value's rank in sorted order (code-point order, which is UTF-8 byte order)."""
        if self._ranks is None or len(self._ranks) != len(self.values):
            order = sorted(range(len(self.values)), key=self.values.__getitem__)
            ranks = np.empty(len(self.values), dtype=np.int64)
            ranks[order] = np.arange(len(self.values), dtype=np.int64)
            self._ranks = ranks
        return self._ranks


def _extend(
    cached: npt.NDArray[np.float64] | None, values: list[str], read: Callable[[str], float | None]
) -> npt.NDArray[np.float64]:
    done = 0 if cached is None else len(cached)
    if cached is not None and done == len(values):
        return cached
    fresh = np.array([_nan_if_none(read(value)) for value in values[done:]], dtype=np.float64)
    return fresh if cached is None else np.concatenate([cached, fresh])


def _nan_if_none(number: float | None) -> float:
    return math.nan if number is None else number


def with_absent(table: BoolArray) -> BoolArray:
    """Append the False entry that code -1 (absent) selects."""
    return np.append(table, False)
