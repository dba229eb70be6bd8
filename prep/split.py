"""Split by article (never by row), then prove it leak-free.

Every chunk of an article goes to the same split. Validation articles are chosen by a seeded hash of the
article id (or, optionally, the newest by date); at least `min_articles` of them where the archive allows, so
the evaluation's per-article intervals rest on enough articles. The check afterwards works on whole chunks,
prefix included (a continue prompt shows part of a chunk to the model): no validation chunk appears in a
training chunk, and no validation chunk shares a span of `overlap_chars` characters with any training chunk
(quotes reused across articles do that); offending validation chunks are dropped whole and counted.
"""
import math

import numpy as np

from core.seed import stable_unit
from prep.chunk import Chunk
from prep.config import SplitConfig
from prep.spans import window_hashes_of

# At most this share of the articles is held out to reach `min_articles`: training keeps three quarters.
MAX_HELD_OUT_FOR_MINIMUM = 0.25


def validation_count(n: int, fraction: float, min_articles: int) -> int:
    """How many of n articles are held out: the fraction, raised to min_articles while that keeps at least
    three quarters for training; never all of them, none when fraction is 0."""
    if fraction <= 0 or n < 2:
        return 0
    floor = min(min_articles, math.floor(MAX_HELD_OUT_FOR_MINIMUM * n))
    return min(n - 1, max(1, round(fraction * n), floor))


def validation_articles(articles: list[tuple[str, str | None]], mode: str, fraction: float, min_articles: int,
                        seed: int) -> set[str]:
    """ids of validation articles from (article_id, date) pairs (see validation_count)."""
    n_val = validation_count(len(articles), fraction, min_articles)
    if mode == "latest":
        ranked = sorted(articles, key=lambda a: (a[1] or "", a[0]), reverse=True)
    else:
        ranked = sorted(articles, key=lambda a: (stable_unit(seed, "split", a[0]), a[0]))
    return {article_id for article_id, _ in ranked[:n_val]}


class TrainSpans:
    """Every `span`-character window of the training chunks, as a sorted array of hashes (searchsorted finds
    a window with or without repeats, and a plain sort is several times faster than np.unique here)."""

    def __init__(self, train_texts: list[str], span: int):
        texts = sorted(set(train_texts))
        self.windows = np.sort(window_hashes_of(texts, span)[0])   # repeats harmless
        self.haystack = "\x00".join(texts)
        self.span = span

    def check(self, texts: list[str]) -> list[tuple[bool, bool]]:
        """Per text: (does it share a window with a training chunk, is it inside one). All texts are looked
        up at once, in sorted order, so the searches walk the big array forwards instead of jumping about."""
        windows, per_text = window_hashes_of(texts, self.span)
        owner = np.repeat(np.arange(len(texts)), per_text)
        order = np.argsort(windows)
        found = np.zeros(windows.size, dtype=bool)
        if self.windows.size:
            at = np.minimum(np.searchsorted(self.windows, windows[order]), self.windows.size - 1)
            found[order] = self.windows[at] == windows[order]
        shared = np.bincount(owner[found], minlength=len(texts))
        # A text can only be inside a training chunk if all its windows are shared (a short one has none).
        return [(bool(n), n == total and text in self.haystack)
                for text, n, total in zip(texts, shared.tolist(), per_text.tolist())]


def assign(chunks: list[Chunk], articles: list[tuple[str, str | None]], settings: SplitConfig, seed: int) -> set[str]:
    """Set every chunk's split from its article's; returns the validation article ids."""
    val_ids = validation_articles(articles, settings.mode, settings.val_fraction, settings.val_min_articles, seed)
    for chunk in chunks:
        chunk.split = "val" if chunk.article_id in val_ids else "train"
    return val_ids


def drop_leaking(chunks: list[Chunk], span: int) -> tuple[list[Chunk], list[str], dict]:
    """Validation chunks that share a `span`-character window with a training chunk (or sit inside one) are
    dropped whole, prefix and all; returns the kept chunks, the dropped ids (sorted) and the same check
    run again on what is kept (both counts are 0 unless this function is wrong)."""
    train_spans = TrainSpans([c.text for c in chunks if c.split == "train"], span)
    val = [c for c in chunks if c.split == "val"]
    dropped = {chunk.chunk_id for chunk, (shares, inside) in zip(val, train_spans.check([c.text for c in val]))
               if shares or inside}
    kept = [c for c in chunks if c.chunk_id not in dropped]
    checked = train_spans.check([c.text for c in kept if c.split == "val"])
    return kept, sorted(dropped), {"val_chunks_in_train": sum(inside for _, inside in checked),
                                   "val_chunks_sharing_span_with_train": sum(shares for shares, _ in checked)}
