"""Text basics shared by data building and evaluation: language of a text, sentence boundaries."""
import re

import numpy as np

# Code point ranges: CJK Unified Ideographs (+ extension A) and compatibility ideographs; Latin letters.
_CJK = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_LETTER = ((0x41, 0x5A), (0x61, 0x7A))

# A sentence ends at Chinese 。！？；… (runs of them too), or at English .!? followed by whitespace or the end;
# closing quotes/brackets that follow the mark stay with the sentence they close.
_SENTENCE_END = re.compile(
    r"(?:[。！？；!?]+|…+|\.{3,}|(?<=[A-Za-z0-9\)\"'])[.!?]+(?=\s|$))[”’」』）)\]\"']*\s*"
)


def _count_in(codes: np.ndarray, ranges) -> int:
    return sum(int(np.count_nonzero((codes >= lo) & (codes <= hi))) for lo, hi in ranges)


def cjk_count(text: str) -> int:
    """Number of CJK ideographs in `text` (the unit speeds are compared in: tokenizers differ)."""
    return _count_in(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32), _CJK)


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among ideographs + Latin letters (0 when there are neither)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)   # counted in numpy: 8x a regex findall
    cjk, latin = _count_in(codes, _CJK), _count_in(codes, _LETTER)
    return cjk / (cjk + latin) if cjk + latin else 0.0


def detect_language(text: str) -> str:
    """'zh' or 'en': Chinese when at least a fifth of the letters are ideographs (one ideograph carries
    about as much as a whole English word)."""
    return "zh" if cjk_ratio(text) >= 0.2 else "en"


def split_sentences(text: str) -> list[str]:
    """Split into sentences without losing a character: ''.join(result) == text."""
    parts, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        parts.append(text[start:])
    return [p for p in parts if p]


def cut_at_sentence(text: str, chars: int) -> str:
    """The longest run of whole sentences within `chars` characters (the first sentence cut if it is longer)."""
    kept = ""
    for sentence in split_sentences(text):
        if len(kept) + len(sentence) > chars:
            break
        kept += sentence
    return (kept or text[:chars]).strip()


def sentence_prefixes(text: str) -> list[str]:
    """Every start of `text` that ends at a sentence end (stripped), shortest first; an unfinished tail is
    never one."""
    return [text[:match.end()].strip() for match in _SENTENCE_END.finditer(text)]


def complete_sentences(text: str) -> str:
    """`text` up to the end of its last finished sentence: a reply cut off by a token limit loses its
    unfinished tail ("" when no sentence was finished)."""
    prefixes = sentence_prefixes(text)
    return prefixes[-1] if prefixes else ""


def split_paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]
