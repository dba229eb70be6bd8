"""Boilerplate: paragraphs and single lines that recur across many articles (a signature, a "follow this
account" footer, a "post no. 285 / 982 characters, 4 images" header), and paragraphs repeated inside one
article. Both are removed and counted.

Texts are compared by a key, never changed by it: the key folds what varies between copies of the same
boilerplate. Digit runs, together with the whitespace around them, become one "0" (an exporter writes
"尬文2333" in one post and "尬文 2333" in the next); other whitespace runs become one space; Traditional
script is folded to Simplified with OpenCC (an author who posts in both scripts repeats the same header in
both). The text kept is always the author's own, in the author's script.
"""
import math
import re
from collections import Counter

import opencc

_DIGITS = re.compile(r"\s*[0-9０-９]+\s*")
_SPACES = re.compile(r"\s+")
_TO_SIMPLIFIED = opencc.OpenCC("t2s")


def key(text: str) -> str:
    """What copies of one boilerplate text share (see the module docstring)."""
    return _SPACES.sub(" ", _DIGITS.sub("0", _TO_SIMPLIFIED.convert(text))).strip()


def find(articles: list[list[str]], min_articles: int, min_share: float, min_chars: int) -> tuple[Counter, int]:
    """Keys of paragraphs and of single lines that recur in many articles, and the article threshold used."""
    seen: Counter = Counter()
    for paragraphs in articles:
        keys = set()
        for paragraph in paragraphs:
            keys.add(key(paragraph))
            if "\n" in paragraph:
                keys.update(key(line) for line in paragraph.split("\n"))
        seen.update(k for k in keys if len(k.replace(" ", "")) >= min_chars)
    threshold = max(min_articles, math.ceil(min_share * len(articles)))
    return Counter({k: n for k, n in seen.items() if n >= threshold}), threshold


def remove(paragraphs: list[str], boilerplate: Counter, repeat_min_chars: int, counts: Counter) -> list[str]:
    """Drop boilerplate paragraphs and lines, and paragraphs repeated inside this article (keep the first)."""
    kept, seen = [], set()
    for paragraph in paragraphs:
        paragraph_key = key(paragraph)
        if paragraph_key in boilerplate:
            counts["boilerplate_paragraphs_removed"] += 1
            continue
        if "\n" in paragraph:
            lines = paragraph.split("\n")
            remaining = [line for line in lines if key(line) not in boilerplate]
            counts["boilerplate_lines_removed"] += len(lines) - len(remaining)
            paragraph = "\n".join(remaining).strip("\n")
            if not paragraph.strip():
                continue
            paragraph_key = key(paragraph)
        if paragraph_key in seen and len(paragraph_key) >= repeat_min_chars:
            counts["repeated_paragraphs_removed"] += 1
            continue
        seen.add(paragraph_key)
        kept.append(paragraph)
    return kept
