"""A deterministic English-like corpus for benchmarks.

Chunks are sentences of real English words drawn from a fixed vocabulary, so tokenizers split
them like ordinary prose (mostly whole-word WordPiece tokens, some sub-word pieces) and token
counts are realistic. The same (n, words, seed) always gives the same chunks, on any machine.
"""

from __future__ import annotations

import random

_WORDS = """
the of and to in is that for it as with was on be by this are or from at an which but not have
has had were can all their there been if more when will would who so no one about what up out
them some could into than its only other new these two may first any time like then now over
such our also most very after many before must through back years where much your way well
down should because each just those people how too little state good world still own see men
work long here both between life being under never day same another know while last might us
great old year off come since against go came right used take three states himself few house
use during without again place around however home small found thought went say part once
general high upon school every does got united left number course war until always away
something fact though water less public put think almost hand enough far took head yet
government system better set told nothing night end why called didn later knew point city
business give group toward young days let room president side social given present several
order national possible rather second face per among form important often things looked
early white case john become large big need four within felt along children saw best church
ever least power development light thing seemed family interest want members mind country area
others done turned although open god service certain kind problem began different door thus
help sense means whole matter perhaps itself york times law human line above name example
action company hands local show whether five history gave today either act feet across taken
past quite anyone having seen death experience body word half really week car field money
report document knowledge search retrieval index vector query answer customer ticket support
invoice contract policy employee manager product release feature update network server cloud
storage database security access account password request response error version module
application platform service pipeline dataset model training evaluation metric schedule budget
meeting project deadline quarter revenue growth market strategy team review approval compliance
authentication reconciliation interoperability misconfiguration throughput latency onboarding
deprovisioning multilingual embeddings tokenizer orchestration serialization idempotent
asynchronous encryption certificate middleware dashboard spreadsheet procurement reimbursement
subscription administrator troubleshooting escalation acknowledgement configurable scalability
"""
_VOCABULARY = tuple(dict.fromkeys(_WORDS.split()))


def _sentence(rng: random.Random, length: int) -> str:
    words = [rng.choice(_VOCABULARY) for _ in range(length)]
    words[0] = words[0].capitalize()
    if length > 8 and rng.random() < 0.4:
        words[rng.randrange(3, length - 3)] += ","
    return " ".join(words) + rng.choice((".", ".", ".", "?", "!"))


def make_chunks(n: int, words: int = 200, seed: int = 0) -> list[str]:
    """`n` chunks of exactly `words` words each, made of sentences of 6–24 words."""
    if n < 0 or words < 1:
        raise ValueError("n must be >= 0 and words >= 1")
    rng = random.Random(seed)
    chunks = []
    for _ in range(n):
        sentences = []
        remaining = words
        while remaining:
            length = min(remaining, rng.randint(6, 24))
            sentences.append(_sentence(rng, length))
            remaining -= length
        chunks.append(" ".join(sentences))
    return chunks
