"""The embedded store's keyword index: what text goes into SQLite FTS5 and how a query text becomes
an FTS5 query. docs/retrieval.md explains the choice of FTS5 and of the tokenizer.

Tokenizer: ``porter unicode61 remove_diacritics 2``. unicode61 splits on every character that is
not a Unicode letter or number (so German, French, Greek, Cyrillic words are kept whole and
case-folded), ``remove_diacritics 2`` folds accents (``résumé`` matches ``resume``), and porter
stems English suffixes (``indexing`` matches ``indexes``); porter leaves tokens it has no rule for
unchanged, so non-English words are still matched by their exact (folded) form.

unicode61 does not segment scripts written without spaces: a Japanese sentence would be one token,
and a query word inside it would never match. Before text is indexed (and a query is parsed), every
Han, Hiragana and Katakana character is therefore set apart by spaces, so each becomes a token of
its own - character unigrams, as OpenSearch's standard analyzer does for Han and Hiragana.

Query texts are never passed to FTS5's query syntax: the words are extracted and each one is
quoted, then OR-ed, so ``AND``, ``NEAR``, ``*``, quotes or column filters in a question are plain
words and a query never fails to parse.
"""

from __future__ import annotations

import re
from typing import Final

TOKENIZER: Final = "porter unicode61 remove_diacritics 2"
# Bump when TOKENIZER or `indexed_text` changes: stores then rebuild their keyword index on open.
KEYWORD_INDEX_VERSION: Final = "1"

# Han (CJK unified ideographs, extension A, compatibility), Hiragana, Katakana (incl. phonetic
# extensions and half-width forms).
_UNSPACED = re.compile(
    "([\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f])"
)
# What unicode61 treats as token characters: letters, numbers (and marks inside words).
_WORD = re.compile(r"[^\W_]+(?:[\u0300-\u036f]+[^\W_]*)*")


def indexed_text(text: str) -> str:
    """The text as the keyword index stores it: scripts without spaces split into characters."""
    return _UNSPACED.sub(r" \1 ", text)


def terms(text: str) -> list[str]:
    """The distinct words of a query text, in order."""
    return list(dict.fromkeys(_WORD.findall(indexed_text(text))))


def match_expression(text: str) -> str | None:
    """The FTS5 MATCH expression for a query text (any of its words), or None when it has none."""
    words = terms(text)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
