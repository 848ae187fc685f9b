"""Bundle months: consumption periods from the activation day of one month to the same day of the
next, not calendar months.

Each period start is computed from the activation date itself (never chained from the previous
period), so a resource activated on 31 January refills on 28 (or 29) February and again on 31 March.
When the activation day does not exist in a month it is clamped to that month's last day.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class BundleMonth:
    start: date
    # Exclusive: the refill date, when the next bundle month starts.
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def add_months(anchor: date, months: int, day: int | None = None) -> date:
    """`anchor` moved by `months`, on `day` (default: anchor's day) clamped to the month's length."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day or anchor.day, last))


def bundle_month(activated_on: date, today: date) -> BundleMonth:
    """The bundle month containing `today` (the first one if `today` is before activation)."""
    months = (today.year - activated_on.year) * 12 + today.month - activated_on.month
    if add_months(activated_on, months) > today:
        months -= 1
    months = max(months, 0)
    return BundleMonth(add_months(activated_on, months), add_months(activated_on, months + 1))


def clamping_note(activated_on: date) -> str | None:
    """Said to users whose activation day is missing from some months (29-31)."""
    if activated_on.day <= 28:
        return None
    return (
        f"Bundle months start on day {activated_on.day}; in months without that day they start on "
        "the month's last day."
    )
