"""Authorship attribution: a logistic regression on character n-gram TF-IDF, trained on the author's train
text (positive) against non-author text (the base model's generations and the REFERENCE author). It must first
recognise the author's held-out real text; then it reports the share of each system's generations it
attributes to the author.

Base generations are both training negatives and a system under test, so predictions are cross-fitted:
prompts are split into folds, and a prompt's outputs are judged by a classifier trained without that
prompt's base output. Author and reference texts are cut into passages of similar length to generations so
length cannot give the class away."""
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from statsmodels.stats.proportion import proportion_confint

from core.seed import stable_unit
from core.text import split_sentences


def passages(texts: list[str], chars: int) -> list[str]:
    """Consecutive sentences joined until a passage reaches `chars` characters; a short tail joins nothing."""
    result = []
    for text in texts:
        current = ""
        for sentence in split_sentences(text):
            current += sentence
            if len(current.strip()) >= chars:
                result.append(current.strip())
                current = ""
        if len(current.strip()) >= chars // 2:
            result.append(current.strip())
    return result


def _classifier(ngram_max: int, regularization: float):
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, ngram_max), sublinear_tf=True),
        LogisticRegression(C=regularization, class_weight="balanced", max_iter=5000))


def _fit(positives: list[str], negatives: list[str], ngram_max: int, regularization: float):
    return _classifier(ngram_max, regularization).fit(positives + negatives,
                                                      [1] * len(positives) + [0] * len(negatives))


def _share(predicted: np.ndarray, level: float) -> dict:
    n, k = len(predicted), int(predicted.sum())
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson") if n else (None, None)
    return {"n": n, "attributed_to_author": k, "share": k / n if n else None, "ci_low": low, "ci_high": high}


def attribute(author_train: list[str], author_heldout: list[str], reference: list[str],
              outputs: dict[str, list[str]], passage_chars: int, ngram_max: int, folds: int,
              regularization: float, level: float, seed: int) -> dict:
    """`outputs` maps system name to its generations, aligned by prompt; it must hold "base"."""
    train_pos = passages(author_train, passage_chars)
    test_pos = passages(author_heldout, passage_chars)
    ref_passages = passages(reference, passage_chars)
    ref_test = {i for i, _ in enumerate(ref_passages) if stable_unit(seed, "reference-test", i) < 0.5}
    ref_train = [p for i, p in enumerate(ref_passages) if i not in ref_test]
    ref_test_texts = [p for i, p in enumerate(ref_passages) if i in ref_test]
    base = outputs["base"]

    n_prompts = len(base)
    folds = max(1, min(folds, n_prompts))
    order = sorted(range(n_prompts), key=lambda i: stable_unit(seed, "attribution-fold", i))
    fold_of = {prompt: rank % folds for rank, prompt in enumerate(order)}
    predicted = {name: np.zeros(n_prompts, dtype=int) for name in outputs}
    probability = {name: np.zeros(n_prompts) for name in outputs}
    for fold in range(folds):
        held = [i for i in range(n_prompts) if fold_of[i] == fold]
        negatives = ref_train + [base[i] for i in range(n_prompts) if fold_of[i] != fold]
        model = _fit(train_pos, negatives, ngram_max, regularization)
        for name, texts in outputs.items():
            proba = model.predict_proba([texts[i] for i in held])[:, 1]
            probability[name][held] = proba
            predicted[name][held] = proba >= 0.5

    full = _fit(train_pos, ref_train + base, ngram_max, regularization)
    author_hits = full.predict(test_pos) if test_pos else np.zeros(0, dtype=int)
    ref_hits = full.predict(ref_test_texts) if ref_test_texts else np.zeros(0, dtype=int)
    nonauthor_correct = np.concatenate([1 - ref_hits, 1 - predicted["base"]])
    author_recall = float(author_hits.mean()) if len(author_hits) else None
    nonauthor_recall = float(nonauthor_correct.mean()) if len(nonauthor_correct) else None
    return {
        "classifier": f"logistic regression on char 1-{ngram_max}-gram TF-IDF, C={regularization}",
        "folds": folds,
        "training": {"author_passages": len(train_pos), "reference_passages": len(ref_train),
                     "base_generations": n_prompts},
        "heldout_author": {"n": len(author_hits), "accuracy": author_recall},
        "heldout_reference": {"n": len(ref_hits),
                              "accuracy": float(1 - ref_hits.mean()) if len(ref_hits) else None},
        "balanced_accuracy": (author_recall + nonauthor_recall) / 2
        if author_recall is not None and nonauthor_recall is not None else None,
        "systems": {name: {**_share(predicted[name], level), "mean_probability": float(probability[name].mean())}
                    for name in sorted(outputs)},
    }
