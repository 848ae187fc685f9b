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


def used_figure(used: float) -> str:
    """GU used, meaningful when small: 0.4 -> "0.4", 0.004 -> "<0.01", 1521.4 -> "1,521"."""
    if used <= 0:
        return "0"
    if used < 0.01:
        return "<0.01"
    if used < 10:
        return f"{used:.2f}".rstrip("0").rstrip(".")
    return f"{round(used):,}"


def used_of_allocation(used: float, allocation: float) -> str:
    """ "1,521 / 1.6k"; small usage keeps its decimals ("0.4 / 1k", never "0 / 1k")."""
    return f"{used_figure(used)} / {compact(allocation)}"
