"""Authorship attribution on real text: Lu Xun (the author) against Zhu Ziqing (the reference, a second human
writer of the same period), with controls that must come out the other way: Zhu's passages and Lu Xun's
passages with characters shuffled within sentences are not Lu Xun's; Lu Xun's held-out passages are."""
import random
import re
import unicodedata
from pathlib import Path

import pytest

from core.manifest import REPO_ROOT
from core.text import split_sentences
from eval import attribution
from eval.attribution import attribute, feature_sets, masked_tokens, passages, split_reference
from eval.function_words import CHINESE, ENGLISH

CHARS = 200
CLASSIFIERS = ("char_ngram", "topic_masked")
TOPIC_WORDS = ("中国", "社会", "女人", "荷塘", "秦淮河", "阿河")


def corpus(name: str) -> Path:
    """A bundled corpus: the repository's copy, else the shared one beside the repository."""
    inside = REPO_ROOT / "corpora" / name
    return inside if inside.exists() else REPO_ROOT.parent / "shared" / "corpora" / name


def articles(folder: Path) -> dict[str, list[str]]:
    """Article id -> paragraphs, with YAML front matter, Markdown headings and HTML crudely stripped."""
    result = {}
    for path in sorted(folder.rglob("*.md")):
        if path.name == "README.md":
            continue
        text = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"<[^>]+>", "", re.sub(r"<p class[^>]*>.*?</p>", "", text))
        text = re.sub(r"^#.*$", "", text, flags=re.M)
        result[path.parent.name] = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    assert result, f"no articles under {folder}"
    return result


def shuffled_characters(text: str, rng: random.Random) -> str:
    """The caller's control: each sentence's characters in random order."""
    return "".join("".join(rng.sample(sentence, len(sentence))) for sentence in split_sentences(text))


@pytest.fixture(scope="module")
def corpora():
    """Lu Xun split by article into train and held-out; Zhu Ziqing's articles, by size, into the reference,
    a stand-in for base outputs, and a 'system' that writes Zhu's passages (three disjoint sets)."""
    luxun, zhu = articles(corpus("luxun-archive")), articles(corpus("zhuziqing-archive"))
    held_ids = sorted(luxun)[::4]
    by_size = sorted(zhu, key=lambda a: (-sum(map(len, zhu[a])), a))
    role = {a: {1: "base", 4: "zhu"}.get(i % 7, "reference") for i, a in enumerate(by_size)}
    return {
        "author_train": [p for a in sorted(luxun) if a not in held_ids for p in luxun[a]],
        "author_heldout": [p for a in held_ids for p in luxun[a]],
        "reference": {a: zhu[a] for a in by_size if role[a] == "reference"},
        "base": passages([p for a in by_size if role[a] == "base" for p in zhu[a]], CHARS),
        "zhu": passages([p for a in by_size if role[a] == "zhu" for p in zhu[a]], CHARS),
    }


@pytest.fixture(scope="module")
def result(corpora):
    heldout = passages(corpora["author_heldout"], CHARS)
    n = min(len(corpora["base"]), len(corpora["zhu"]))
    outputs = {"base": corpora["base"][:n], "zhu": corpora["zhu"][:n], "luxun": heldout[:n],
               "luxun_degenerate": heldout[:n]}
    rng = random.Random(7)
    controls = {"shuffled_author": [shuffled_characters(p, rng) for p in heldout],
                "author_heldout": heldout}
    found = attribute(corpora["author_train"], corpora["author_heldout"], corpora["reference"], outputs, controls,
                      passage_chars=CHARS, ngram_max=3, folds=4, regularization=1.0, level=0.95, seed=1234,
                      valid={"luxun": [True] * n, "luxun_degenerate": [False] * n})
    for name in CLASSIFIERS:  # shown with -s: the numbers the thresholds below were set from
        c = found["classifiers"][name]
        print(name, "balanced", round(c["balanced_accuracy"], 3), "author", round(c["heldout_author"]["accuracy"], 3),
              "reference", round(c["heldout_reference"]["accuracy"], 3),
              {k: round(v["classifier_share"], 3) for k, v in {**c["systems"], **c["controls"]}.items()})
    return found


def test_passages_are_about_the_target_length_and_cut_overlong_sentences():
    text = "短句。" * 30 + "长" * 500 + "。"
    cut = passages([text], 40)
    assert all(20 <= len(p) < 80 for p in cut)
    assert "".join(cut) == text[:len("".join(cut))]  # in order, nothing inserted
    assert passages(["太短。"], 40) == []


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_both_classifiers_tell_the_author_from_the_reference_author(result, name):
    found = result["classifiers"][name]
    assert found["heldout_author"]["n"] > 50 and found["heldout_reference"]["n"] > 20
    assert found["heldout_author"]["accuracy"] >= 0.9
    assert found["heldout_reference"]["accuracy"] > 0.5  # topic_masked: 0.56 (n=41) with this seed and split
    assert found["balanced_accuracy"] >= 0.7


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_systems_and_controls_are_attributed_by_who_wrote_them(result, name):
    systems, controls = result["classifiers"][name]["systems"], result["classifiers"][name]["controls"]
    assert systems["luxun"]["share"] >= 0.85 and controls["author_heldout"]["share"] >= 0.85
    assert systems["zhu"]["share"] < 0.5
    assert systems["base"]["share"] <= 0.2  # cross-fitted: these were negatives, but not for their own prompt
    # Lu Xun's characters without Lu Xun's order are not Lu Xun: the classifier must use more than vocabulary.
    assert controls["shuffled_author"]["classifier_share"] <= 0.25
    for share in (*systems.values(), *controls.values()):
        assert share["ci_low"] - 1e-9 <= share["share"] <= share["ci_high"] + 1e-9 and share["n"] > 0


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_an_invalid_text_is_never_credited_to_the_author(result, name):
    systems = result["classifiers"][name]["systems"]
    assert systems["luxun_degenerate"]["classifier_share"] >= 0.85
    assert systems["luxun_degenerate"]["attributed_to_author"] == 0 == systems["luxun_degenerate"]["share"]
    assert systems["luxun_degenerate"]["valid"] == 0
    assert systems["luxun"]["share"] == systems["luxun"]["classifier_share"]
    assert systems["zhu"]["valid"] is None and systems["zhu"]["share"] == systems["zhu"]["classifier_share"]


def test_the_reference_is_split_by_article_and_seeded(result, corpora):
    split = result["reference_split"]
    assert not set(split["train_articles"]) & set(split["test_articles"])
    assert sorted(split["train_articles"] + split["test_articles"]) == sorted(corpora["reference"])
    assert len(split["train_articles"]) == (len(corpora["reference"]) + 1) // 2
    assert result["training"]["reference_passages"] == len(
        passages([p for a in split["train_articles"] for p in corpora["reference"][a]], CHARS))
    ids = sorted(corpora["reference"])
    assert split_reference(ids, 1234) == split_reference(list(reversed(ids)), 1234) == (
        split["train_articles"], split["test_articles"])
    assert len({tuple(split_reference(ids, seed)[0]) for seed in range(6)}) > 1
    assert split_reference(["only"], 1) == (["only"], [])


def test_masking_keeps_the_shape_of_the_style_and_drops_the_topic():
    assert masked_tokens("他们以为中国的国民性是不会改变的，然而鲁迅却不这样想。") == masked_tokens(
        "他们以为荷塘的月色是不会改变的，然而朱自清却不这样想。") == [
        "他们", "*", "*", "的", "*", "是", "不会", "*", "的", "，", "然而", "*", "却", "不", "这样", "*", "。"]
    assert masked_tokens("He said that the harbour was quiet, and the gulls were away.") == masked_tokens(
        "He said that the market was empty, and the traders were gone.")


def test_no_content_word_reaches_the_topic_masked_features(corpora):
    zhu = [p for a in corpora["reference"].values() for p in a] + corpora["base"] + corpora["zhu"]
    texts = passages(corpora["author_train"][:300] + zhu, CHARS)
    features = feature_sets(ngram_max=3, regularization=1.0)
    char_vocabulary = features["char_ngram"].vectorizer().fit([features["char_ngram"].document(t) for t in texts]
                                                               ).vocabulary_
    masked = features["topic_masked"]
    vocabulary = masked.vectorizer().fit([masked.document(t) for t in texts]).vocabulary_
    tokens = {token for ngram in vocabulary for token in ngram.split()}
    assert all(word in char_vocabulary for word in TOPIC_WORDS)  # the topic is there to be seen
    assert not any(word in ngram for ngram in vocabulary for word in TOPIC_WORDS)
    marks = tokens - CHINESE - ENGLISH - {attribution.MASK}
    assert marks and all(len(t) == 1 and unicodedata.category(t).startswith("P") for t in marks)


def test_a_base_output_is_never_judged_by_a_classifier_trained_on_it(monkeypatch):
    """Every classifier fitted is recorded with what it trained on and what it judged."""
    models, fit = [], attribution._fit

    def recording_fit(vectorizer, regularization, positives, negatives):
        model, record = fit(vectorizer, regularization, positives, negatives), {"trained": set(negatives),
                                                                               "judged": []}
        judge = model.predict_proba
        model.predict_proba = lambda documents: record["judged"].extend(documents) or judge(documents)
        models.append(record)
        return model

    monkeypatch.setattr(attribution, "_fit", recording_fit)
    author = ["我以为这是不错的，然而并不是。他们说了许多话，我却不信。" * 3 for _ in range(6)]
    base = [("我们去公园散步，看见了许多花" + "，还有" * (i + 1) + "一些草。") * 2 for i in range(6)]  # distinct masked
    result = attribute(author[:4], author[4:], {"one": ["她说那本书很好看，所以我也去买了一本。" * 4]},
                       {"base": base, "adapter": author}, {}, passage_chars=30, ngram_max=2, folds=3,
                       regularization=1.0, level=0.95, seed=1)
    assert result["folds"] == 3 and result["reference_split"] == {"train_articles": ["one"], "test_articles": []}
    for name in CLASSIFIERS:
        base_documents = {feature_sets(2, 1.0)[name].document(t) for t in base}
        assert result["classifiers"][name]["heldout_reference"]["n"] == 0
        assert result["classifiers"][name]["balanced_accuracy"] is None
        judging = [record for record in models if base_documents & set(record["judged"])]
        assert all(not base_documents & record["trained"] & set(record["judged"]) for record in judging)
        assert base_documents <= {document for record in judging for document in record["judged"]}
        assert sum(bool(base_documents & record["trained"]) for record in judging) == 3  # a style model a fold
