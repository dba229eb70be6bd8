"""Stylometric primitives shared by `make eval` (eval/stylometry.py) and training's checkpoint selection
(train/selection.py): a text's profile (words by jieba or a word regex, sentence and paragraph lengths,
punctuation, character n-grams), most-frequent-word (MFW) frequencies, their z-scores, and the Delta distances
on them (Cosine Delta, Burrows' Delta)."""
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import jieba
import numpy as np
from scipy.spatial.distance import pdist, squareform

from core.text import detect_language, split_paragraphs, split_sentences

jieba.setLogLevel(logging.WARNING)
_EN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,]\d+)*")
# Spaces between two non-ASCII characters (as in Chinese text that separates clauses with spaces instead of
# commas) are a punctuation habit; spaces next to ASCII are ordinary word spacing.
_SEPARATOR_SPACE = re.compile(r"(?<=[^\x00-\x7f])[ \u3000]+(?=[^\x00-\x7f\s])")
SPACE_MARK = "<space>"


@dataclass
class Profile:
    lang: str
    words: list[str]
    sentence_lengths: list[int]
    paragraph_lengths: list[int]
    punctuation: Counter = field(default_factory=Counter)
    ngrams: Counter = field(default_factory=Counter)
    chars: int = 0  # non-whitespace characters


def tokenize(text: str, lang: str) -> list[str]:
    if lang == "zh":
        return [w.lower() for w in jieba.lcut(text) if any(ch.isalnum() for ch in w)]
    return [w.lower() for w in _EN_WORD.findall(text)]


def punctuation(text: str) -> Counter:
    marks = Counter(ch for ch in text if unicodedata.category(ch).startswith("P"))
    separators = len(_SEPARATOR_SPACE.findall(text))
    if separators:
        marks[SPACE_MARK] = separators
    return marks


def char_ngrams(text: str, order: int) -> Counter:
    flat = re.sub(r"\s+", " ", text).strip()
    return Counter(flat[i:i + order] for i in range(len(flat) - order + 1))


def profile(text: str, ngram_order: int) -> Profile:
    lang = detect_language(text)
    return Profile(
        lang=lang, words=tokenize(text, lang),
        sentence_lengths=[n for n in (len(tokenize(s, lang)) for s in split_sentences(text)) if n],
        paragraph_lengths=[n for n in (len(tokenize(p, lang)) for p in split_paragraphs(text)) if n],
        punctuation=punctuation(text), ngrams=char_ngrams(text, ngram_order),
        chars=sum(1 for ch in text if not ch.isspace()))


def mattr(words: list[str], window: int) -> float:
    """Moving-average type-token ratio (Covington & McFall 2010); plain TTR for texts shorter than the window."""
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    counts = Counter(words[:window])
    ratios = [len(counts)]
    for i in range(window, len(words)):
        counts[words[i]] += 1
        counts[words[i - window]] -= 1
        if not counts[words[i - window]]:
            del counts[words[i - window]]
        ratios.append(len(counts))
    return float(np.mean(ratios)) / window


def most_frequent_words(profiles: list[Profile], count: int) -> list[str]:
    totals = Counter(w for p in profiles for w in p.words)
    return [w for w, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:count]]


def mfw_frequencies(profiles: list[Profile], mfw: list[str]) -> np.ndarray:
    """Relative frequency of each MFW per text (rows: texts)."""
    rows = []
    for p in profiles:
        counts = Counter(p.words)
        rows.append([counts[w] / len(p.words) if p.words else 0.0 for w in mfw])
    return np.asarray(rows, dtype=float).reshape(len(profiles), len(mfw))


@dataclass
class ZScorer:
    """z-scores of MFW frequencies with the mean and spread of a reference pool (Burrows' Delta)."""
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, frequencies: np.ndarray, ddof: int = 0) -> "ZScorer":
        """ddof=1 gives the sample standard deviation that R's stylo and faststylometry use."""
        # Constant features drop out (z = 0). Tested on the values, not on std > 0: the mean of equal floats
        # can differ from them in the last bit, leaving a tiny std that turns rounding noise into z = ±1.
        constant = np.ptp(frequencies, axis=0) == 0
        return cls(frequencies.mean(axis=0), np.where(constant, np.inf, frequencies.std(axis=0, ddof=ddof)))

    def __call__(self, frequencies: np.ndarray) -> np.ndarray:
        return (frequencies - self.mean) / self.std


def cosine_delta(z: np.ndarray, centroid: np.ndarray) -> float:
    """Cosine Delta (Smith & Aldridge 2011): 1 − cosine similarity of z-score vectors; 0 = same profile."""
    norm = np.linalg.norm(z) * np.linalg.norm(centroid)
    return float(1.0 - z @ centroid / norm) if norm > 0 else 1.0


def burrows_delta(z: np.ndarray, centroid: np.ndarray) -> float:
    """Classic Burrows' Delta (Burrows 2002): mean absolute difference of z-scores; 0 = same profile. Features
    that are constant in the reference pool have z = 0 everywhere and still count in the mean."""
    return float(np.mean(np.abs(z - centroid)))


def cosine_delta_matrix(z: np.ndarray) -> np.ndarray:
    """Cosine Delta between every pair of rows (texts), for clustering; a zero-norm row is at distance 1 from
    every other row, as in cosine_delta, and every row is at distance 0 from itself."""
    distances = squareform(pdist(z, metric="cosine"))
    zero = np.linalg.norm(z, axis=1) == 0
    distances[zero, :] = 1.0
    distances[:, zero] = 1.0
    np.fill_diagonal(distances, 0.0)
    return distances
