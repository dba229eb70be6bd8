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
    from core.run_model import RunNotFound, run_base_model

    adapter = tmp_path / "run" / "adapter"
    with pytest.raises(RunNotFound, match="make train"):
        run_base_model(tmp_path / "run")
    write_json(adapter / "adapter_config.json", {"base_model_name_or_path": DEFAULT_MODEL_DIR})
    write_json(tmp_path / "run" / "manifest.json", {"config": {
        "load_in_4bit": True, "bnb_4bit_quant_type": "fp4", "bnb_4bit_compute_dtype": "float32", "lora_r": 4}})
    folder, quantisation = run_base_model(tmp_path / "run")
    assert folder == (REPO_ROOT / DEFAULT_MODEL_DIR).resolve()
    assert quantisation == {"load_in_4bit": True, "quant_type": "fp4", "compute_dtype": "float32"}
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
