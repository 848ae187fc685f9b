"""Numbers, dates and labels as the seeds show them: "1.6k", "1,521", "June 25, 2026"."""

from __future__ import annotations

from datetime import date, datetime

from kb_service.resources.service import ResourceView

RESOURCE_TYPE_LABELS = {
    "text_generation": "Text generation",
    "embeddings": "Embeddings",
    "knowledge_base": "Knowledge base",
}


def thousands(value: int | float) -> str:
    return f"{value:,.0f}"


def compact(value: int | float) -> str:
    """1600 → "1.6k", 2_500_000 → "2.5M", 950 → "950"."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return f"{text}{suffix}"
    return thousands(value)


def day(value: date | None, missing: str = "—") -> str:
    """ "June 25, 2026" (a datetime shows its UTC day); `missing` for None."""
    if value is None:
        return missing
    return f"{value:%B} {value.day}, {value.year}"


def moment(value: datetime | None, missing: str = "Never") -> str:
    """ "June 25, 2026 14:05 UTC"; `missing` for None."""
    if value is None:
        return missing
    return f"{day(value)} {value:%H:%M} UTC"


def plan_capacity(view: ResourceView, genai_units_per_month: int | None) -> str:
    r = view.resource
    parts = [r.plan] if r.plan else []
    if genai_units_per_month:
        parts.append(f"{compact(genai_units_per_month)} GU / month")
    elif r.capacity_tokens:
        parts.append(f"{thousands(r.capacity_tokens)} Cloud Tokens")
    return " · ".join(parts) or "—"
