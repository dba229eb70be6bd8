"""Token-aware chunking: cut at paragraph boundaries first, then at sentence boundaries; split a lone
sentence longer than the limit (counted). Chunks are balanced inside an article so the last one is not a
scrap; an article shorter than the minimum becomes one short chunk, kept and flagged. Token counts are the
base model's tokenizer's (prep/tokens.py); `chunk_article` runs in the worker processes."""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from core.text import split_sentences
from prep import tokens
from prep.config import ChunkConfig
from prep.filter import Article

PARAGRAPH_JOINER = "\n\n"
JOINER_TOKENS = 1   # "\n\n" is one token in the BPE vocabularies we meet; exact counts are checked afterwards

TokenCounter = Callable[[list[str]], list[int]]


@dataclass
class Unit:
    text: str
    tokens: int
    new_paragraph: bool


@dataclass
class Piece:
    text: str
    tokens: int


@dataclass
class Chunk:
    """One chunk of an article, as it goes through near-duplicate removal, the split and row building."""
    article_id: str
    index: int   # position in its article
    text: str    # exactly as chunked: prompts and targets are pieces of it
    tokens: int
    short: bool  # fewer than chunk.min_tokens (the article is shorter than that): kept and flagged
    lang: str
    split: str = ""   # "train" or "val", set by prep/split.py

    @property
    def chunk_id(self) -> str:
        return f"{self.article_id}#{self.index}"


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
    for sentence, sentence_tokens, starts_paragraph in zip(sentences, count(sentences), starts):
        if sentence_tokens <= max_tokens:
            units.append(Unit(sentence, sentence_tokens, starts_paragraph))
            continue
        counts["long_sentences_split"] += 1
        pieces = _hard_split(sentence, sentence_tokens, max_tokens, count)
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


def _finalize(group: list[Unit], max_tokens: int, count: TokenCounter, counts: Counter) -> list[Piece]:
    text = _join(group)
    exact = count([text])[0]
    if exact > max_tokens and len(group) > 1:
        # BPE merges across unit boundaries made the estimate low: halve the group and recount.
        counts["chunks_resplit_after_exact_count"] += 1
        half = len(group) // 2
        return _finalize(group[:half], max_tokens, count, counts) + _finalize(group[half:], max_tokens, count, counts)
    return [Piece(text, exact)]


def chunk_paragraphs(paragraphs: list[str], min_tokens: int, max_tokens: int, count: TokenCounter,
                     counts: Counter) -> list[Piece]:
    units = [u for u in _units(paragraphs, max_tokens, count, counts) if u.text.strip()]
    if not units:
        return []
    return [piece for group in _pack(units, min_tokens, max_tokens)
            for piece in _finalize(group, max_tokens, count, counts)]


def chunk_article(article: Article, settings: ChunkConfig) -> tuple[list[Chunk], Counter]:
    """The article's chunks, counted in the worker's tokenizer, and what chunking had to do (counted)."""
    counts: Counter = Counter()
    pieces = chunk_paragraphs(article.paragraphs, settings.min_tokens, settings.max_tokens, tokens.count, counts)
    return [Chunk(article.info.article_id, index, piece.text, piece.tokens, piece.tokens < settings.min_tokens,
                  article.lang) for index, piece in enumerate(pieces)], counts
