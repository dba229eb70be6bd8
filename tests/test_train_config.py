"""Training config and input validation: every mistake is reported before a model is loaded."""
from pathlib import Path

import pytest

from core.config import ConfigError
from core.jsonio import read_json, write_json
from core.manifest import REPO_ROOT
from core.model import ModelNotFound
from train import sft
from train.config import TrainConfig, load_config
from train.data import DataError
from train.sample import side_by_side

DEFAULT = REPO_ROOT / "train" / "lora_sft.yaml"
PROFILES = sorted((REPO_ROOT / "train" / "profiles").glob("*.yaml"))


# Keys of the stages after SFT and of the opt-in checkpoint selection: their defaults are SFT's behaviour, so
# lora_sft.yaml leaves them out (its bytes are in reproduce.lock.json); lora_dpo.yaml and lora_cpt.yaml set the
# stage's own, docs/configuration.md lists them all.
LATER_STAGE_KEYS = {"stage", "init_adapter", "pairs", "dpo_beta", "dpo_loss_type", "select_checkpoint",
                    "style_prompts", "style_max_new_tokens"}


def test_default_yaml_sets_every_key_and_matches_the_defaults():
    import yaml

    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    assert set(raw) == set(TrainConfig.model_fields) - LATER_STAGE_KEYS
    assert load_config(DEFAULT) == TrainConfig()
    for stage, own in (("dpo", {"stage", "dpo_beta", "dpo_loss_type"}), ("cpt", {"stage"})):
        profile = yaml.safe_load((DEFAULT.parent / f"lora_{stage}.yaml").read_text(encoding="utf-8"))
        assert set(profile) == set(raw) | own
        overrides = [f"init_adapter={DEFAULT.parent}"] if stage == "dpo" else []
        assert load_config(DEFAULT.parent / f"lora_{stage}.yaml", overrides).stage == stage


def test_overrides_use_the_yaml_keys():
    cfg = load_config(DEFAULT, ["lora_r=8", "max_steps=20", "lora_target_modules=[q_proj, v_proj]"])
    assert (cfg.lora_r, cfg.max_steps, cfg.lora_target_modules) == (8, 20, ["q_proj", "v_proj"])


@pytest.mark.parametrize("override, words", [
    ("lora_rank=8", ["unknown key 'lora_rank'", "did you mean 'lora_r'"]),
    ("learning_rat=1e-4", ["did you mean 'learning_rate'"]),
    ("lora_r=eight", ["lora_r", "expected int"]),
    ("lora_r=0", ["lora_r", "below the minimum 1"]),
    ("lora_dropout=1.5", ["lora_dropout", "above the maximum"]),
    ("bnb_4bit_quant_type=int4", ["bnb_4bit_quant_type", "not one of"]),
    ("packing=maybe", ["packing", "expected bool"]),
])
def test_bad_settings_name_the_key(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT, [override])
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("overrides, words", [
    (["stage=dpo"], ["init_adapter", "FROM="]),
    (["pairs=outputs/x/pairs"], ["only stage dpo"]),
    (["select_checkpoint=style", "eval_steps=4", "save_steps=8"], ["save_steps (8) equal to eval_steps (4)"]),
    (["dpo_loss_type=simpo"], ["dpo_loss_type", "not one of"]),
    (["select_checkpoint=best"], ["select_checkpoint", "not one of"]),
])
def test_stage_rules_name_the_keys(overrides, words):
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT, overrides)
    for word in words:
        assert word in str(err.value)
    assert load_config(DEFAULT, ["stage=dpo", "init_adapter=outputs/x/adapter"]).pairs_dir == "outputs/x/pairs"


def test_init_adapter_must_fit_the_base_and_the_lora_shape(tmp_path):
    from core.jsonio import write_json
    from core.model import DEFAULT_MODEL_DIR, tokenizer_fingerprint
    from train import sft

    data = tmp_path / "data"
    write_json(data / "manifest.json", {"tokenizer": {"fingerprint": tokenizer_fingerprint(REPO_ROOT / DEFAULT_MODEL_DIR)}})
    adapter = tmp_path / "run" / "adapter"

    def prepare(*overrides):
        return sft.prepare(sft.parse_args(["--data", str(data), "--run", str(tmp_path / "new"), "--set",
                                           f"init_adapter={adapter}", *overrides]))

    with pytest.raises(ConfigError, match="not found"):
        prepare()
    write_json(adapter / "adapter_config.json", {"base_model_name_or_path": DEFAULT_MODEL_DIR, "r": 4, "lora_alpha": 8,
                                                 "lora_dropout": 0.0})
    with pytest.raises(ConfigError, match="lora_r=4, lora_alpha=8, lora_dropout=0.0; set these keys to match"):
        prepare()
    assert prepare("lora_r=4", "lora_alpha=8")[0].init_adapter == str(adapter)
    write_json(adapter / "adapter_config.json", {"base_model_name_or_path": "models/gemma-3-270m", "r": 4, "lora_alpha": 8,
                                                 "lora_dropout": 0.0})
    with pytest.raises(Exception, match="gemma-3-270m"):   # another base model (or its folder missing)
        prepare("lora_r=4", "lora_alpha=8")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message on a machine without GPU")
@pytest.mark.parametrize("override", ["precision=bf16", "precision=fp16"])
def test_half_precision_without_gpu_is_refused_clearly(override):
    with pytest.raises(ConfigError, match="needs a CUDA GPU.*precision=fp32"):
        load_config(DEFAULT, [override])


def test_gpu_profiles_validate_apart_from_the_hardware():
    assert len(PROFILES) >= 2
    for profile in PROFILES:
        cfg = load_config(profile, ["precision=fp32", "bnb_4bit_compute_dtype=float32"])
        assert cfg.base_model.startswith("models/Qwen2.5-")


def test_hub_id_without_local_copy_says_where_to_put_weights():
    with pytest.raises(ModelNotFound, match="never downloads.*models/Qwen2.5-7B-Instruct"):
        sft.prepare(sft.parse_args(["--set", "base_model=Qwen/Qwen2.5-7B-Instruct"]))


def _data(tmp_path: Path, **files: str) -> Path:
    from tests.test_train_run import build_tiny_data

    data = build_tiny_data(tmp_path / "data", n_train=2, n_val=1)
    for name, text in files.items():
        (data / name.replace("_jsonl", ".jsonl")).write_text(text, encoding="utf-8")
    return data


def test_data_chunked_with_another_tokenizer_is_refused(tmp_path):
    data = _data(tmp_path)
    manifest = read_json(data / "manifest.json")
    manifest["tokenizer"] = {"fingerprint": "0" * 64, "model_dir": "models/Qwen2.5-1.5B-Instruct"}
    write_json(data / "manifest.json", manifest)
    with pytest.raises(DataError, match="Qwen2.5-1.5B-Instruct.*make data"):
        sft.prepare(sft.parse_args(["--data", str(data)]))


def test_missing_and_empty_data_name_the_file(tmp_path):
    from train.data import load_splits

    with pytest.raises(DataError, match="manifest.json is missing"):
        sft.prepare(sft.parse_args(["--data", str(tmp_path / "nowhere")]))
    data = _data(tmp_path, sft_val_jsonl="")
    with pytest.raises(DataError, match="sft_val.jsonl is empty"):
        load_splits(data, None)
    (data / "sft_train.jsonl").unlink()
    with pytest.raises(DataError, match="sft_train.jsonl is missing.*make data"):
        load_splits(data, None)


def test_side_by_side_aligns_chinese_columns():
    cells = lambda s: sum(2 if ord(c) > 0x2E7F else 1 for c in s)  # noqa: E731
    first, second = side_by_side("读书" * 15, "short", width=20).splitlines()
    assert cells(first[:first.index("|")]) == cells(second[:second.index("|")]) == 41


def test_mmap_threshold_policy_and_its_switch(monkeypatch):
    from train.memory import set_mmap_threshold

    monkeypatch.setenv("STYLEDISTILL_MMAP_THRESHOLD_MB", "0")
    assert set_mmap_threshold() is False   # glibc's default kept
    monkeypatch.setenv("STYLEDISTILL_MMAP_THRESHOLD_MB", "lots")
    with pytest.raises(SystemExit, match="STYLEDISTILL_MMAP_THRESHOLD_MB='lots'"):
        set_mmap_threshold()
    monkeypatch.delenv("STYLEDISTILL_MMAP_THRESHOLD_MB")
    assert set_mmap_threshold() is True    # this machine runs glibc
