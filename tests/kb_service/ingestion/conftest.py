"""The shared sample PDFs: read from the folder beside the repository, never copied into it.

`KB_TEST_PDF_DIR` overrides the location. Tests that take a `pdf_case` argument run once per file listed in
the folder's manifest.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kb_service.ingestion.parsing import ParsedDocument, ParseError, parse_document

# The manifest counted characters over the first 20 pages only.
MANIFEST_PAGES_COUNTED = 20


@dataclass(frozen=True, slots=True)
class PdfCase:
    file: str
    password: str | None  # the user password, when one is needed to open it
    encrypted: bool
    pages: int | None  # None when pypdf could not open it without a password
    chars_first_pages: int | None  # pypdf's raw count over the first 20 pages, without a password

    @property
    def needs_password(self) -> bool:
        return self.encrypted and bool(self.password)


def pdf_dir() -> Path:
    override = os.environ.get("KB_TEST_PDF_DIR")
    if override:
        return Path(override)
    # <repo>/tests/kb_service/ingestion/conftest.py; shared/ sits beside the repository.
    return Path(__file__).resolve().parents[3].parent / "shared" / "pdfs"


def load_manifest() -> list[PdfCase]:
    manifest = pdf_dir() / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing: set KB_TEST_PDF_DIR to the shared PDF folder")
    return [
        PdfCase(
            file=entry["file"],
            password=entry["password"],
            encrypted=entry["encrypted"],
            pages=entry["pages"],
            chars_first_pages=entry["chars_extracted_pypdf_no_password"],
        )
        for entry in json.loads(manifest.read_text(encoding="utf-8"))
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pdf_case" in metafunc.fixturenames:
        cases = load_manifest()
        metafunc.parametrize("pdf_case", cases, ids=[case.file for case in cases])
    if "locked_pdf_case" in metafunc.fixturenames:
        locked = [case for case in load_manifest() if case.needs_password]
        metafunc.parametrize("locked_pdf_case", locked, ids=[case.file for case in locked])


ParseOutcome = ParsedDocument | ParseError


@pytest.fixture(scope="session")
def read_pdf() -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (pdf_dir() / name).read_bytes()

    return read


@pytest.fixture(scope="session")
def parse_shared_pdf(read_pdf: Callable[[str], bytes]) -> Callable[[str, str | None], ParseOutcome]:
    """Parse a shared PDF once per session (the 117-page one takes seconds); errors are returned."""
    outcomes: dict[tuple[str, str | None], ParseOutcome] = {}

    def parse(name: str, password: str | None = None) -> ParseOutcome:
        key = (name, password)
        if key not in outcomes:
            try:
                outcomes[key] = parse_document(read_pdf(name), "pdf", password=password)
            except ParseError as exc:
                outcomes[key] = exc
        return outcomes[key]

    return parse
