"""`make reproduce-lock` then `make reproduce` on a small real chain (data -> train -> eval, every network
connection refused): the rerun is bit-identical stage by stage; a drifted file fails the check naming its
stage and file; a config edited since the lock is refused before anything runs."""
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, SAMPLE_ARCHIVE, attempted_connections, guarded_env
from core.jsonio import read_json, write_json

DATA_SET = ["paraphrase.max_chunks=0"]
TRAIN_SET = ["max_steps=2", "max_length=256", "lora_r=4", "lora_alpha=8", "per_device_batch_size=2",
             "gradient_accumulation_steps=1", "eval_steps=2", "save_steps=2", "eval_max_rows=2", "warmup_steps=0"]
EVAL_SET = ["bootstrap_resamples=200", "perplexity.max_articles=1", "perplexity.reference_max_articles=1",
            "perplexity.window=384", "perplexity.stride=192", "guard.control_passages=8",
            "generation.num_prompts=4", "generation.max_new_tokens=8", "fewshot.k=1", "fewshot.passage_chars=60",
            "stylometry.mfw_count=20", "attribution.folds=2", "attribution.passage_chars=60"]


def reproduce(action: str, lock, folder, log, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.reproduce", action, "--lock", str(lock), "--dir", str(folder),
                           *extra], cwd=REPO, env=guarded_env(log), capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    """Every third article of the bundled archive: enough for a train/val split, quick to build."""
    root = tmp_path_factory.mktemp("archive") / "luxun"
    for folder in sorted(p.parent for p in SAMPLE_ARCHIVE.rglob("*.md") if p.parent.name[:4].isdigit())[::3]:
        shutil.copytree(folder, root / folder.relative_to(SAMPLE_ARCHIVE))
    return root


@pytest.mark.slow
def test_lock_then_reproduce_is_bit_identical_and_drift_names_the_file(small_archive, tmp_path):
    lock, log = tmp_path / "repro.lock.json", tmp_path / "netguard.log"
    made = reproduce("lock", lock, tmp_path / "first", log, "--archive", str(small_archive),
                     "--data-set", *DATA_SET, "--train-set", *TRAIN_SET, "--eval-set", *EVAL_SET)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-3000:]
    locked = read_json(lock)
    assert set(locked["outputs"]) == {"data", "reference", "train", "eval"}
    assert "chunks.jsonl" in locked["outputs"]["reference"]
    assert "adapter/adapter_model.safetensors" in locked["outputs"]["train"]
    assert "missing" not in str(locked["outputs"])

    checked = reproduce("check", lock, tmp_path / "second", log)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-3000:]
    assert "stage eval: 2 files identical to the lock" in checked.stdout
    assert attempted_connections(log) == []

    # A drifted data file stops the check right after the data stage, naming stage and file.
    locked["outputs"]["data"]["sft_val.jsonl"] = "0" * 64
    write_json(lock, locked)
    drifted = reproduce("check", lock, tmp_path / "third", log)
    assert drifted.returncode == 1
    assert "DRIFT in stage data" in drifted.stderr and "stage data: sft_val.jsonl: locked 0000000000000000" in drifted.stderr
    assert not (tmp_path / "third" / "run").exists()  # training never started


def test_config_changed_since_the_lock_is_refused(tmp_path):
    lock = tmp_path / "repro.lock.json"
    configs = {"data": "prep/config.yaml", "train": "train/lora_sft.yaml", "eval": "eval/eval.yaml"}
    from core.reproduce import LOCK_VERSION

    write_json(lock, {"lock_version": LOCK_VERSION, "setup": {"archive": "corpora/luxun-archive", "configs": configs,
                                                   "set": {"data": [], "train": [], "eval": []}},
                      "config_sha256": {"data": "0" * 64, "train": "0" * 64, "eval": "0" * 64},
                      "environment": {}, "outputs": {}})
    refused = reproduce("check", lock, tmp_path / "out", tmp_path / "netguard.log")
    assert refused.returncode == 2
    assert "config changed since" in refused.stderr and "prep/config.yaml (data)" in refused.stderr
    assert not (tmp_path / "out").exists()
    missing = reproduce("check", tmp_path / "none.json", tmp_path / "out", tmp_path / "netguard.log")
    assert missing.returncode == 2 and "make reproduce-lock" in missing.stderr


def test_stages_are_the_makefiles_own_targets(tmp_path):
    """Each stage is `make <target>` with the lock's inputs as variables: a dry run prints exactly one command,
    the Makefile's recipe for that target, with this run's folders and overrides in it."""
    from core.reproduce import stage_commands

    setup = {"archive": "corpora/luxun-archive", "reference": "corpora/zhuziqing-archive",
             "configs": {"data": "prep/config.yaml", "train": "train/lora_sft.yaml", "eval": "eval/eval.yaml"},
             "set": {"data": DATA_SET, "train": TRAIN_SET[:2], "eval": EVAL_SET[:1]}}
    modules = {"data": "prep.build_dataset", "reference": "prep.build_dataset", "train": "train.launch",
               "eval": "eval.run"}
    for stage, command in stage_commands(setup, tmp_path).items():
        dry = subprocess.run([command[0], "-n", *command[1:]], cwd=REPO, capture_output=True, text=True)
        lines = dry.stdout.strip().splitlines()
        assert dry.returncode == 0 and len(lines) == 1, (stage, dry.stdout, dry.stderr)
        assert lines[0].startswith(f"{sys.executable} -m {modules[stage]} "), lines[0]
        assert str(tmp_path) in lines[0]
        for override in setup["set"].get(stage, []):
            assert override in lines[0]
        if stage == "reference":   # the Makefile's reference-data never paraphrases
            assert "--set paraphrase.max_chunks=0" in lines[0]
