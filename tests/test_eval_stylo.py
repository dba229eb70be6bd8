"""Stylometry against a peer implementation (faststylometry's Burrows' Delta, scipy's cosine distance), the
small-n statistics (BCa fallback, Holm) and the stylo-like figures (MFW PCA, Cosine Delta dendrogram)."""
import warnings

import numpy as np
import pytest
from faststylometry import Corpus, calculate_burrows_delta
from scipy.cluster.hierarchy import fcluster
from scipy.spatial.distance import cosine

from eval import stats, stylometry

FUNCTION_WORDS = ["的", "了", "是", "我", "不", "在", "他", "这", "也", "就", "着", "说", "和", "那"]
MFW_COUNT = 10


def _words(rng: np.random.Generator, size: int, filler: str) -> list[str]:
    """A made-up text: function words with text-specific rates plus one filler word that never makes the MFW."""
    counts = rng.multinomial(size, rng.dirichlet(np.ones(len(FUNCTION_WORDS))))
    return [w for w, n in zip(FUNCTION_WORDS, counts) for _ in range(n)] + [filler] * 15


def _profile(words: list[str]) -> stylometry.Profile:
    return stylometry.Profile(lang="zh", words=words, sentence_lengths=[], paragraph_lengths=[])


@pytest.fixture(scope="module")
def corpora():
    """Known authors (鲁迅 with two books, pooled as faststylometry pools an author's books) and two unknown texts."""
    rng = np.random.default_rng(7)
    train = {"鲁迅": [_words(rng, 300, "呐喊"), _words(rng, 250, "彷徨")], "朱自清": [_words(rng, 400, "背影")],
             "老舍": [_words(rng, 350, "骆驼")], "冰心": [_words(rng, 300, "繁星")]}
    test = {"甲": _words(rng, 300, "无名"), "乙": _words(rng, 280, "无题")}
    return train, test


def _their_deltas(train: dict, test: dict):
    """faststylometry: MFW from the train corpus, z-scores with the mean and sample sd (ddof=1) of the known
    authors' pooled relative frequencies, Delta = mean |z_author − z_text|. No token filter (its default
    regex keeps only Latin words)."""
    books = [(author, f"b{i}", words) for author, texts in train.items() for i, words in enumerate(texts)]
    known = Corpus(*map(list, zip(*books)))
    unknown = Corpus(["佚名"] * len(test), list(test), list(test.values()))
    deltas = calculate_burrows_delta(known, unknown, vocab_size=MFW_COUNT, tok_match_pattern=None)
    return deltas, known.top_tokens


def _our_z(train: dict, test: dict, ddof: int = 1):
    """Ours with the same conventions: one pooled profile per known author (authors sorted, as their index),
    the same MFW, the reference pool = the known authors, sample sd."""
    authors = sorted(train)
    pooled = [_profile([w for words in train[a] for w in words]) for a in authors]
    mfw = stylometry.most_frequent_words(pooled, MFW_COUNT)
    zscore = stylometry.ZScorer.fit(stylometry.mfw_frequencies(pooled, mfw), ddof=ddof)
    unknown = [_profile(words) for words in test.values()]
    frequencies = stylometry.mfw_frequencies
    return authors, mfw, zscore(frequencies(pooled, mfw)), zscore(frequencies(unknown, mfw))


def test_burrows_delta_matches_faststylometry(corpora):
    train, test = corpora
    theirs, their_mfw = _their_deltas(train, test)
    authors, mfw, author_z, text_z = _our_z(train, test)
    assert mfw == their_mfw and list(theirs.index) == authors
    for t, name in enumerate(test):
        for a, author in enumerate(authors):
            assert stylometry.burrows_delta(text_z[t], author_z[a]) == pytest.approx(
                theirs.loc[author, f"佚名 - {name}"], rel=0, abs=1e-9)


def test_peer_check_is_sensitive_to_frequencies_and_to_the_sd_convention(corpora):
    train, test = corpora
    theirs, _ = _their_deltas(train, test)
    expected = theirs.loc["鲁迅", "佚名 - 甲"]
    perturbed = dict(test, 甲=test["甲"] + ["的"])  # one more 的 in text 甲
    authors, _, author_z, text_z = _our_z(train, perturbed)
    assert abs(stylometry.burrows_delta(text_z[0], author_z[authors.index("鲁迅")]) - expected) > 1e-6
    authors, _, author_z, text_z = _our_z(train, test, ddof=0)
    assert abs(stylometry.burrows_delta(text_z[0], author_z[authors.index("鲁迅")]) - expected) > 1e-6


def test_cosine_delta_matches_scipy_cosine_distance(corpora):
    _, _, author_z, text_z = _our_z(*corpora)
    z = np.vstack([author_z, text_z])
    matrix = stylometry.cosine_delta_matrix(z)
    for i in range(len(z)):
        for j in range(len(z)):
            if i != j:
                assert stylometry.cosine_delta(z[i], z[j]) == pytest.approx(cosine(z[i], z[j]), abs=1e-12)
                assert matrix[i, j] == pytest.approx(cosine(z[i], z[j]), abs=1e-12)
    assert np.all(np.diag(matrix) == 0) and np.allclose(matrix, matrix.T)


def test_cosine_delta_matrix_treats_zero_rows_like_cosine_delta():
    z = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]])
    matrix = stylometry.cosine_delta_matrix(z)
    assert matrix[0, 1] == matrix[1, 2] == stylometry.cosine_delta(z[0], z[1]) == 1.0
    assert matrix[1, 1] == 0.0 and not np.isnan(matrix).any()


def test_zscorer_keeps_population_sd_by_default():
    frequencies = np.array([[0.1, 0.2], [0.3, 0.2], [0.5, 0.2]])
    assert stylometry.ZScorer.fit(frequencies).std[0] == pytest.approx(np.std([0.1, 0.3, 0.5]))
    assert stylometry.ZScorer.fit(frequencies, ddof=1).std[0] == pytest.approx(0.2)
    assert np.all(stylometry.ZScorer.fit(frequencies)(frequencies)[:, 1] == 0)  # constant feature drops out


def _ci(values, method="BCa", seed=3):
    return stats.bootstrap_ci((values,), stats.mean, False, 300, 0.95, method, np.random.default_rng(seed))


def test_bootstrap_uses_bca_from_ten_values_and_percentile_below():
    values = np.random.default_rng(0).normal(size=12)
    large, small = _ci(values), _ci(values[:9])
    assert (large["method"], large["n"]) == ("BCa", 12) and (small["method"], small["n"]) == ("percentile", 9)
    assert large == _ci(values) and large["ci_low"] < large["estimate"] < large["ci_high"]
    assert small["ci_low"] < small["estimate"] < small["ci_high"]
    assert _ci(values[:9], "percentile") == small  # the fallback is scipy's percentile interval, same rng
    lowered = stats.bootstrap_ci((values[:9],), stats.mean, False, 300, 0.95, "BCa", np.random.default_rng(3),
                                 min_n_bca=5)
    assert lowered["method"] == "BCa"
    assert _ci([2.0])["method"] is None


def test_bootstrap_falls_back_when_bca_bounds_are_not_finite():
    constant = _ci([4.0] * 12)  # degenerate jackknife: BCa bounds are NaN
    assert constant["method"] == "percentile" and constant["ci_low"] == constant["ci_high"] == 4.0


def test_holm_matches_hand_computation_and_never_lowers_a_p_value():
    raw = {"mattr": 0.04, "cosine_delta": 0.01, "jsd": None, "punctuation": 0.03, "sentence": 0.2}
    # sorted 0.01, 0.03, 0.04, 0.2 (m = 4): 4·0.01, max(·, 3·0.03), max(·, 2·0.04), max(·, 1·0.2)
    expected = {"mattr": 0.09, "cosine_delta": 0.04, "jsd": None, "punctuation": 0.09, "sentence": 0.2}
    adjusted = stats.holm(raw)
    assert list(adjusted) == list(raw) and adjusted["jsd"] is None
    assert all(adjusted[k] == pytest.approx(v) for k, v in expected.items() if v is not None)
    assert all(adjusted[k] >= p for k, p in raw.items() if p is not None)
    assert stats.holm({"a": None}) == {"a": None} and stats.holm({}) == {}


def _two_styles(per_group: int = 5) -> tuple[np.ndarray, list[str]]:
    """Synthetic MFW z rows: the author's texts around one direction, base outputs around another, with
    lengths alternating 0.2 and 5, so that only a direction-based distance (Cosine Delta), not the Euclidean
    one, recovers the two styles."""
    rng = np.random.default_rng(11)
    author, other = rng.normal(size=20), rng.normal(size=20)
    rows = [(0.2, 5.0)[i % 2] * (centre + 0.15 * rng.normal(size=20))
            for centre in (author, other) for i in range(per_group)]
    return np.array(rows), ["author_train"] * per_group + ["base"] * per_group


def test_dendrogram_splits_two_separated_styles_at_the_top():
    from eval.figures import delta_linkage

    z, groups = _two_styles()
    order = np.random.default_rng(2).permutation(len(z))  # interleave, so the split is not the input order
    clusters = fcluster(delta_linkage(z[order]), 2, criterion="maxclust")
    by_group = {g: {int(c) for c, i in zip(clusters, order) if groups[i] == g} for g in set(groups)}
    assert all(len(c) == 1 for c in by_group.values()) and by_group["author_train"] != by_group["base"]


def test_stylo_figures_render_chinese_and_are_byte_identical(tmp_path):
    from core.figures import use_cjk_font
    from eval import figures

    z, _ = _two_styles(per_group=4)
    groups = ["author_train", "author_train", "author_heldout", "reference", "adapter", "base", "fewshot", "base"]
    labels = ["《秋夜》", "《故乡》", "《祝福》", "《背影》", "适配器 #1", "基座 #1", "少样本 #1", "基座 #2"]
    use_cjk_font()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")
        for run in ("a", "b"):
            figures.mfw_pca(z, groups, tmp_path / f"pca_{run}.png")
            figures.delta_dendrogram(z, labels, groups, tmp_path / f"tree_{run}.png")
    for name in ("pca", "tree"):
        first = (tmp_path / f"{name}_a.png").read_bytes()
        assert first.startswith(b"\x89PNG") and first == (tmp_path / f"{name}_b.png").read_bytes()
