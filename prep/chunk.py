"""Token-aware chunking: cut at paragraph boundaries first, then at sentence boundaries; split a lone
sentence longer than the limit (counted). Chunks are balanced inside an article so the last one is not a
scrap; an article shorter than the minimum becomes one short chunk, kept and flagged."""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from core.text import split_sentences

PARAGRAPH_JOINER = "\n\n"
JOINER_TOKENS = 1   # "\n\n" is one token in the BPE vocabularies we meet; exact counts are checked afterwards

TokenCounter = Callable[[list[str]], list[int]]


@dataclass
class Unit:
    text: str
    tokens: int
    new_paragraph: bool


@dataclass
class Chunk:
    text: str
    tokens: int
    short: bool


def _hard_split(sentence: str, tokens: int, max_tokens: int, count: TokenCounter) -> list[Unit]:
    pieces = max(2, math.ceil(tokens / max_tokens))
    while True:
        size = math.ceil(len(sentence) / pieces)
        parts = [sentence[i:i + size] for i in range(0, len(sentence), size)]
        part_tokens = count(parts)
        if max(part_tokens) <= max_tokens or size <= 1:
            return [Unit(p, t, False) for p, t in zip(parts, part_tokens)]
        pieces += 1


def _units(paragraphs: list[str], max_tokens: int, count: TokenCounter, counts: Counter) -> list[Unit]:
    """Sentences, each knowing whether it starts a paragraph; a sentence over the limit is cut in pieces."""
    sentences, starts = [], []
    for paragraph in paragraphs:
        parts = split_sentences(paragraph)
        sentences.extend(parts)
        starts.extend([True] + [False] * (len(parts) - 1))
    units = []
    for sentence, tokens, starts_paragraph in zip(sentences, count(sentences), starts):
        if tokens <= max_tokens:
            units.append(Unit(sentence, tokens, starts_paragraph))
            continue
        counts["long_sentences_split"] += 1
        pieces = _hard_split(sentence, tokens, max_tokens, count)
        pieces[0].new_paragraph = starts_paragraph
        units.extend(pieces)
    return units


# Costs of the cut search: every chunk costs CHUNK_COST (prefer few, full chunks); each token a chunk falls
# short of min_tokens costs SHORTFALL_COST; cutting inside a paragraph costs MID_PARAGRAPH_COST.
CHUNK_COST, SHORTFALL_COST, MID_PARAGRAPH_COST = 1000, 10, 300


def _pack(units: list[Unit], min_tokens: int, max_tokens: int) -> list[list[Unit]]:
    """Cut points minimising the costs above, by dynamic programming over unit boundaries."""
    n = len(units)
    token_sum = [0] * (n + 1)
    paragraph_starts = [0] * (n + 1)
    for i, unit in enumerate(units):
        token_sum[i + 1] = token_sum[i] + unit.tokens
        paragraph_starts[i + 1] = paragraph_starts[i] + unit.new_paragraph
    best = [0.0] + [math.inf] * n
    cut_from = [0] * (n + 1)
    for end in range(1, n + 1):
        cut_cost = 0 if end == n or units[end].new_paragraph else MID_PARAGRAPH_COST
        for start in range(end - 1, -1, -1):
            joiners = (paragraph_starts[end] - paragraph_starts[start + 1]) * JOINER_TOKENS
            size = token_sum[end] - token_sum[start] + joiners
            if size > max_tokens and start < end - 1:
                break
            cost = best[start] + CHUNK_COST + SHORTFALL_COST * max(0, min_tokens - size) + cut_cost
            if cost < best[end]:
                best[end], cut_from[end] = cost, start
    groups, end = [], n
    while end > 0:
        groups.append(units[cut_from[end]:end])
        end = cut_from[end]
    return groups[::-1]


def _join(units: list[Unit]) -> str:
    text = units[0].text
    for unit in units[1:]:
        text += (PARAGRAPH_JOINER + unit.text) if unit.new_paragraph else unit.text
    return text.strip()


def _finalize(group: list[Unit], min_tokens: int, max_tokens: int, count: TokenCounter, counts: Counter,
              tokens: int | None = None) -> list[Chunk]:
    text = _join(group)
    tokens = count([text])[0] if tokens is None else tokens
    if tokens > max_tokens and len(group) > 1:
        # BPE merges across unit boundaries made the estimate low: halve the group and recount.
        counts["chunks_resplit_after_exact_count"] += 1
        half = len(group) // 2
        return (_finalize(group[:half], min_tokens, max_tokens, count, counts)
                + _finalize(group[half:], min_tokens, max_tokens, count, counts))
    return [Chunk(text, tokens, tokens < min_tokens)]


def chunk_paragraphs(paragraphs: list[str], min_tokens: int, max_tokens: int, count: TokenCounter,
                     counts: Counter) -> list[Chunk]:
    units = [u for u in _units(paragraphs, max_tokens, count, counts) if u.text.strip()]
    if not units:
        return []
    chunks = []
    for group in _pack(units, min_tokens, max_tokens):
        chunks.extend(_finalize(group, min_tokens, max_tokens, count, counts))
    return chunks
