"""Turning an uploaded file into normalised text, page by page — pure functions, no I/O beyond the bytes.

Two kinds are supported, PDF and plain text; everything else is refused before any work is queued
(`detect_kind` -> None, which the API answers with 415).

Every failure a user can cause or fix surfaces as `ParseError` with a stable `code` and an end-user sentence
as its message; nothing else escapes `parse_document` for a PDF, because pypdf raises a wide and changing
range of exception types on damaged files. Page text is normalised the same way for every page so that
chunk ids (derived from chunk positions) are stable across re-runs.
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import charset_normalizer
import structlog
from pypdf import PasswordType, PdfReader, get_configuration
from pypdf.errors import EmptyFileError, LimitReachedError, PyPdfError

log = structlog.get_logger(__name__)

DocumentKind = Literal["pdf", "txt"]
ParseErrorCode = Literal["encrypted", "wrong_password", "no_text", "corrupt", "encoding", "too_large"]

# Acrobat accepts the header anywhere in the first 1024 bytes (some generators prepend junk).
_PDF_MAGIC = b"%PDF-"
_PDF_HEADER_WINDOW = 1024
_PDF_MEDIA_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_UNTYPED_MEDIA_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})

# Longest checked first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Without a BOM, UTF-16/32 cannot be told apart from binary; charset-normalizer sometimes "finds" them in
# a few Latin-1 bytes, so such guesses are never accepted.
_UNACCEPTED_GUESSES = ("utf_16", "utf_32")
# A guess this close to the best one counts as a tie; ties go to cp1252, by far the most common legacy
# encoding of Western text files (charset-normalizer otherwise often picks cp1250 for French or German).
_TIE_CHAOS = 0.01
_TIE_COHERENCE = 0.05
_PREFERRED_LEGACY = "cp1252"

_REASON_MAX_CHARS = 120
_REASON_DETAIL_MARKERS = (": ", " @", " b'", ' b"')

_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_LINE_BREAKS = str.maketrans(
    {"\r": "\n", "\x0b": "\n", "\x0c": "\n\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n\n"}
)
# C0/C1 controls except tab and newline, the BOM and lone surrogates (they cannot be stored as UTF-8).
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff\ud800-\udfff]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)
_EXCESS_BLANK_LINES = re.compile(r"\n{3,}")
# A word broken at the end of a line: letters, a hyphen (or soft hyphen), newline, letters.
_LINE_END_HYPHEN = re.compile(r"([^\W\d_]+)[-\u2010\u00ad]\n([^\W\d_]+)")
_INLINE_COMPOUND = re.compile(r"[^\W\d_]+-[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class PageText:
    number: int | None  # 1-based PDF page number; None for TXT
    text: str


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    kind: DocumentKind
    pages: list[PageText]  # every page, in order; a page without text has text ""
    page_count: int  # PDF: number of pages; TXT: 1
    encoding: str | None  # TXT: the codec used to decode it; PDF: None


class ParseError(Exception):
    """A file that cannot be turned into text; `str(exc)` is a sentence for the person who uploaded it."""

    def __init__(self, code: ParseErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ParseErrorCode = code

    def __reduce__(self) -> tuple[type[ParseError], tuple[ParseErrorCode, str]]:
        # Keeps the code when the error crosses a process boundary (Celery result backends pickle it).
        return (type(self), (self.code, str(self)))


def detect_kind(filename: str, content_type: str | None, head: bytes) -> DocumentKind | None:
    """Decide whether an upload is a PDF, a plain-text file, or unsupported (None).

    The extension and the bytes decide; the declared media type only matters when the name has no
    extension, because browsers and HTTP clients routinely declare `application/octet-stream` or guess
    from the extension themselves. Accepted: `.pdf` starting with the `%PDF-` magic; `.txt` whose head
    looks like text (no NUL bytes unless it starts with a UTF-16/32 byte-order mark, and not a PDF); with no
    extension, `application/pdf` or an untyped upload with the PDF magic, or `text/plain` that looks like
    text. Other extensions (.md, .csv, .docx, ...) are refused: the product supports PDF and TXT only.
    """
    extension = _extension(filename)
    is_pdf = _PDF_MAGIC in head[:_PDF_HEADER_WINDOW]
    if extension == "pdf":
        return "pdf" if is_pdf else None
    if extension == "txt":
        return "txt" if _looks_like_text(head) else None
    if extension:
        return None
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _PDF_MEDIA_TYPES or media_type in _UNTYPED_MEDIA_TYPES:
        return "pdf" if is_pdf else None
    if media_type == "text/plain":
        return "txt" if _looks_like_text(head) else None
    return None


def parse_document(data: bytes, kind: DocumentKind, *, password: str | None = None) -> ParsedDocument:
    """Extract normalised text; raises `ParseError` for anything the uploader has to fix.

    `password` is only used for a PDF that does not open with the empty user password; it is ignored for
    text files and for PDFs that need none (an owner-password-only PDF opens without it).
    """
    if kind == "pdf":
        return _parse_pdf(data, password)
    return _parse_txt(data)


def _extension(filename: str) -> str:
    # Browsers on Windows may send the full client path.
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return extension.strip().lower() if dot and stem else ""


def _looks_like_text(head: bytes) -> bool:
    if head.lstrip().startswith(_PDF_MAGIC):
        return False
    if any(head.startswith(bom) for bom, codec in _BOMS if codec != "utf-8-sig"):
        return True  # UTF-16/32 text is full of NUL bytes
    return b"\x00" not in head


# --- PDF ---------------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, password: str | None) -> ParsedDocument:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader, password)
        page_count = len(reader.pages)
    except ParseError:
        raise
    except MemoryError:
        raise
    except LimitReachedError as exc:
        raise _expansion_error(exc) from exc
    except Exception as exc:  # pypdf raises many unrelated types on damaged files
        log.info("ingestion.pdf.unreadable", error=type(exc).__name__)
        raise ParseError("corrupt", f"The PDF could not be read: {_short_reason(exc)}.") from exc

    raw_pages = [_extract_page(reader, index) for index in range(page_count)]
    compounds = _inline_compounds(raw_pages)
    pages = [
        PageText(number=index + 1, text=_normalise(raw, pdf=True, compounds=compounds))
        for index, raw in enumerate(raw_pages)
    ]
    if not any(page.text for page in pages):
        raise ParseError(
            "no_text",
            "The file contains no extractable text (it may be a scanned image without a text layer).",
        )
    return ParsedDocument(kind="pdf", pages=pages, page_count=page_count, encoding=None)


def _unlock(reader: PdfReader, password: str | None) -> None:
    if not reader.is_encrypted:
        return
    # Owner-password-only PDFs open with the empty user password, as in any viewer.
    if reader.decrypt("") != PasswordType.NOT_DECRYPTED:
        return
    if password is None:
        raise ParseError("encrypted", "The PDF is encrypted; upload it again with its password.")
    if reader.decrypt(password) == PasswordType.NOT_DECRYPTED:
        raise ParseError("wrong_password", "The password does not open this PDF.")


def _expansion_error(exc: LimitReachedError) -> ParseError:
    """A compressed stream that would expand beyond pypdf's output limit (a "decompression bomb"), or
    another of its resource limits, as the reason the uploader sees."""
    message = str(exc)
    if message.startswith("Limit reached while decompressing") or message.startswith(
        "Stream decoding exceeded"
    ):
        limit_mb = get_configuration().zlib_maximum_output_length // 1_000_000
        return ParseError(
            "too_large",
            f"The PDF expands beyond the {limit_mb} MB limit when decompressed; it cannot be indexed.",
        )
    return ParseError("corrupt", f"The PDF could not be read: {_short_reason(exc)}.")


def _extract_page(reader: PdfReader, index: int) -> str:
    # One bad page (broken content stream, unsupported font) must not cost the rest of the document.
    try:
        page = reader.pages[index]
        # Decoded first: pypdf's text extraction swallows its own decompression limit and returns ""
        # for such a page, which would pass a decompression bomb off as a scan without text.
        page.get_contents()
        return page.extract_text()
    except MemoryError:
        raise
    except LimitReachedError as exc:
        raise _expansion_error(exc) from exc
    except Exception as exc:
        log.warning("ingestion.pdf.page_unreadable", page=index + 1, error=type(exc).__name__)
        return ""


def _short_reason(exc: Exception) -> str:
    if isinstance(exc, EmptyFileError):
        return "the file is empty"
    if not isinstance(exc, PyPdfError | NotImplementedError):
        # Anything else is pypdf tripping over the structure; its message would mean nothing to a user.
        return "its internal structure is damaged"
    message = str(exc).strip()
    reason = message.splitlines()[0] if message else ""
    # pypdf appends details such as file offsets, raw bytes or Python internals after these markers.
    for marker in _REASON_DETAIL_MARKERS:
        reason = reason.split(marker, 1)[0]
    reason = "".join(ch for ch in reason if ch.isprintable()).strip().rstrip(".")
    reason = reason.removesuffix(" starting with").strip()
    if not reason:
        return "its internal structure is damaged"
    if len(reason) > _REASON_MAX_CHARS:
        reason = reason[: _REASON_MAX_CHARS - 1].rstrip() + "…"
    return reason


def _inline_compounds(raw_pages: list[str]) -> frozenset[str]:
    """Hyphenated words the document writes on one line, e.g. "well-known" — kept hyphenated at line ends."""
    return frozenset(
        match.group(0).casefold() for raw in raw_pages for match in _INLINE_COMPOUND.finditer(raw)
    )


# --- TXT ---------------------------------------------------------------------------------------------


def _parse_txt(data: bytes) -> ParsedDocument:
    text, encoding = _decode(data)
    normalised = _normalise(text, pdf=False, compounds=frozenset())
    if not normalised:
        raise ParseError("no_text", "The file contains no text (it is empty or only whitespace).")
    return ParsedDocument(
        kind="txt", pages=[PageText(number=None, text=normalised)], page_count=1, encoding=encoding
    )


def _decode(data: bytes) -> tuple[str, str]:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError as exc:
                raise _encoding_error() from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if b"\x00" in data:
        raise _encoding_error()  # binary, or UTF-16/32 without a byte-order mark
    guess = _guess_legacy_encoding(data)
    if guess is None:
        raise _encoding_error()
    return data.decode(guess), guess


def _guess_legacy_encoding(data: bytes) -> str | None:
    # from_bytes keeps only decodings under its chaos threshold (mess ratio 0.2), so an empty result
    # means no confident guess.
    matches = [
        match
        for match in charset_normalizer.from_bytes(data)
        if not match.encoding.startswith(_UNACCEPTED_GUESSES)
    ]
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        if (
            match.encoding == _PREFERRED_LEGACY
            and match.chaos <= best.chaos + _TIE_CHAOS
            and match.coherence >= best.coherence - _TIE_COHERENCE
        ):
            return _PREFERRED_LEGACY
    return str(best.encoding)


def _encoding_error() -> ParseError:
    return ParseError("encoding", "The text file is not UTF-8 and its encoding could not be detected.")


# --- normalisation -----------------------------------------------------------------------------------


def _normalise(text: str, *, pdf: bool, compounds: frozenset[str]) -> str:
    """NFC, newlines as "\\n", no control characters, at most one blank line between paragraphs.

    PDF text additionally gets ligatures expanded (pypdf returns "ﬁ" for the fi glyph), runs of spaces
    collapsed (layout spacing carries no meaning once extracted) and words re-joined where the typesetter
    hyphenated them at a line end. Plain text keeps its spacing: indentation may matter to its author.
    """
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    # In PDFs control codes usually stand for glyphs of a badly mapped font: a space keeps words apart.
    text = _CONTROL.sub(" " if pdf else "", text)
    text = unicodedata.normalize("NFC", text)
    if pdf:
        text = text.translate(_LIGATURES)
        text = "\n".join(_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n"))
        text = _join_hyphenated(text, compounds)
    else:
        text = _TRAILING_SPACE.sub("", text)
    text = text.replace("\u00ad", "")
    text = _EXCESS_BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _join_hyphenated(text: str, compounds: frozenset[str]) -> str:
    def join(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        if not right[0].islower():
            return match.group(0)  # "Meyer-\nSchmidt", "conceiva-\nSibley": not a broken word
        if f"{left}-{right}".casefold() in compounds:
            return f"{left}-{right}"
        return left + right

    return _LINE_END_HYPHEN.sub(join, text)
