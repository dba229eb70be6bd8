"""Stylometric profile of a text and its distance to the author's held-out text.

Words: jieba for Chinese, a word regex for English (chosen per text by core.text.detect_language).
Per text: sentence and paragraph lengths (words), punctuation marks per 1,000 characters (a space between
non-Latin characters counts as a separator mark), most-frequent-word (MFW) frequencies, MATTR and the
character n-gram distribution. Distances to the author: Cosine Delta on MFW z-scores (Burrows' Delta alongside,
and text-by-text Cosine Delta matrices for clustering figures) and Jensen–Shannon divergence of character n-grams
and of punctuation. The primitives (profiles, MFW z-scores, Delta) are core/stylometry.py's, shared with training's
checkpoint selection."""
from collections import Counter

import numpy as np
from scipy.spatial.distance import jensenshannon

from core.seed import stable_unit
from core.stylometry import (SPACE_MARK, Profile, ZScorer, burrows_delta, char_ngrams, cosine_delta,  # noqa: F401
                             cosine_delta_matrix, mattr, mfw_frequencies, most_frequent_words, profile, punctuation,
                             tokenize)
from eval import stats


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


# Rows of the stylometry table: distances to the author's held-out text, or raw values of the measure itself
# (compared through |value − the author's mean|).
MEASURE_KINDS = {"cosine_delta": "distance", "jsd_char_ngrams": "distance", "jsd_punctuation": "distance",
                 "mattr": "raw value", "mean_sentence_length": "raw value"}
SYSTEMS = ("base", "adapter", "fewshot")
COMPARISONS = (("adapter", "base"), ("adapter", "fewshot"))
# Texts per group in the clustering figures: enough to see a group, few enough to read the labels.
FIGURE_ARTICLES = 10
FIGURE_OUTPUT_DOCUMENTS = 3


def section(train_chunks, heldout_chunks, reference_chunks, outputs: dict[str, list[str]], cfg, bootstrap,
            flagged: dict[str, bool], copies: dict[str, bool], seed: int) -> tuple[dict, dict]:
    """Per-group measures, the adapter's comparisons with base and few-shot (Wilcoxon, Holm over the whole
    family, notes where a side fails the guard or copies), and the raw material of the figures."""
    def profiles(texts: list[str]) -> list[Profile]:
        return [profile(t, cfg.ngram_order) for t in texts]

    train_p = profiles([c.text for c in train_chunks])
    target = profiles([c.text for c in heldout_chunks])
    reference_p = profiles([c.text for c in reference_chunks])
    groups = {"author_heldout": target, "reference": reference_p, **{name: profiles(outputs[name]) for name in SYSTEMS}}
    mfw = most_frequent_words(train_p, cfg.mfw_count)
    zscore = ZScorer.fit(mfw_frequencies(train_p + reference_p, mfw))
    target_z = zscore(mfw_frequencies(target, mfw))
    measures = {name: text_measures(p, zscore(mfw_frequencies(p, mfw)), target_z, target, cfg.mattr_window,
                                    leave_one_out=name == "author_heldout")
                for name, p in groups.items()}
    author_mean = {m: float(np.mean(v)) for m, v in measures["author_heldout"].items()}

    def distance(group: str, measure: str) -> np.ndarray:
        values = np.asarray(measures[group][measure])
        return np.abs(values - author_mean[measure]) if MEASURE_KINDS[measure] == "raw value" else values

    comparisons = {}
    for x, y in COMPARISONS:
        comparisons[f"{x}_vs_{y}"] = {}
        for measure in MEASURE_KINDS:
            difference = bootstrap((distance(x, measure), distance(y, measure)), stats.mean_difference, paired=True)
            closer = x if difference["estimate"] < 0 else y if difference["estimate"] > 0 else "tie"
            notes = [f"{side} fails the degenerate-text guard: not interpretable" for side in (x, y) if flagged[side]]
            if closer in copies and copies[closer]:
                notes.append(f"{closer} copies from the training text above the author's rate")
            comparisons[f"{x}_vs_{y}"][measure] = {
                "difference": difference, "closer": closer, "interpretable": not (flagged[x] or flagged[y]),
                "ci_excludes_zero": (difference["ci_high"] is not None and difference["ci_high"] < 0)
                or (difference["ci_low"] is not None and difference["ci_low"] > 0),
                "wilcoxon": stats.wilcoxon(distance(x, measure), distance(y, measure)), "notes": notes}
    adjusted = stats.holm({(pair, m): c["wilcoxon"]["p_value"] for pair, ms in comparisons.items() for m, c in ms.items()})
    for (pair, measure), p in adjusted.items():
        comparisons[pair][measure]["p_holm"] = p

    sentence_lengths = {g: [n for p in ps for n in p.sentence_lengths] for g, ps in groups.items()}
    paragraph_lengths = {g: [n for p in ps for n in p.paragraph_lengths] for g, ps in groups.items()}
    frequencies = {g: mfw_frequencies(ps, mfw).mean(axis=0).tolist() if ps else [0.0] * len(mfw)
                   for g, ps in groups.items()}
    punctuation_by_group = {g: punctuation_rates(ps) for g, ps in groups.items()}
    tested = [g for g in groups if g != "author_heldout"]
    metrics = {
        "mfw": mfw, "measure_kinds": MEASURE_KINDS,
        "texts": {g: len(ps) for g, ps in groups.items()},
        "groups": {g: {m: bootstrap((v,), stats.mean) for m, v in ms.items()} for g, ms in measures.items()},
        "comparisons": comparisons,
        "sentence_length_tests": {g: stats.two_sample(sentence_lengths[g], sentence_lengths["author_heldout"])
                                  for g in tested},
        "paragraph_length_tests": {g: stats.two_sample(paragraph_lengths[g], paragraph_lengths["author_heldout"])
                                   for g in tested},
        "sentence_length_summary": {g: stats.summary(v) for g, v in sentence_lengths.items()},
        "paragraph_length_summary": {g: stats.summary(v) for g, v in paragraph_lengths.items()},
        "punctuation_per_1000_chars": punctuation_by_group,
        "mfw_frequency": frequencies,
    }
    documents = figure_documents(train_chunks, heldout_chunks, reference_chunks, outputs, mfw, cfg.ngram_order, seed)
    return metrics, {"sentence_lengths": sentence_lengths, "punctuation": punctuation_by_group, "mfw": mfw,
                     "frequencies": frequencies, "documents": documents}


def figure_documents(train_chunks, heldout_chunks, reference_chunks, outputs: dict[str, list[str]], mfw: list[str],
                     ngram_order: int, seed: int) -> dict:
    """Documents for the PCA and the dendrogram, as stylo draws them: whole articles of the author (a seeded
    sample of train, the held-out ones) and of the reference author, and each system's outputs pooled into a
    few documents (one short generation alone has too few words for stable MFW frequencies). z-scores over
    these documents."""
    def articles(chunks, prefix: str, group: str) -> list[tuple[str, str, str]]:
        texts: dict[str, list[str]] = {}
        titles = {}
        for c in chunks:
            texts.setdefault(c.article_id, []).append(c.text)
            titles[c.article_id] = c.title
        chosen = sorted(texts, key=lambda a: (stable_unit(seed, "figure", a), a))[:FIGURE_ARTICLES]
        return [(f"{prefix}{titles[a]}", group, "\n\n".join(texts[a])) for a in sorted(chosen)]

    labels = {"base": "基座", "adapter": "适配器", "fewshot": "少样本"}
    documents = (articles(train_chunks, "训·", "author_train") + articles(heldout_chunks, "留·", "author_heldout")
                 + articles(reference_chunks, "参·", "reference"))
    for name in SYSTEMS:
        pools = [outputs[name][k::FIGURE_OUTPUT_DOCUMENTS] for k in range(FIGURE_OUTPUT_DOCUMENTS)]
        documents += [(f"{labels[name]} #{k + 1}", name, "\n\n".join(pool)) for k, pool in enumerate(pools) if pool]
    frequencies = mfw_frequencies([profile(text, ngram_order) for _, _, text in documents], mfw)
    return {"labels": [d[0] for d in documents], "groups": [d[1] for d in documents],
            "z": ZScorer.fit(frequencies)(frequencies)}
