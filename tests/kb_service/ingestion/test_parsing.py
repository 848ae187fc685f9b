from __future__ import annotations

import codecs
import pickle
import random
import unicodedata
from collections.abc import Callable

import pytest

from kb_service.ingestion.parsing import ParsedDocument, ParseError, detect_kind, parse_document
from tests.kb_service.ingestion.conftest import MANIFEST_PAGES_COUNTED, ParseOutcome, PdfCase

ParseShared = Callable[[str, str | None], ParseOutcome]

PDF_HEAD = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
ALLOWED_CODES = {"encrypted", "wrong_password", "no_text", "corrupt", "encoding"}


def make_pdf(pages: list[list[str]], *, broken_pages: frozenset[int] = frozenset()) -> bytes:
    """A small valid PDF with one Helvetica text line per entry; pages in `broken_pages` (0-based) get a
    content stream with an unknown filter, which makes pypdf raise when extracting that page."""
    objects: list[bytes] = [
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    ]
    contents: list[int] = []
    for index, lines in enumerate(pages):
        operators = [b"BT /F1 12 Tf 72 720 Td 14 TL"]
        for line in lines:
            escaped = (
                line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
            )
            operators.append(b"(" + escaped + b") Tj T*")
        operators.append(b"ET")
        stream = b"\n".join(operators)
        extra = b" /Filter /NoSuchFilter" if index in broken_pages else b""
        objects.append(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), extra, stream))
        contents.append(len(objects))
    pages_id = len(objects) + len(pages) + 1
    kids = []
    for content in contents:
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 1 0 R >> >> "
            b"/Contents %d 0 R >>" % (pages_id, content)
        )
        kids.append(b"%d 0 R" % len(objects))
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids)))
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(PDF_HEAD)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(objects),
        xref,
    )
    return bytes(out)


def random_bytes(seed: int, size: int, *, lowest: int = 0) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(lowest, 256) for _ in range(size))


def parse_error(data: bytes, kind: str, password: str | None = None) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_document(data, kind, password=password)  # type: ignore[arg-type]
    return caught.value


def assert_normalised(document: ParsedDocument) -> None:
    for page in document.pages:
        text = page.text
        assert text == text.strip()
        assert unicodedata.is_normalized("NFC", text)
        assert not [ch for ch in text if unicodedata.category(ch) in {"Cc", "Cs"} and ch != "\n"]
        assert "\n\n\n" not in text
        assert not [line for line in text.split("\n") if line != line.rstrip()]


# --- every shared PDF ------------------------------------------------------------------------------


def test_shared_pdf_parses_or_fails_as_its_manifest_predicts(
    pdf_case: PdfCase, parse_shared_pdf: ParseShared
) -> None:
    outcome = parse_shared_pdf(pdf_case.file, None)

    if pdf_case.needs_password:
        assert isinstance(outcome, ParseError)
        assert outcome.code == "encrypted"
        assert "password" in str(outcome)
    elif pdf_case.chars_first_pages == 0:
        assert isinstance(outcome, ParseError)
        assert outcome.code == "no_text"
        assert "no extractable text" in str(outcome)
    else:
        assert isinstance(outcome, ParsedDocument), outcome
        assert outcome.kind == "pdf"
        assert outcome.encoding is None
        assert outcome.page_count == pdf_case.pages
        assert [page.number for page in outcome.pages] == list(range(1, outcome.page_count + 1))
        assert_normalised(outcome)
        # Normalisation only removes layout whitespace and expands ligatures: the text itself survives.
        assert pdf_case.chars_first_pages is not None
        chars = sum(len(page.text) for page in outcome.pages[:MANIFEST_PAGES_COUNTED])
        assert 0.85 * pdf_case.chars_first_pages <= chars <= 1.05 * pdf_case.chars_first_pages


def test_locked_pdf_opens_with_its_password(locked_pdf_case: PdfCase, parse_shared_pdf: ParseShared) -> None:
    outcome = parse_shared_pdf(locked_pdf_case.file, locked_pdf_case.password)

    assert isinstance(outcome, ParsedDocument), outcome
    assert outcome.page_count >= 1
    assert any(page.text for page in outcome.pages)
    assert_normalised(outcome)


def test_locked_pdf_refuses_a_wrong_password(locked_pdf_case: PdfCase, parse_shared_pdf: ParseShared) -> None:
    outcome = parse_shared_pdf(locked_pdf_case.file, "not-the-password")

    assert isinstance(outcome, ParseError)
    assert outcome.code == "wrong_password"
    assert str(outcome) == "The password does not open this PDF."


def test_aes256_pdf_text_is_readable_with_password(parse_shared_pdf: ParseShared) -> None:
    outcome = parse_shared_pdf("pypdf-crazyones-encrypted-256.pdf", "password")

    assert isinstance(outcome, ParsedDocument)
    assert "The Crazy Ones" in outcome.pages[0].text


def test_owner_password_only_pdf_opens_without_a_password(parse_shared_pdf: ParseShared) -> None:
    outcome = parse_shared_pdf("pypdf-encryption-r2-owner-password.pdf", None)

    assert isinstance(outcome, ParsedDocument)
    assert "pdf encryption test" in outcome.pages[0].text


def test_password_is_ignored_when_the_pdf_needs_none(parse_shared_pdf: ParseShared) -> None:
    with_password = parse_shared_pdf("sf-minimal-document.pdf", "unneeded")

    assert with_password == parse_shared_pdf("sf-minimal-document.pdf", None)
    assert isinstance(with_password, ParsedDocument)


def test_pages_keep_their_numbers_and_their_own_text(parse_shared_pdf: ParseShared) -> None:
    document = parse_shared_pdf("sf-pdflatex-4-pages.pdf", None)

    assert isinstance(document, ParsedDocument)
    assert [page.number for page in document.pages] == [1, 2, 3, 4]
    openings = [
        "Hello, here is some text",
        "information. Really?",
        "you information about",
        "in of the original",
    ]
    for page, opening in zip(document.pages, openings, strict=True):
        assert page.text.startswith(opening)
        # pdfLaTeX prints the page number as the last line of each page.
        assert page.text.rsplit("\n", 1)[-1] == str(page.number)


def test_text_in_many_scripts_survives(parse_shared_pdf: ParseShared) -> None:
    document = parse_shared_pdf("pypdf-multilang.pdf", None)

    assert isinstance(document, ParsedDocument)
    for phrase in ["Hello World", "مرحبا بالعالم", "Привет, мир", "你好世界", "สวัสดีชาวโลก", "こんにちは世界"]:
        assert phrase in document.pages[0].text


def test_ligatures_are_expanded(parse_shared_pdf: ParseShared) -> None:
    document = parse_shared_pdf("sf-crazyones-pdfa.pdf", None)

    assert isinstance(document, ParsedDocument)
    assert "misfits" in document.pages[0].text
    assert not any("\ufb00" <= ch <= "\ufb06" for ch in document.pages[0].text)


def test_layout_spaces_collapse_and_hyphenated_line_breaks_join(parse_shared_pdf: ParseShared) -> None:
    document = parse_shared_pdf("pypdf-Seige_of_Vicksburg_Sample_OCR.pdf", None)

    assert isinstance(document, ParsedDocument)
    text = "\n".join(page.text for page in document.pages)
    assert "THE SIEGE OF" in text  # "THE   SIEGE   OF" in the raw extraction
    assert "  " not in text
    assert "These shells are visitors" in text  # "vis- \nitors"
    assert "However, they are rather rare" in text  # "How- \never,"


# --- generated PDFs: normalisation and damaged files ------------------------------------------------


def test_hyphen_at_line_end_joins_words_but_keeps_real_compounds() -> None:
    data = make_pdf(
        [["A well-known exam-", "ple of hyphen-", "ation in a well-", "known text by Meyer-", "Schmidt."]]
    )

    text = parse_document(data, "pdf").pages[0].text

    assert text == "A well-known example of hyphenation in a well-known text by Meyer-\nSchmidt."


def test_unreadable_page_is_skipped_and_the_rest_is_kept() -> None:
    data = make_pdf([["First page."], ["Second page."], ["Third page."]], broken_pages=frozenset({1}))

    document = parse_document(data, "pdf")

    assert document.page_count == 3
    assert [(page.number, page.text) for page in document.pages] == [
        (1, "First page."),
        (2, ""),
        (3, "Third page."),
    ]


def test_pdf_whose_every_page_is_unreadable_has_no_text() -> None:
    data = make_pdf([["One."], ["Two."]], broken_pages=frozenset({0, 1}))

    assert parse_error(data, "pdf").code == "no_text"


def test_pdf_of_blank_pages_has_no_text() -> None:
    assert parse_error(make_pdf([[], ["   "]]), "pdf").code == "no_text"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(PDF_HEAD, id="header-only"),
        pytest.param(PDF_HEAD + b"<html><body>not a pdf</body></html>", id="html-after-header"),
        pytest.param(PDF_HEAD + random_bytes(3, 4000), id="noise"),
        pytest.param(make_pdf([["Some text."]])[:300], id="truncated"),
    ],
)
def test_damaged_pdf_is_reported_as_corrupt_in_one_short_sentence(data: bytes) -> None:
    error = parse_error(data, "pdf")

    assert error.code == "corrupt"
    message = str(error)
    assert message.startswith("The PDF could not be read: ")
    assert message.endswith(".")
    assert len(message) < 200
    assert "\n" not in message
    assert "b'" not in message


def test_randomly_damaged_pdfs_never_raise_anything_but_parse_error(read_pdf: Callable[[str], bytes]) -> None:
    original = read_pdf("sf-minimal-document.pdf")
    rng = random.Random(20240611)
    codes: set[str] = set()
    messages: set[str] = set()
    for _ in range(40):
        mutated = bytearray(original)
        for _ in range(rng.randrange(1, 60)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            document = parse_document(bytes(mutated), "pdf")
        except ParseError as exc:
            codes.add(exc.code)
            messages.add(str(exc))
        else:
            assert_normalised(document)
            codes.add("ok")
    assert codes <= ALLOWED_CODES | {"ok"}
    assert "corrupt" in codes
    assert all("\n" not in message and "b'" not in message for message in messages)


def test_parse_error_keeps_its_code_across_processes() -> None:
    error = ParseError("wrong_password", "The password does not open this PDF.")

    copy = pickle.loads(pickle.dumps(error))

    assert (type(copy), copy.code, str(copy)) == (ParseError, "wrong_password", str(error))


# --- TXT ---------------------------------------------------------------------------------------------

SAMPLE = "Grüße aus Zürich – “quoted” text, 5 €.\nSecond line: naïve façade."


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        pytest.param(SAMPLE.encode("utf-8"), "utf-8", id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + SAMPLE.encode("utf-8"), "utf-8-sig", id="utf-8-bom"),
        pytest.param(SAMPLE.encode("utf-16"), "utf-16", id="utf-16-bom-native"),
        pytest.param(codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"), "utf-16", id="utf-16-be-bom"),
        pytest.param(codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"), "utf-16", id="utf-16-le-bom"),
        pytest.param(SAMPLE.encode("utf-32"), "utf-32", id="utf-32-bom"),
        pytest.param(SAMPLE.encode("cp1252"), "cp1252", id="cp1252"),
    ],
)
def test_text_file_is_decoded(data: bytes, encoding: str) -> None:
    document = parse_document(data, "txt")

    assert document.kind == "txt"
    assert document.encoding == encoding
    assert document.page_count == 1
    assert [(page.number, page.text) for page in document.pages] == [(None, SAMPLE)]


def test_latin1_text_is_detected() -> None:
    text = "Le café était très bon. Nous avons mangé une crème brûlée à côté de la fenêtre.\n"

    document = parse_document(text.encode("latin-1"), "txt")

    assert document.pages[0].text == text.strip()
    assert document.encoding == "cp1252"


def test_cyrillic_legacy_text_is_detected() -> None:
    text = "Привет, мир! Это тестовый документ на русском языке, записанный в старой кодировке."

    document = parse_document(text.encode("cp1251"), "txt")

    assert document.pages[0].text == text
    assert document.encoding == "cp1251"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(random_bytes(1, 4096), id="random-bytes"),
        pytest.param(random_bytes(2, 4096, lowest=1), id="random-bytes-no-nul"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, id="png-like"),
        pytest.param("hello".encode("utf-16-le") + b"\xff", id="utf-16-without-bom"),
        pytest.param(codecs.BOM_UTF8 + b"ok \xff\xfe broken", id="bom-but-invalid-utf-8"),
    ],
)
def test_binary_or_undecodable_text_file_is_refused(data: bytes) -> None:
    error = parse_error(data, "txt")

    assert error.code == "encoding"
    assert str(error) == "The text file is not UTF-8 and its encoding could not be detected."


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b" \n\t\r\n  ", id="whitespace"),
        pytest.param(codecs.BOM_UTF8, id="bom-only"),
        pytest.param("  \n\n ".encode("utf-16"), id="utf-16-whitespace"),
        pytest.param(b"\x00\x01\x02 \n", id="control-characters-only"),
    ],
)
def test_text_file_without_text_is_refused(data: bytes) -> None:
    error = parse_error(data, "txt")

    assert error.code == "no_text"
    assert "contains no text" in str(error)


def test_text_file_newlines_and_blank_lines_are_normalised_but_indentation_kept() -> None:
    data = b"Title\r\n\r\n\r\n\r\n    indented code  \rnext\x00line\n\n\nend\n"

    text = parse_document(data, "txt").pages[0].text

    assert text == "Title\n\n    indented code\nnextline\n\nend"


def test_text_file_is_nfc_normalised() -> None:
    decomposed = "Cafe\u0301 cre\u0300me"

    text = parse_document(decomposed.encode("utf-8"), "txt").pages[0].text

    assert text == "Café crème"
    assert unicodedata.is_normalized("NFC", text)


# --- detect_kind -------------------------------------------------------------------------------------

PDF_BYTES = PDF_HEAD + b"1 0 obj\n<< >>\nendobj\n"


@pytest.mark.parametrize(
    ("filename", "content_type", "head", "expected"),
    [
        pytest.param("report.pdf", "application/pdf", PDF_BYTES, "pdf", id="pdf"),
        pytest.param("REPORT.PDF", None, PDF_BYTES, "pdf", id="pdf-upper-case-no-type"),
        pytest.param("report.pdf", "application/octet-stream", PDF_BYTES, "pdf", id="pdf-untyped"),
        pytest.param("report.pdf", "text/plain", PDF_BYTES, "pdf", id="pdf-mistyped"),
        pytest.param(r"C:\Users\me\report.pdf", "application/pdf", PDF_BYTES, "pdf", id="pdf-windows-path"),
        pytest.param("report.pdf", "application/pdf", b"junk\r\n" + PDF_BYTES, "pdf", id="pdf-junk-before"),
        pytest.param("report.pdf", "application/pdf", b"<html>oops</html>", None, id="pdf-without-magic"),
        pytest.param("report.pdf", "application/pdf", b"", None, id="pdf-empty"),
        pytest.param("scan", "application/pdf", PDF_BYTES, "pdf", id="no-extension-pdf-type"),
        pytest.param("scan", "application/octet-stream", PDF_BYTES, "pdf", id="no-extension-untyped-pdf"),
        pytest.param("scan", None, PDF_BYTES, "pdf", id="no-extension-no-type-pdf"),
        pytest.param("scan", "application/pdf", b"hello", None, id="no-extension-pdf-type-no-magic"),
        pytest.param("notes.txt", "text/plain", b"hello\n", "txt", id="txt"),
        pytest.param("Notes.TXT", None, b"hello\n", "txt", id="txt-upper-case-no-type"),
        pytest.param("notes.txt", "application/octet-stream", b"hello\n", "txt", id="txt-untyped"),
        pytest.param("notes.txt", "text/plain", b"", "txt", id="txt-empty"),
        pytest.param("notes.txt", "text/plain", "hi".encode("utf-16"), "txt", id="txt-utf-16-bom"),
        pytest.param("notes.txt", "text/plain", "hi".encode("utf-32"), "txt", id="txt-utf-32-bom"),
        pytest.param("notes.txt", "text/plain", b"abc\x00\x01\x02", None, id="txt-with-nul"),
        pytest.param("notes.txt", "text/plain", PDF_BYTES, None, id="txt-that-is-a-pdf"),
        pytest.param("notes", "text/plain", b"hello", "txt", id="no-extension-text-plain"),
        pytest.param(
            "notes", "text/plain; charset=utf-8", b"hello", "txt", id="no-extension-text-plain-charset"
        ),
        pytest.param("notes", "TEXT/PLAIN", b"hello", "txt", id="no-extension-text-plain-upper"),
        pytest.param("notes", "text/plain", b"\x00\x01", None, id="no-extension-text-plain-binary"),
        pytest.param("notes", None, b"hello", None, id="no-extension-no-type-text"),
        pytest.param("notes", "application/octet-stream", b"hello", None, id="no-extension-untyped-text"),
        pytest.param("readme.md", "text/markdown", b"# Title\n", None, id="markdown"),
        pytest.param("readme.md", "text/plain", b"# Title\n", None, id="markdown-as-text-plain"),
        pytest.param("data.csv", "text/csv", b"a,b\n", None, id="csv"),
        pytest.param("letter.docx", "application/octet-stream", b"PK\x03\x04", None, id="docx"),
        pytest.param("report.pdf.zip", "application/zip", b"PK\x03\x04", None, id="zip"),
        pytest.param("report.txt.pdf", "application/pdf", b"hello", None, id="double-extension-not-pdf"),
    ],
)
def test_detect_kind(filename: str, content_type: str | None, head: bytes, expected: str | None) -> None:
    assert detect_kind(filename, content_type, head) == expected
