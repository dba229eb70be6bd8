"""Unit tests of the eval building blocks: sliding-window scoring, stylometry, statistics, attribution,
config and input checks, CJK figures."""
import warnings
from collections import Counter

import numpy as np
import pytest

from core import offline
from core.config import ConfigError, load
from core.jsonio import write_json
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR
from eval import stats, stylometry
from eval.config import EvalConfig
from eval.data import EvalInputError, check_tokenizer
from eval.perplexity import encode, score, windows


@pytest.mark.parametrize("n_tokens,score_from,window,stride", [(10, 3, 4, 2), (50, 7, 16, 5), (8, 2, 64, 32),
                                                               (30, 25, 8, 8), (5, 5, 4, 2)])
def test_windows_score_every_text_token_once_within_the_window(n_tokens, score_from, window, stride):
    plan = windows(0, n_tokens, score_from, window, stride)
    scored = [t for w in plan for t in range(w.first_scored, w.end)]
    assert scored == list(range(score_from, n_tokens))
    assert all(w.end - w.begin <= window and w.first_scored > w.begin for w in plan)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    offline.enable()
    from core.model import load_causal_lm, load_tokenizer

    folder = REPO_ROOT / DEFAULT_MODEL_DIR
    return load_causal_lm(folder), load_tokenizer(folder)


def test_batched_sliding_window_matches_one_forward_per_text(model_and_tokenizer):
    import torch

    model, tokenizer = model_and_tokenizer
    texts = ["我以为漫骂固然冤屈了许多好人。", "The harbour was quiet that morning, and the gulls kept away."]
    encoded = [encode(tokenizer, "system", "写吧。", t) for t in texts]
    batched = score(model, tokenizer, encoded, window=256, stride=128, batch_size=4)
    for (ids, start), (nll, count) in zip(encoded, batched):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        expected = torch.nn.functional.cross_entropy(logits[start - 1:-1], torch.tensor(ids[start:]), reduction="sum")
        assert count == len(ids) - start == len(tokenizer(texts[encoded.index((ids, start))],
                                                          add_special_tokens=False)["input_ids"])
        assert nll == pytest.approx(float(expected), rel=1e-4)
    windowed = score(model, tokenizer, encoded, window=16, stride=4, batch_size=3)
    assert [c for _, c in windowed] == [c for _, c in batched]  # same tokens scored, with less context


def test_punctuation_counts_spaces_used_as_separators():
    assert stylometry.punctuation("我们 去 吧，好。")[stylometry.SPACE_MARK] == 2
    assert stylometry.SPACE_MARK not in stylometry.punctuation("We went home, then slept.")
    assert stylometry.punctuation("“好！”")["！"] == 1


def test_words_by_language_and_mattr():
    assert stylometry.tokenize("我们今天去北京。", "zh") == ["我们", "今天", "去", "北京"]
    assert stylometry.tokenize("It's a dog, 2 dogs.", "en") == ["it's", "a", "dog", "2", "dogs"]
    assert stylometry.mattr(["a", "b", "a", "b"], 2) == 1.0
    assert stylometry.mattr(["a", "a", "a", "b"], 2) == pytest.approx((1 + 1 + 2) / 3 / 2)
    assert stylometry.mattr(["a", "a", "b"], 10) == pytest.approx(2 / 3)


def test_distances_are_zero_for_identical_and_maximal_for_disjoint_profiles():
    z = np.array([1.0, -2.0, 0.5])
    assert stylometry.cosine_delta(z, z) == pytest.approx(0.0, abs=1e-12)
    assert stylometry.cosine_delta(z, -z) == pytest.approx(2.0)
    assert stylometry.jsd(Counter("aab"), Counter("aab")) == pytest.approx(0.0, abs=1e-12)
    assert stylometry.jsd(Counter("aa"), Counter("bb")) == pytest.approx(1.0)
    assert stylometry.jsd(Counter(), Counter("ab")) == 1.0


def test_bootstrap_is_seeded_and_tests_degrade_to_none():
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.5, 2.0, 5.0, 6.0]

    def ci(seed):
        return stats.bootstrap_ci((x, y), stats.mean_difference, True, 500, 0.95, "percentile",
                                  np.random.default_rng(seed))

    assert ci(1) == ci(1)
    assert ci(1)["ci_low"] <= ci(1)["estimate"] <= ci(1)["ci_high"]
    assert stats.bootstrap_ci(([2.0],), stats.mean, False, 100, 0.95, "percentile",
                              np.random.default_rng(0))["ci_low"] is None
    assert stats.wilcoxon([1.0, 2.0], [1.0, 2.0])["p_value"] is None
    assert stats.two_sample([1, 2, 3], [])["ks_p_value"] is None


def test_config_file_matches_defaults_and_rejects_bad_keys():
    assert load(EvalConfig, REPO_ROOT / "eval" / "eval.yaml") == load(EvalConfig, None)
    with pytest.raises(ConfigError, match="did you mean 'perplexity.stride'"):
        load(EvalConfig, None, ["perplexity.strid=3"])
    with pytest.raises(ConfigError, match="must not exceed"):
        load(EvalConfig, None, ["perplexity.window=16", "perplexity.stride=32"])
    with pytest.raises(ConfigError, match="not one of"):
        load(EvalConfig, None, ["generation.templates=[rewrite]"])


def test_run_inputs_are_checked(tmp_path):
    from core.runs import RunNotFound, base_model_dir, read_run

    run = tmp_path / "run"
    with pytest.raises(RunNotFound, match="make train"):
        read_run(run)
    write_json(run / "adapter" / "adapter_config.json", {"base_model_name_or_path": DEFAULT_MODEL_DIR})
    with pytest.raises(RunNotFound, match="make train"):   # an adapter without the run's manifest is unfinished
        read_run(run)
    write_json(run / "manifest.json", {"config": {"base_model": DEFAULT_MODEL_DIR, "load_in_4bit": True}})
    folder = base_model_dir(read_run(run))
    assert folder == (REPO_ROOT / DEFAULT_MODEL_DIR).resolve()
    write_json(tmp_path / "data" / "manifest.json", {"tokenizer": {"fingerprint": "0" * 64}})
    with pytest.raises(EvalInputError, match="another tokenizer"):
        check_tokenizer(tmp_path / "data", folder)


def test_figures_render_chinese_without_missing_glyphs(tmp_path):
    from core.figures import training_curves, use_cjk_font
    from eval import figures

    use_cjk_font()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")
        figures.punctuation_profile({"author_heldout": {"，": 50.0, "。": 30.0, "“": 5.0, "<space>": 1.0},
                                     "base": {"，": 20.0, ".": 10.0}}, 4, tmp_path / "p.png")
        figures.mfw_heatmap(["的", "了", "我们"], {"author_heldout": [0.05, 0.02, 0.01], "adapter": [0.04, 0.0, 0.0]},
                            3, tmp_path / "m.png")
        training_curves([{"step": 1, "loss": 2.0}, {"step": 1, "eval_loss": 2.1, "eval_perplexity": 8.2}],
                        tmp_path / "c.png", "鲁迅风格: base")
    assert all((tmp_path / name).stat().st_size > 0 for name in ("p.png", "m.png", "c.png"))


def test_reference_data_must_be_built_chunks_for_the_runs_tokenizer(tmp_path):
    """eval reads a reference data folder (`make reference-data` builds it); it never runs prep itself."""
    from core.chunks import ChunkRecord
    from core.jsonio import write_jsonl
    from core.model import tokenizer_fingerprint
    from eval.data import reference_chunks

    folder, model_dir = tmp_path / "reference", REPO_ROOT / DEFAULT_MODEL_DIR
    folder.mkdir()
    with pytest.raises(EvalInputError, match="make data"):
        reference_chunks(folder, model_dir)
    record = ChunkRecord(article_id="朱自清/1925/背影", chunk_id="朱自清/1925/背影#0", chunk_index=0, split="train",
                         text="我与父亲不相见已二年余了，\n\n我最不能忘记的是他的背影。", tokens=20, lang="zh", title="背影")
    write_jsonl(folder / "chunks.jsonl", [record.as_json()])
    write_json(folder / "manifest.json", {"tokenizer": {"fingerprint": "0" * 64}})
    with pytest.raises(EvalInputError, match="another tokenizer"):
        reference_chunks(folder, model_dir)
    write_json(folder / "manifest.json", {"tokenizer": {"fingerprint": tokenizer_fingerprint(model_dir)}})
    assert reference_chunks(folder, model_dir) == [record]   # the exact text, paragraph break included
    write_jsonl(folder / "chunks.jsonl", [record.as_json() | {"split": "test"}])
    with pytest.raises(EvalInputError, match="chunks.jsonl:1: not a chunk record"):
        reference_chunks(folder, model_dir)


def _bootstrap(seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda samples, statistic, paired=False: stats.bootstrap_ci(samples, statistic, paired, 300, 0.9,
                                                                       "percentile", rng)


def _rows(changes: list[float]) -> list[dict]:
    """Per-article NLL rows whose adapter perplexity is base perplexity × (1 + change)."""
    return [{"article_id": f"a{i}", "tokens": 100, "chars": 110, "base_nll": 300.0,
             "adapter_nll": 300.0 + 100 * float(np.log1p(c))} for i, c in enumerate(changes)]


def test_author_specific_gain_is_the_difference_of_the_two_changes_and_its_sign():
    from eval.perplexity import author_specific_gain

    same = author_specific_gain(_rows([-0.2] * 6), _rows([-0.2] * 5), _bootstrap())
    assert same["difference_in_relative_change"]["estimate"] == pytest.approx(0, abs=1e-9)
    assert same["author_share_of_gain"] == pytest.approx(0, abs=1e-9)
    specific = author_specific_gain(_rows([-0.3, -0.32, -0.28, -0.31]), _rows([-0.1, -0.12, -0.09]), _bootstrap())
    assert specific["difference_in_relative_change"]["estimate"] < 0          # the author gains more
    assert specific["difference_in_relative_change"]["ci_high"] < 0
    assert specific["author_relative_change"] == pytest.approx(-0.3025, abs=1e-3)
    language_only = author_specific_gain(_rows([-0.1] * 4), _rows([-0.3] * 4), _bootstrap())
    assert language_only["difference_in_relative_change"]["estimate"] > 0     # control: the other way round


def test_stylometry_calls_the_system_that_writes_like_the_author_closer():
    """Real texts: a 'system' answering with the author's own held-out passages must come out closer on the
    distance measures than one answering with another author's passages, in both comparisons."""
    from core.chunks import ChunkRecord
    from eval.attribution import passages
    from eval.config import StylometryConfig
    from test_eval_fixtures import ARCHIVE, ESSAYS, REFERENCE_ARCHIVE, REFERENCE_ESSAYS, clean_markdown

    def chunks(archive, pattern, names, split):
        return [ChunkRecord(article_id=n, chunk_id=f"{n}#0", chunk_index=0, split=split, title=n[11:], tokens=1,
                            lang="zh", text=clean_markdown(next(archive.glob(pattern.format(n))).read_text("utf-8")))
                for n in names]

    train = chunks(ARCHIVE, "鲁迅/*/{0}/{0}.md", ESSAYS[:4], "train")
    heldout = chunks(ARCHIVE, "鲁迅/*/{0}/{0}.md", ESSAYS[4:], "val")
    reference = chunks(REFERENCE_ARCHIVE, "朱自清/*/{0}/{0}.md", REFERENCE_ESSAYS, "train")
    author_like = passages([c.text for c in heldout], 150)[:8]
    other = passages([c.text for c in reference], 150)[:8]
    outputs = {"adapter": author_like, "base": other, "fewshot": other}
    style, _ = stylometry.section(train, heldout, reference, outputs, StylometryConfig(mfw_count=30), _bootstrap(),
                                  {"base": False, "adapter": False, "fewshot": False},
                                  {"base": False, "adapter": False, "fewshot": False}, seed=1)
    for pair in ("adapter_vs_base", "adapter_vs_fewshot"):
        for measure in ("cosine_delta", "jsd_char_ngrams"):
            result = style["comparisons"][pair][measure]
            assert result["difference"]["estimate"] < 0 and result["closer"] == "adapter", (pair, measure)
            assert result["p_holm"] >= result["wilcoxon"]["p_value"]
    swapped, _ = stylometry.section(train, heldout, reference, {"adapter": other, "base": author_like,
                                                                "fewshot": author_like},
                                    StylometryConfig(mfw_count=30), _bootstrap(),
                                    {"base": True, "adapter": False, "fewshot": False},
                                    {"base": False, "adapter": False, "fewshot": False}, seed=1)
    comparison = swapped["comparisons"]["adapter_vs_base"]["cosine_delta"]
    assert comparison["closer"] == "base" and not comparison["interpretable"] and comparison["notes"]


def test_an_author_specific_gain_is_graded_by_its_share_of_the_whole_gain():
    from eval.report import specific_words

    # The demo's numbers: -21.2 % on the author, -19.6 % on the reference: 8 % of the gain is the author's.
    assert "a small part: 8 %" in specific_words({"author_share_of_gain": 0.0777})
    assert "predicts this author better" in specific_words({"author_share_of_gain": 0.6})
    assert "predicts this author better" in specific_words({"author_share_of_gain": None})
