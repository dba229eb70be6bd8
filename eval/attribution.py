"""Authorship attribution: is a generation the author's, as opposed to another human writer's or the base model's?

Each classifier is a pair of logistic regressions on the same features, and a text is the author's only when both
say so (its author score is the smaller of their two probabilities):
- style: the author's train passages against a second human author, the REFERENCE, and the base model's
  generations. Without a human negative it would only learn "unlike base", so the reference's articles are split
  by a seeded hash: half train, the other half is a held-out test set that, with the author's held-out text,
  shows two human styles are told apart (balanced_accuracy).
- order: the author's train passages against the same passages with their words shuffled within sentences. A
  passage and its shuffled twin share vocabulary and word frequencies, so only order (phrasing, syntax) separates
  them. Without it both classifiers credit the author with word salad in the author's vocabulary, which a
  fine-tuned adapter can produce: on Lu Xun against Zhu Ziqing, 99 % of Lu Xun passages with characters shuffled
  within sentences were attributed to Lu Xun. (Pooling the shuffled twins into the style negatives instead
  cancels the author's word frequencies there, and the topic-masked classifier fell to chance on the reference.)
Author and reference texts are cut into passages about as long as a generation, so length cannot give the class
away.

Two classifiers, both reported:
- char_ngram: character n-gram TF-IDF, strong but it also sees the subject matter (names, places, themes);
- topic_masked: word n-grams over the text with every word outside a closed list of function words masked,
  punctuation kept (text distortion, Stamatatos 2017; eval/function_words.py), so topic cannot carry it.
N-grams seen in a single training passage are dropped (min_df=2): they are mostly names and cannot generalise.

Base generations are both style negatives and a system under test, so predictions are cross-fitted: prompts are
split into folds, and a prompt's outputs are judged by a style model trained without that prompt's base output.
Held-out texts and controls (e.g. the author's held-out passages with characters shuffled) are judged by the style
model trained on all negatives; they never train. Where the caller gives a validity verdict per text (fluent, not
degenerate), a text counts as the author's only if it is valid and classified as the author's; the classifier's
raw share is reported beside it."""
import logging
import random
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import jieba
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from statsmodels.stats.proportion import proportion_confint

from core.seed import stable_unit
from core.text import split_sentences
from eval.function_words import CHINESE, ENGLISH

jieba.setLogLevel(logging.WARNING)
MASK = "*"
MASKED_NGRAM_MAX = 3
NEGATIVES = "reference author passages + base outputs"
ORDER_NEGATIVES = "author train passages with words shuffled within sentences"
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# A run of ideographs (cut into words by jieba), an English word, a number, or any other single character.
_RUN = re.compile(_CJK_RUN.pattern + r"|[A-Za-z]+(?:['’][A-Za-z]+)*|\d+|\S")


def passages(texts: list[str], chars: int) -> list[str]:
    """Consecutive whole sentences joined until a passage reaches `chars` characters (a sentence longer than
    that is cut into `chars`-long pieces); a tail shorter than chars/2 is dropped. Passages never span texts."""
    result = []
    for text in texts:
        current = ""
        for sentence in split_sentences(text):
            for start in range(0, len(sentence), chars):
                current += sentence[start:start + chars]
                if len(current.strip()) >= chars:
                    result.append(current.strip())
                    current = ""
        if len(current.strip()) >= chars // 2:
            result.append(current.strip())
    return result


def shuffled_words(text: str, rng: random.Random) -> str:
    """The text with its words (jieba's cut) shuffled within each sentence: the author's vocabulary, no order."""
    shuffled = []
    for sentence in split_sentences(text):
        words = jieba.lcut(sentence, HMM=False)
        rng.shuffle(words)
        shuffled += words
    return "".join(shuffled)


def masked_tokens(text: str) -> list[str]:
    """The text as a token sequence in which function words and punctuation marks stay and every other word
    becomes MASK: jieba cuts Chinese (dictionary words only, so it never glues a particle to an unknown
    neighbour), a regex English; whitespace is dropped."""
    words = (word for run in _RUN.findall(text)
             for word in (jieba.lcut(run, HMM=False) if _CJK_RUN.fullmatch(run) else [run]))
    return [_mask(word) for word in words]


def _mask(word: str) -> str:
    if word in CHINESE or unicodedata.category(word[0]).startswith("P"):  # a mark is a one-character run
        return word
    return word.lower() if word.lower() in ENGLISH else MASK


@dataclass(frozen=True)
class Features:
    """What one classifier reads: `document` turns a text into the string its TF-IDF vectorizer analyses."""
    description: str
    document: Callable[[str], str]
    vectorizer: Callable[[], TfidfVectorizer]


def feature_sets(ngram_max: int, regularization: float) -> dict[str, Features]:
    models = (f"the author's when a style and an order logistic regression (class-balanced, C={regularization}) "
              "both say so")
    return {
        "char_ngram": Features(
            f"character 1-{ngram_max}-gram TF-IDF; {models}",
            lambda text: text,
            lambda: TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), sublinear_tf=True, min_df=2)),
        "topic_masked": Features(
            f"word 1-{MASKED_NGRAM_MAX}-gram TF-IDF over function words and punctuation, every other word "
            f"masked as '{MASK}'; {models}",
            lambda text: " ".join(masked_tokens(text)),
            lambda: TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                                    ngram_range=(1, MASKED_NGRAM_MAX), sublinear_tf=True, min_df=2)),
    }


def split_reference(articles: Iterable[str], seed: int) -> tuple[list[str], list[str]]:
    """Reference article ids in a seeded hash order: the first half (rounded up) trains, the rest is held out,
    so no article is on both sides and a single article still gives training negatives."""
    order = sorted(articles, key=lambda article: (stable_unit(seed, "reference-split", article), article))
    cut = (len(order) + 1) // 2
    return sorted(order[:cut]), sorted(order[cut:])


def prompt_folds(n_prompts: int, folds: int, seed: int) -> np.ndarray:
    """The cross-fitting fold of each prompt: prompts in a seeded hash order, dealt round-robin."""
    order = sorted(range(n_prompts), key=lambda i: stable_unit(seed, "attribution-fold", i))
    fold_of = np.zeros(n_prompts, dtype=int)
    fold_of[order] = np.arange(n_prompts) % max(1, min(folds, n_prompts))
    return fold_of


def _fit(vectorizer: TfidfVectorizer, regularization: float, positives: list[str], negatives: list[str]) -> Pipeline:
    return make_pipeline(vectorizer, LogisticRegression(C=regularization, class_weight="balanced", max_iter=5000)
                         ).fit(positives + negatives, [1] * len(positives) + [0] * len(negatives))


def _author_probability(model: Pipeline, documents: list[str]) -> np.ndarray:
    return model.predict_proba(documents)[:, 1] if documents else np.zeros(0)


def _proportion(hits: np.ndarray, level: float) -> tuple[float | None, float | None, float | None]:
    """Share of True in `hits` with its Wilson interval (None for an empty sample)."""
    n, k = len(hits), int(np.sum(hits))
    if not n:
        return None, None, None
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    return k / n, float(low), float(high)


def _accuracy(correct: np.ndarray, level: float) -> dict:
    accuracy, low, high = _proportion(correct, level)
    return {"n": len(correct), "accuracy": accuracy, "ci_low": low, "ci_high": high}


def _shares(probability: np.ndarray, valid: list[bool] | None, level: float) -> dict:
    """The classifier's raw share of author verdicts, and the share credited to the author: a text marked
    invalid (degenerate) is never the author's. mean_probability is the mean author score."""
    classified = probability >= 0.5
    credited = classified & np.asarray(valid, dtype=bool) if valid is not None else classified
    share, low, high = _proportion(credited, level)
    raw, raw_low, raw_high = _proportion(classified, level)
    return {"n": len(probability), "attributed_to_author": int(credited.sum()), "share": share,
            "ci_low": low, "ci_high": high, "valid": None if valid is None else int(np.sum(valid)),
            "classifier_share": raw, "classifier_ci_low": raw_low, "classifier_ci_high": raw_high,
            "mean_probability": float(probability.mean()) if len(probability) else None}


def _cross_fitted(features: Features, regularization: float, positives: list[str], negatives: list[str],
                  outputs: dict[str, list[str]], fold_of: np.ndarray) -> dict[str, np.ndarray]:
    """Style probability of every output; prompt i's outputs are judged by a model whose training negatives
    hold every base output except those of prompt i's fold."""
    probability = {name: np.zeros(len(fold_of)) for name in outputs}
    for fold in np.unique(fold_of):
        held = np.flatnonzero(fold_of == fold)
        base_train = [outputs["base"][i] for i in np.flatnonzero(fold_of != fold)]
        model = _fit(features.vectorizer(), regularization, positives, negatives + base_train)
        for name, documents in outputs.items():
            probability[name][held] = _author_probability(model, [documents[i] for i in held])
    return probability


def _score(order: Pipeline, documents: list[str], style_probability: np.ndarray) -> np.ndarray:
    """Author score: the smaller of the style and the order probability, so that a text is the author's
    (score >= 0.5) only when both models say so."""
    return np.minimum(style_probability, _author_probability(order, documents))


def _classify(features: Features, regularization: float, texts: dict[str, list[str]],
              outputs: dict[str, list[str]], controls: dict[str, list[str]], fold_of: np.ndarray,
              valid: dict[str, list[bool]], level: float) -> dict:
    """One classifier's held-out accuracies and the shares it gives systems and controls."""
    document = {name: [features.document(t) for t in items] for name, items in texts.items()}
    systems = {name: [features.document(t) for t in items] for name, items in outputs.items()}
    positives, negatives = document["author_train"], document["reference_train"]
    order = _fit(features.vectorizer(), regularization, positives, document["author_shuffled"])
    style = _fit(features.vectorizer(), regularization, positives, negatives + systems["base"])
    cross_fitted = _cross_fitted(features, regularization, positives, negatives, systems, fold_of)

    def score(documents: list[str]) -> np.ndarray:
        return _score(order, documents, _author_probability(style, documents))

    author = _accuracy(score(document["author_heldout"]) >= 0.5, level)
    reference = _accuracy(score(document["reference_test"]) < 0.5, level)
    return {
        "description": features.description,
        "heldout_author": author,
        "heldout_reference": reference,
        "balanced_accuracy": (author["accuracy"] + reference["accuracy"]) / 2
        if author["n"] and reference["n"] else None,
        "systems": {name: _shares(_score(order, systems[name], cross_fitted[name]), valid.get(name), level)
                    for name in sorted(outputs)},
        "controls": {name: _shares(score([features.document(t) for t in items]), valid.get(name), level)
                     for name, items in sorted(controls.items())},
    }


def _check_lengths(outputs: dict[str, list[str]], controls: dict[str, list[str]],
                   valid: dict[str, list[bool]]) -> None:
    if "base" not in outputs:
        raise ValueError("attribution needs the base model's outputs (system 'base'): they are negatives")
    for name, texts in outputs.items():
        if len(texts) != len(outputs["base"]):
            raise ValueError(f"system {name!r} has {len(texts)} outputs, base {len(outputs['base'])}: "
                             "outputs must be aligned by prompt")
    for name, verdicts in valid.items():
        texts = outputs.get(name, controls.get(name))
        if texts is None or len(verdicts) != len(texts):
            raise ValueError(f"validity verdicts for {name!r} do not match its texts one to one")


def attribute(author_train: list[str], author_heldout: list[str], reference: dict[str, list[str]],
              outputs: dict[str, list[str]], controls: dict[str, list[str]], passage_chars: int,
              ngram_max: int, folds: int, regularization: float, level: float, seed: int,
              valid: dict[str, list[bool]] | None = None) -> dict:
    """`reference` maps a reference article id to its chunk texts; `outputs` maps a system name to its
    generations, aligned by prompt, and must hold "base"; `controls` are named texts judged like systems;
    `valid` maps a system or control name to a verdict per text (True: fluent, not degenerate)."""
    valid = valid or {}
    _check_lengths(outputs, controls, valid)
    train_articles, test_articles = split_reference(reference, seed)
    author_passages, rng = passages(author_train, passage_chars), random.Random(seed)
    texts = {"author_train": author_passages,
             "author_shuffled": [shuffled_words(p, rng) for p in author_passages],
             "author_heldout": passages(author_heldout, passage_chars),
             "reference_train": passages([c for a in train_articles for c in reference[a]], passage_chars),
             "reference_test": passages([c for a in test_articles for c in reference[a]], passage_chars)}
    fold_of = prompt_folds(len(outputs["base"]), folds, seed)
    return {
        "negatives": NEGATIVES,
        "order_negatives": ORDER_NEGATIVES,
        "passage_chars": passage_chars,
        "folds": int(fold_of.max()) + 1 if len(fold_of) else 0,
        "reference_split": {"train_articles": train_articles, "test_articles": test_articles},
        "training": {"author_passages": len(texts["author_train"]),
                     "reference_passages": len(texts["reference_train"]),
                     "shuffled_author_passages": len(texts["author_shuffled"]),
                     "base_generations": len(outputs["base"])},
        "classifiers": {name: _classify(features, regularization, texts, outputs, controls, fold_of, valid, level)
                        for name, features in feature_sets(ngram_max, regularization).items()},
    }
