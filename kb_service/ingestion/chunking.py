"""Splitting page text into chunks that fit the embedder's window — a pure, deterministic function.

Choices, and why:

- **A chunk never spans a page boundary.** Each page is chunked on its own, so a chunk's `page` is exact and
  a citation points at one page. A short page gives a short chunk, and overlap never crosses pages.
- **Chunks are verbatim slices of the page text** (start and end at non-whitespace). Nothing is rewritten,
  so what is embedded is what is shown to the user, and every non-whitespace character of a page is in at
  least one chunk.
- **Where a chunk ends**, in order of preference: the end of the page if the rest fits; a paragraph break
  (blank line), then a sentence end, in the back half of the target size; a sentence end a little past the
  target but within `max_chars`; a line break, then any whitespace; and only for a single "word" longer than
  the window (a URL, a base64 blob, CJK text without spaces) a cut between two characters — never before a
  combining mark.
- **Overlap**: each chunk after the first on a page starts with roughly the last `overlap_chars` of the
  previous one, moved to a sentence start (else a word start) near that point. Overlap is also capped to the
  same share of the token window as `overlap_chars` is of `target_chars`, so dense scripts (CJK, about one
  token per character) do not spend most of each window repeating the previous chunk. It is dropped when it
  would leave no room for new text.
- **Token counting is the expensive part** (a HuggingFace tokenizer call), and token counts are not additive
  across cuts, so pieces are not counted and summed. A candidate chunk is sized from the tokens-per-character
  density seen so far and counted whole, usually once. One over the window is cut back in proportion to the
  overshoot; one that fits but was sized by tokens and fills little of the window is grown; with one of each
  known, the next is interpolated between them, which copes with uneven text (a blob that is a single
  unknown token among ordinary words). A few counts per chunk at most, each of at most `max_chars`
  characters: tokenizer work stays linear, about 1.1-1.4 passes over the text.

Hard guarantees (tested): every chunk has `count_tokens(text) <= max_tokens` and `len(text) <= max_chars`,
is non-empty, and the same input always gives the same chunks (chunk ids are derived from positions).
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from kb_service.ingestion.parsing import PageText


class _Kind(Enum):
    PARAGRAPH = "paragraph"  # a blank line
    SENTENCE = "sentence"
    LINE = "line"
    WORD = "word"  # any whitespace


# A chunk may end at a paragraph or sentence break once it holds this share of its target size.
_MIN_FILL = 0.5
# Head-room left when sizing a chunk from the measured density: densities vary within a document.
_DENSITY_SAFETY = 0.95
# How fast the remembered density may fall per count (it rises at once).
_DENSITY_DECAY = 0.5
# A chunk sized by tokens that fills less of the window than this is grown.
_UNDERFILL = 0.8
# Counting stops here once a fitting candidate is known (uneven text could otherwise keep refining).
_MAX_COUNTS_PER_CHUNK = 4
# The overlap start may move this far either way to land on a sentence or word start.
_OVERLAP_SLACK = 0.5

_TERMINATORS = ".!?…‼⁇⁈⁉؟۔।॥。！？｡"
_CLOSERS = "\"')]}”’»」』）】"
_SPACED_SENTENCE_END = re.compile(f"[{re.escape(_TERMINATORS)}]+[{re.escape(_CLOSERS)}]*(\\s+)(?=\\S)")
# Terminators of scripts written without spaces: a sentence may end right before the next character.
_UNSPACED_SENTENCE_END = re.compile(r"[。！？｡]+[」』）】”’]*(?=\S)")
# Whitespace runs between two non-space characters (the lookarounds make them whole runs).
_BREAK_PATTERNS = {
    _Kind.PARAGRAPH: re.compile(r"(?<=\S)[^\S\n]*\n[^\S\n]*\n\s*(?=\S)"),
    _Kind.LINE: re.compile(r"(?<=\S)[^\S\n]*\n\s*(?=\S)"),
    _Kind.WORD: re.compile(r"(?<=\S)\s+(?=\S)"),
}
_WHITESPACE = re.compile(r"\s+")
# How far past a search window the scan for breaks looks, so that a whitespace run or the terminators
# before it are seen whole; searches stay within the window (plus this), keeping chunking linear.
_SCAN_MARGIN = 32
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "fig", "figs", "no", "nos", "vol",
     "p", "pp", "ca", "cf", "approx", "dept", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr",
     "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "bzw", "ggf", "usw", "vgl", "nr", "abs",
     "bd", "hr", "fr", "mme", "mlle", "env", "art", "sec", "ch", "eq", "eqs", "ref", "refs"}
)  # fmt: skip
_MAX_ABBREVIATION_CHARS = 12


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str
    page: int | None  # page where the chunk starts (None for TXT)
    position: int  # 0-based order within the document


@dataclass(frozen=True, slots=True)
class _Break:
    end: int  # a chunk ending here ends just after a non-space character
    next: int  # the non-space character where the following text starts


@dataclass(frozen=True, slots=True)
class _Limits:
    target_chars: int
    overlap_chars: int
    max_chars: int


class _TokenWindow:
    """Counts tokens and remembers the tokens-per-character density last seen, to size the next chunk."""

    def __init__(self, count_tokens: Callable[[str], int], max_tokens: int) -> None:
        self._count = count_tokens
        self.max_tokens = max_tokens
        # Special tokens ([CLS], [SEP], ...) are in every count but take no room from the text.
        self.overhead = count_tokens("")
        if max_tokens <= self.overhead:
            raise ValueError(f"max_tokens={max_tokens} leaves no room next to {self.overhead} special tokens")
        self._density = 0.0  # content tokens per character; 0 until the first count

    @property
    def content_tokens(self) -> int:
        return self.max_tokens - self.overhead

    def count(self, text: str) -> int:
        tokens = self._count(text)
        measured = max(tokens - self.overhead, 1) / len(text)
        # Falls slowly, rises at once: after a sparse stretch (a long blob that is one unknown token) the
        # next chunk is sized for ordinary text again instead of being counted at max_chars and cut back.
        self._density = max(measured, self._density * _DENSITY_DECAY)
        return tokens

    def chars_for(self, tokens: float) -> int | None:
        """Characters that should hold `tokens` content tokens; None while the density is unknown."""
        if self._density == 0.0:
            return None
        return max(1, int(tokens / self._density * _DENSITY_SAFETY))


def chunk_pages(
    pages: Sequence[PageText],
    *,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    target_chars: int = 1500,
    overlap_chars: int = 200,
    max_chars: int = 2048,
) -> list[TextChunk]:
    """Chunk every page in order; `position` counts across the whole document.

    `count_tokens` is the embedder's own count including special tokens, `max_tokens` its window.
    Raises ValueError for inconsistent limits, or if a single character does not fit the window.
    """
    if not 0 < target_chars <= max_chars:
        raise ValueError("need 0 < target_chars <= max_chars")
    if not 0 <= overlap_chars <= target_chars // 2:
        raise ValueError("need 0 <= overlap_chars <= target_chars / 2")
    limits = _Limits(target_chars=target_chars, overlap_chars=overlap_chars, max_chars=max_chars)
    window = _TokenWindow(count_tokens, max_tokens)
    chunks: list[TextChunk] = []
    for page in pages:
        for text in _chunk_text(page.text, window, limits):
            chunks.append(TextChunk(text=text, page=page.number, position=len(chunks)))
    return chunks


def _chunk_text(text: str, window: _TokenWindow, limits: _Limits) -> Iterator[str]:
    stop = len(text.rstrip())
    pos = _skip_space(text, 0)
    start = pos
    while pos < stop:
        start, end = _fit(text, start, pos, stop, window, limits)
        yield text[start:end]
        pos = _skip_space(text, end)
        if pos < stop:
            overlap_start = _overlap_start(text, start, end, window, limits)
            start = pos if overlap_start is None else overlap_start


@dataclass(frozen=True, slots=True)
class _Counted:
    end: int
    tokens: int


def _fit(
    text: str, start: int, pos: int, stop: int, window: _TokenWindow, limits: _Limits
) -> tuple[int, int]:
    """Choose where the chunk beginning at `start` (new text from `pos`) ends; returns (start, end).

    The first candidate is sized from the running density. A candidate over the window is cut back; one
    that fits but was sized by tokens and fills less than `_UNDERFILL` of the window is grown. Once both a
    fitting and an overflowing candidate are known, the next is interpolated between them, which copes with
    uneven text (a long blob that is a single unknown token next to ordinary words).
    """
    fitting: _Counted | None = None
    over: _Counted | None = None
    calls = 0
    while True:
        length = _candidate_length(start, fitting, over, window, limits)
        if length <= pos - start:
            if fitting is not None:
                return start, fitting.end
            start, over = pos, None  # the overlap leaves no room for new text: drop it
            continue
        end = _choose_end(text, start, pos, stop, min(limits.target_chars, length), length)
        if fitting is not None and end <= fitting.end:
            return start, fitting.end
        tokens = window.count(text[start:end])
        calls += 1
        if tokens > window.max_tokens:
            if fitting is not None and calls >= _MAX_COUNTS_PER_CHUNK:
                return start, fitting.end
            if fitting is None and end - start == 1:
                raise ValueError("a single character does not fit max_tokens")
            over = _Counted(end, tokens)
            continue
        fitting = _Counted(end, tokens)
        sized_by_tokens = length < limits.target_chars and end < stop
        if not sized_by_tokens or tokens >= _UNDERFILL * window.max_tokens or calls >= _MAX_COUNTS_PER_CHUNK:
            return start, end


def _candidate_length(
    start: int, fitting: _Counted | None, over: _Counted | None, window: _TokenWindow, limits: _Limits
) -> int:
    """Characters from `start` the next candidate may take (the chunk end is then chosen at a break)."""
    room = window.content_tokens * _DENSITY_SAFETY
    if fitting is None:
        if over is None:
            estimate = window.chars_for(window.content_tokens)
            return min(limits.max_chars, estimate or limits.max_chars)
        over_length = over.end - start
        proportional = int(over_length * room / max(over.tokens - window.overhead, 1))
        return max(1, min(over_length - 1, proportional))
    fit_length = fitting.end - start
    if over is None:
        proportional = int(fit_length * room / max(fitting.tokens - window.overhead, 1))
        return min(limits.max_chars, max(fit_length + 1, proportional))
    share = (window.max_tokens * _DENSITY_SAFETY - fitting.tokens) / max(over.tokens - fitting.tokens, 1)
    between = fitting.end + max(1, int((over.end - fitting.end) * share))
    return min(between, over.end - 1) - start


def _choose_end(text: str, start: int, pos: int, stop: int, soft: int, hard: int) -> int:
    """The best place to end a chunk from `start` of about `soft` and at most `hard` characters."""
    soft_hi, hard_hi = start + soft, start + hard
    if stop <= hard_hi:
        return stop
    lo = max(start + int(soft * _MIN_FILL), pos + 1)
    for kind in (_Kind.PARAGRAPH, _Kind.SENTENCE):
        last = _last(_iter_breaks(text, kind, lo, soft_hi, pos))
        if last is not None:
            return last.end
    # Finishing the sentence beats cutting it, if the hard limit allows.
    past_target = [
        first.end
        for kind in (_Kind.PARAGRAPH, _Kind.SENTENCE)
        if (first := next(_iter_breaks(text, kind, soft_hi + 1, hard_hi, pos), None)) is not None
    ]
    if past_target:
        return min(past_target)
    for kind, lowest in ((_Kind.LINE, lo), (_Kind.WORD, pos + 1)):
        last = _last(_iter_breaks(text, kind, lowest, soft_hi, pos))
        if last is not None:
            return last.end
    return _char_cut(text, pos + 1, soft_hi)


def _overlap_start(
    text: str, prev_start: int, prev_end: int, window: _TokenWindow, limits: _Limits
) -> int | None:
    """Where the next chunk starts so that it repeats about the last `overlap_chars` of the previous one."""
    wanted = limits.overlap_chars
    share = window.chars_for(window.content_tokens * limits.overlap_chars / limits.target_chars)
    if share is not None:
        wanted = min(wanted, share)
    if wanted < 1:
        return None
    target = prev_end - wanted
    lo = max(prev_start + 1, prev_end - int(wanted * (1 + _OVERLAP_SLACK)))
    hi = prev_end - max(1, int(wanted * (1 - _OVERLAP_SLACK)))
    if lo > hi:
        return None
    scan_from = max(prev_start + 1, lo - _SCAN_MARGIN)  # a break ending before `lo` may start text after it
    for kinds in ((_Kind.PARAGRAPH, _Kind.SENTENCE), (_Kind.WORD,)):
        starts = [
            found.next
            for kind in kinds
            for found in _iter_breaks(text, kind, scan_from, hi, prev_start)
            if lo <= found.next <= hi
        ]
        if starts:
            return min(starts, key=lambda start: (abs(start - target), start))
    cut = _skip_space(text, _char_cut(text, lo, max(lo, target)))
    return cut if prev_start < cut < prev_end else None


def _iter_breaks(text: str, kind: _Kind, first_end: int, last_end: int, floor: int) -> Iterator[_Break]:
    """Breaks of one kind whose chunk end lies in [first_end, last_end], in text order.

    `floor` is where the chunk's own text starts: the sentence test looks no further back.
    """
    if kind is not _Kind.SENTENCE:
        for match in _BREAK_PATTERNS[kind].finditer(text, first_end, last_end + _SCAN_MARGIN):
            if match.start() > last_end:
                return
            yield _Break(end=match.start(), next=match.end())
        return
    yield from heapq.merge(
        _spaced_sentence_ends(text, first_end, last_end, floor),
        _unspaced_sentence_ends(text, first_end, last_end, floor),
        key=lambda found: found.end,
    )


def _spaced_sentence_ends(text: str, first_end: int, last_end: int, floor: int) -> Iterator[_Break]:
    # Start a little early: the terminator may sit just before `first_end`.
    scan = _SPACED_SENTENCE_END.finditer(text, max(floor, first_end - _SCAN_MARGIN), last_end + _SCAN_MARGIN)
    for match in scan:
        begin, end = match.span(1)
        if begin > last_end:
            return
        if begin >= first_end and _ends_sentence(text, begin, end, floor):
            yield _Break(end=begin, next=end)


def _unspaced_sentence_ends(text: str, first_end: int, last_end: int, floor: int) -> Iterator[_Break]:
    scan = _UNSPACED_SENTENCE_END.finditer(text, max(floor, first_end - _SCAN_MARGIN), last_end + 1)
    for match in scan:
        if match.end() > last_end:
            return
        if match.end() >= first_end:
            yield _Break(end=match.end(), next=match.end())


def _last(breaks: Iterator[_Break]) -> _Break | None:
    remaining = deque(breaks, maxlen=1)
    return remaining[0] if remaining else None


def _ends_sentence(text: str, begin: int, end: int, floor: int) -> bool:
    """Whether the whitespace text[begin:end] follows the end of a sentence."""
    closers_start = begin
    while closers_start > floor and text[closers_start - 1] in _CLOSERS:
        closers_start -= 1
    terminators_start = closers_start
    while terminators_start > floor and text[terminators_start - 1] in _TERMINATORS:
        terminators_start -= 1
    if terminators_start == closers_start or text[end].islower():
        return False  # no terminator, or the sentence goes on ("etc. and so on", "what? he said")
    if closers_start - terminators_start > 1 or text[closers_start - 1] != ".":
        return True
    # A lone full stop also ends abbreviations and initials: "e.g.", "Dr.", "J. Smith".
    word_start = terminators_start
    while (
        word_start > floor
        and not text[word_start - 1].isspace()
        and terminators_start - word_start <= _MAX_ABBREVIATION_CHARS
    ):
        word_start -= 1
    word = text[word_start:terminators_start]
    if "." in word or (len(word) == 1 and word.isalpha()):
        return False
    return word.casefold() not in _ABBREVIATIONS


def _char_cut(text: str, lowest: int, position: int) -> int:
    """`position`, moved back so that a combining mark stays with its base character."""
    while position > lowest and unicodedata.combining(text[position]):
        position -= 1
    return position


def _skip_space(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    return match.end() if match else position
