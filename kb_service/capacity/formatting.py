"""How GU figures read in the portal: "1,521 / 1.6k"."""

from __future__ import annotations


def compact(value: float) -> str:
    """1600 -> "1.6k", 100 -> "100", 2_500_000 -> "2.5M"; one decimal, dropped when it is zero."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            scaled = round(value / limit, 1)
            text = f"{scaled:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return f"{round(value):,}"


def used_of_allocation(used: float, allocation: float) -> str:
    return f"{round(used):,} / {compact(allocation)}"
