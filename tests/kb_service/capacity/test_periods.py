"""Bundle-month arithmetic: activation day, short months, leap years, and the figures' format."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from kb_service.capacity.formatting import compact, used_of_allocation
from kb_service.capacity.periods import BundleMonth, add_months, bundle_month, clamping_note


@pytest.mark.parametrize(
    ("activated", "today", "expected"),
    [
        (date(2026, 1, 15), date(2026, 1, 15), BundleMonth(date(2026, 1, 15), date(2026, 2, 15))),
        (date(2026, 1, 15), date(2026, 2, 14), BundleMonth(date(2026, 1, 15), date(2026, 2, 15))),
        (date(2026, 1, 15), date(2026, 2, 15), BundleMonth(date(2026, 2, 15), date(2026, 3, 15))),
        (date(2026, 11, 20), date(2027, 1, 5), BundleMonth(date(2026, 12, 20), date(2027, 1, 20))),
        # The 31st: February clamps to its last day, March is back on the 31st.
        (date(2026, 1, 31), date(2026, 2, 27), BundleMonth(date(2026, 1, 31), date(2026, 2, 28))),
        (date(2026, 1, 31), date(2026, 2, 28), BundleMonth(date(2026, 2, 28), date(2026, 3, 31))),
        (date(2026, 1, 31), date(2026, 4, 30), BundleMonth(date(2026, 4, 30), date(2026, 5, 31))),
        # Leap years: 29 February exists in 2028, not in 2027.
        (date(2028, 1, 30), date(2028, 2, 29), BundleMonth(date(2028, 2, 29), date(2028, 3, 30))),
        (date(2028, 2, 29), date(2029, 2, 28), BundleMonth(date(2029, 2, 28), date(2029, 3, 29))),
        (date(2027, 1, 29), date(2027, 2, 28), BundleMonth(date(2027, 2, 28), date(2027, 3, 29))),
    ],
)
def test_bundle_month_runs_from_the_activation_day(
    activated: date, today: date, expected: BundleMonth
) -> None:
    assert bundle_month(activated, today) == expected


def test_consecutive_bundle_months_tile_the_calendar() -> None:
    activated = date(2028, 1, 31)
    day, seen = activated, []
    while day < date(2029, 3, 1):
        period = bundle_month(activated, day)
        seen.append(period)
        day = period.end
    assert all(a.end == b.start for a, b in itertools.pairwise(seen))
    assert [p.start.day for p in seen[:4]] == [31, 29, 31, 30]


def test_a_day_before_activation_belongs_to_the_first_bundle_month() -> None:
    assert bundle_month(date(2026, 3, 10), date(2026, 3, 1)).start == date(2026, 3, 10)


def test_add_months_clamps_to_the_month_length() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 31), 2) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_clamping_is_explained_only_for_days_after_the_28th() -> None:
    assert clamping_note(date(2026, 1, 28)) is None
    note = clamping_note(date(2026, 1, 30))
    assert note is not None and "day 30" in note and "last day" in note


@pytest.mark.parametrize(
    ("value", "text"),
    [(1600, "1.6k"), (100, "100"), (1000, "1k"), (12_550, "12.6k"), (2_500_000, "2.5M"), (999, "999")],
)
def test_compact_numbers(value: float, text: str) -> None:
    assert compact(value) == text


def test_used_of_allocation_reads_like_the_portal() -> None:
    assert used_of_allocation(1521.4, 1600) == "1,521 / 1.6k"
