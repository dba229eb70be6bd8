"""Stylometric profile of a text and its distance to the author's held-out text.

Words: jieba for Chinese, a word regex for English (chosen per text by core.text.detect_language).
Per text: sentence and paragraph lengths (words), punctuation marks per 1,000 characters (a space between
non-Latin characters counts as a separator mark), most-frequent-word (MFW) frequencies, MATTR and the
character n-gram distribution. Distances to the author: Cosine Delta on MFW z-scores and Jensen–Shannon
divergence of character n-grams and of punctuation."""
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

import jieba
import numpy as np
from scipy.spatial.distance import jensenshannon

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
    def fit(cls, frequencies: np.ndarray) -> "ZScorer":
        std = frequencies.std(axis=0)
        return cls(frequencies.mean(axis=0), np.where(std > 0, std, np.inf))  # constant features drop out

    def __call__(self, frequencies: np.ndarray) -> np.ndarray:
        return (frequencies - self.mean) / self.std


def cosine_delta(z: np.ndarray, centroid: np.ndarray) -> float:
    """Cosine Delta (Smith & Aldridge 2011): 1 − cosine similarity of z-score vectors; 0 = same profile."""
    norm = np.linalg.norm(z) * np.linalg.norm(centroid)
    return float(1.0 - z @ centroid / norm) if norm > 0 else 1.0


def jsd(counts: Counter, reference: Counter) -> float:
    """Jensen–Shannon divergence in bits (0 = same distribution, 1 = disjoint); 1 for an empty text."""
    if not counts or not reference:
        return 1.0
    keys = sorted(set(counts) | set(reference))
    p = np.array([counts.get(k, 0) for k in keys], dtype=float)
    q = np.array([reference.get(k, 0) for k in keys], dtype=float)
    return float(jensenshannon(p, q, base=2) ** 2)


def text_measures(profiles: list[Profile], z: np.ndarray, target_z: np.ndarray, target: list[Profile],
                  mattr_window: int, leave_one_out: bool = False) -> dict[str, list[float]]:
    """Per-text measures against the author's held-out texts (`target`). With leave_one_out the texts are
    the target itself and each is compared with the others only (the author's own spread)."""
    target_ngrams = sum((p.ngrams for p in target), Counter())
    target_punct = sum((p.punctuation for p in target), Counter())
    measures: dict[str, list[float]] = {"cosine_delta": [], "jsd_char_ngrams": [], "jsd_punctuation": [],
                                        "mattr": [], "mean_sentence_length": []}
    for i, p in enumerate(profiles):
        if leave_one_out:
            centroid = (target_z.sum(axis=0) - target_z[i]) / max(len(target_z) - 1, 1)
            ngram_ref, punct_ref = target_ngrams - p.ngrams, target_punct - p.punctuation
        else:
            centroid, ngram_ref, punct_ref = target_z.mean(axis=0), target_ngrams, target_punct
        measures["cosine_delta"].append(cosine_delta(z[i], centroid))
        measures["jsd_char_ngrams"].append(jsd(p.ngrams, ngram_ref))
        measures["jsd_punctuation"].append(jsd(p.punctuation, punct_ref))
        measures["mattr"].append(mattr(p.words, mattr_window))
        measures["mean_sentence_length"].append(float(np.mean(p.sentence_lengths)) if p.sentence_lengths else 0.0)
    return measures


def punctuation_rates(profiles: list[Profile]) -> dict[str, float]:
    """Marks per 1,000 non-whitespace characters over a group of texts."""
    total = sum((p.punctuation for p in profiles), Counter())
    chars = sum(p.chars for p in profiles)
    return {mark: 1000.0 * n / chars for mark, n in sorted(total.items())} if chars else {}
