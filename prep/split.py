"""Split by article (never by row), then prove it leak-free.

Every row of an article goes to the same split. Validation articles are chosen by a seeded hash of the
article id (or, optionally, the newest by date). The check afterwards: no validation target appears in a
training target, and no validation target shares a span of `overlap_chars` characters with any training
target (quotes reused across articles do that); offending validation rows are dropped and counted.
"""
import math

import numpy as np

from core.seed import stable_unit
from prep.spans import window_hashes_of


def validation_articles(articles: list[tuple[str, str | None]], mode: str, fraction: float, seed: int) -> set[str]:
    """ids of validation articles from (article_id, date) pairs; at least one when fraction > 0 and n >= 2."""
    n = len(articles)
    n_val = min(n - 1, max(1, round(fraction * n))) if fraction > 0 and n >= 2 else 0
    if mode == "latest":
        ranked = sorted(articles, key=lambda a: (a[1] or "", a[0]), reverse=True)
    else:
        ranked = sorted(articles, key=lambda a: (stable_unit(seed, "split", a[0]), a[0]))
    return {article_id for article_id, _ in ranked[:n_val]}


def _target(row: dict) -> str:
    return row["completion"][0]["content"]


class TrainSpans:
    """Every `span`-character window of the training targets, as a sorted array of hashes (searchsorted finds
    a window with or without repeats, and a plain sort is several times faster than np.unique here)."""

    def __init__(self, train: list[dict], span: int):
        targets = sorted({_target(r) for r in train})
        self.windows = np.sort(window_hashes_of(targets, span)[0])   # repeats harmless
        self.haystack = "\x00".join(targets)
        self.span = span

    def check(self, texts: list[str]) -> list[tuple[bool, bool]]:
        """Per text: (does it share a window with a training target, is it inside one). All texts are looked
        up at once, in sorted order, so the searches walk the big array forwards instead of jumping about."""
        windows, per_text = window_hashes_of(texts, self.span)
        owner = np.repeat(np.arange(len(texts)), per_text)
        order = np.argsort(windows)
        found = np.zeros(windows.size, dtype=bool)
        if self.windows.size:
            at = np.minimum(np.searchsorted(self.windows, windows[order]), self.windows.size - 1)
            found[order] = self.windows[at] == windows[order]
        shared = np.bincount(owner[found], minlength=len(texts))
        # A text can only be inside a training target if all its windows are shared (a short one has none).
        return [(bool(n), n == total and text in self.haystack)
                for text, n, total in zip(texts, shared.tolist(), per_text.tolist())]


def overlapping_rows(spans: TrainSpans, val: list[dict]) -> list[int]:
    """Indices of validation rows whose target is inside a training target or shares a window with one."""
    return [i for i, (shares, inside) in enumerate(spans.check([_target(r) for r in val])) if shares or inside]


def leak_report(spans: TrainSpans, val: list[dict]) -> dict:
    """The two numbers dataset_stats.json promises, measured on the final rows."""
    checked = spans.check([_target(r) for r in val])
    return {"val_targets_in_train": sum(inside for _, inside in checked),
            "val_targets_sharing_span_with_train": sum(shares for shares, _ in checked)}


def histogram(values: list[int], bin_width: int) -> dict[str, int]:
    """Counts per bin, keyed by the bin's lower edge (stable JSON keys)."""
    counts: dict[str, int] = {}
    for value in sorted(values):
        edge = math.floor(value / bin_width) * bin_width
        counts[f"{edge:05d}"] = counts.get(f"{edge:05d}", 0) + 1
    return counts
