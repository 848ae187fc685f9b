"""The README's sections and `docs/*.md`, served in the portal as HTML (`/portal/docs/...`).

Rendered with markdown-it-py (CommonMark plus tables) with raw HTML off, so a document's `<script>`
is text, and markdown-it's own link check drops `javascript:` and similar URLs. A section is a `##`
heading of README.md with everything up to the next one; `docs/<name>.md` is one page each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from markdown_it import MarkdownIt

from kb_service.deps import UnitOfWorkRoute
from kb_service.errors import NotFound
from kb_service.portal.web import PREFIX, PageDep

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)

REPO = Path(__file__).resolve().parents[2]
_SLUG = re.compile(r"[^a-z0-9]+")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True, slots=True)
class Section:
    slug: str
    title: str
    markdown: str

    @property
    def href(self) -> str:
        return f"{PREFIX}/docs/{self.slug}"

    def html(self, slugs: frozenset[str] = frozenset()) -> str:
        """The section as HTML; links to another section (`#running-the-tests`, `docs/retrieval.md`)
        point at its page here when `slugs` has it."""
        tokens = _MARKDOWN.parse(self.markdown)
        for token in tokens:
            for child in token.children or []:
                href = child.attrGet("href") if child.type == "link_open" else None
                if isinstance(href, str) and (target := _section_of(href)) in slugs:
                    child.attrSet("href", f"{PREFIX}/docs/{target}")
        return str(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


def _section_of(href: str) -> str | None:
    if href.startswith("#"):
        return href[1:]
    if href.startswith("docs/") and href.endswith(".md"):
        return f"doc-{slug_of(href[5:-3])}"
    return None


def slug_of(title: str) -> str:
    return _SLUG.sub("-", title.lower()).strip("-")


def readme_sections(text: str) -> list[Section]:
    """The `##` sections of a README (code blocks' `#` comments are not headings)."""
    sections: list[Section] = []
    title: str | None = None
    lines: list[str] = []
    fenced = False
    for line in [*text.splitlines(), "## "]:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if title:
                sections.append(Section(slug_of(title), title, "\n".join(lines)))
            title, lines = line[3:].strip(), [f"# {line[3:].strip()}"]
        elif title is not None:
            lines.append(line)
    return sections


def all_sections(repo: Path = REPO) -> list[Section]:
    readme = repo / "README.md"
    found = readme_sections(readme.read_text("utf-8")) if readme.is_file() else []
    for path in sorted((repo / "docs").glob("*.md")):
        text = path.read_text("utf-8")
        first = next((line for line in text.splitlines() if line.startswith("# ")), f"# {path.stem}")
        found.append(Section(f"doc-{slug_of(path.stem)}", first[2:].strip(), text))
    return found


@router.get("/docs")
def docs_index(page: PageDep) -> HTMLResponse:
    return page.render("docs.html", {"sections": all_sections(), "current": None, "slugs": frozenset()})


@router.get("/docs/{slug}")
def docs_section(page: PageDep, slug: str) -> HTMLResponse:
    sections = all_sections()
    current = next((s for s in sections if s.slug == slug), None)
    if current is None:
        raise NotFound(f"No documentation section {slug!r}.")
    slugs = frozenset(s.slug for s in sections)
    return page.render("docs.html", {"sections": sections, "current": current, "slugs": slugs})
