"""Real (tiny) training runs on CPU: outputs, offline, determinism, kill -9 resume, packing, DDP launch."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import attempted_connections, guarded_env
from core.jsonio import write_json, write_jsonl
from core.model import DEFAULT_MODEL_DIR, tokenizer_fingerprint
from core.chunks import ChunkRecord
from core.rows import RowMeta, SftRow
from core.manifest import REPO_ROOT

ARCHIVE = REPO_ROOT / "corpora" / "luxun-archive"
SYSTEM = "你是一位中文作家，请用自己的文风写作。"
TINY = ["max_steps=2", "max_length=128", "lora_r=4", "lora_alpha=8", "per_device_batch_size=2",
        "gradient_accumulation_steps=1", "eval_steps=2", "save_steps=2", "logging_steps=1", "eval_max_rows=2",
        "warmup_steps=0"]


def build_tiny_data(out: Path, n_train: int = 12, n_val: int = 4) -> Path:
    """Chat rows of real Lu Xun paragraphs in the `make data` format (each paragraph one chunk of its own
    article, in chunks.jsonl too), with a manifest for the bundled model."""
    paragraphs = []
    for md in sorted(ARCHIVE.rglob("*.md"))[1:]:
        body = md.read_text(encoding="utf-8").split("---", 2)[-1]
        paragraphs += [p.strip() for p in re.split(r"\n\s*\n", re.sub(r"<[^>]+>", "", body))
                       if 80 <= len(p.strip()) <= 300]
        if len(paragraphs) >= n_train + n_val:
            break
    rows = [SftRow(SYSTEM, "续写下面的文字：\n" + p[:len(p) // 3], p[len(p) // 3:], RowMeta(
        article_id=f"tiny{i}", chunk_id=f"tiny{i}#0", chunk_index=0, chunk_tokens=len(p),
        completion_tokens=len(p) - len(p) // 3, date=None, lang="zh", prompt_tokens=len(p) // 3, short_chunk=True,
        split="train" if i < n_train else "val", template="continue", title="tiny", year=None,
        prefix=p[:len(p) // 3])).as_json() for i, p in enumerate(paragraphs[:n_train + n_val])]
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "sft_train.jsonl", rows[:n_train])
    write_jsonl(out / "sft_val.jsonl", rows[n_train:])
    write_jsonl(out / "chunks.jsonl", [ChunkRecord(
        article_id=f"tiny{i}", chunk_id=f"tiny{i}#0", chunk_index=0, split="train" if i < n_train else "val", text=p,
        tokens=len(p), lang="zh", title="tiny").as_json() for i, p in enumerate(paragraphs[:n_train + n_val])])
    write_json(out / "manifest.json", {"stage": "data", "tokenizer": {
        "fingerprint": tokenizer_fingerprint(REPO_ROOT / DEFAULT_MODEL_DIR), "model_dir": DEFAULT_MODEL_DIR}})
    return out


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return build_tiny_data(tmp_path_factory.mktemp("tiny_data"))


def run_train(data: Path, run: Path, *overrides: str, guard_log: Path | None = None, nproc: int = 1,
              wait: bool = True, config: str = "train/lora_sft.yaml", **extra_env: str):
    """`make train`'s command line in a subprocess (optionally with every network call refused and logged)."""
    env = guarded_env(guard_log, **extra_env) if guard_log is not None else dict(os.environ, **extra_env)
    command = [sys.executable, "-m", "train.launch", "--config", config, "--data", str(data),
               "--run", str(run), "--nproc", str(nproc), "--set", *TINY, *overrides]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    if not wait:
        return process
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.mark.slow
def test_offline_reproducible_run_with_all_outputs(tiny_data, tmp_path):
    from core.jsonio import read_json, read_jsonl, sha256_file, sha256_tree

    runs = [tmp_path / "a", tmp_path / "b"]
    guard_log = tmp_path / "netguard.log"
    # Side by side; the second keeps glibc's default allocator policy (train/memory.py), which must not
    # change a byte of the result.
    processes = [run_train(tiny_data, runs[0], guard_log=guard_log, wait=False),
                 run_train(tiny_data, runs[1], guard_log=guard_log, wait=False, STYLEDISTILL_MMAP_THRESHOLD_MB="0")]
    for process in processes:
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
    assert attempted_connections(guard_log) == []

    # Same seed, same data -> the same adapter bytes, whatever the allocator does.
    assert sha256_tree(runs[0] / "adapter") == sha256_tree(runs[1] / "adapter")

    run = runs[0]
    from safetensors import safe_open

    with safe_open(run / "adapter" / "adapter_model.safetensors", "pt") as tensors:  # not TRL's bf16 cast
        assert {str(tensors.get_tensor(k).dtype) for k in tensors.keys()} == {"torch.float32"}
    adapter_config = read_json(run / "adapter" / "adapter_config.json")
    assert adapter_config["base_model_name_or_path"] == DEFAULT_MODEL_DIR
    manifest = read_json(run / "manifest.json")
    for key in ("config", "data", "environment", "hardware", "seed", "wall_time_s", "tokens_seen", "peak_rss_mb"):
        assert key in manifest, key
    assert manifest["config"]["base_model"] == DEFAULT_MODEL_DIR and manifest["config"]["lora_r"] == 4
    assert manifest["data"]["manifest_sha256"] == sha256_file(tiny_data / "manifest.json")
    assert manifest["tokens_seen"] > 0 and manifest["global_step"] == 2
    log = read_jsonl(run / "train_log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    assert any("eval_loss" in r and "eval_perplexity" in r for r in log)
    assert all({"learning_rate", "epoch"} <= set(r) for r in log if "loss" in r)
    assert (run / "curves.png").stat().st_size > 0
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))

    # The adapter loads as a plain PEFT adapter, and the merged model as a plain transformers model.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(REPO_ROOT / DEFAULT_MODEL_DIR)
    base_parameters = base.num_parameters()
    PeftModel.from_pretrained(base, run / "adapter")
    subprocess.run([sys.executable, "-m", "train.merge", "--run", str(run)], cwd=REPO_ROOT, check=True,
                   capture_output=True)
    merged = AutoModelForCausalLM.from_pretrained(run / "merged")
    assert merged.num_parameters() == base_parameters


@pytest.mark.slow
def test_kill_9_then_same_command_resumes(tiny_data, tmp_path):
    from core.jsonio import read_json, read_jsonl
    from train.checkpoints import COMPLETE_MARKER

    run = tmp_path / "run"
    steps = ["max_steps=3", "save_steps=1", "eval_steps=3"]
    process = run_train(tiny_data, run, *steps, wait=False)
    first = run / "checkpoints" / "checkpoint-1" / COMPLETE_MARKER
    deadline = time.time() + 400
    while not first.exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "adapter").exists()
    # A folder like one a kill leaves mid-save: no marker, so it must be skipped, not resumed from.
    fake = run / "checkpoints" / "checkpoint-2"
    if not (fake / COMPLETE_MARKER).exists():
        fake.mkdir(exist_ok=True)
        (fake / "adapter_model.safetensors").write_bytes(b"half a file")

    output = run_train(tiny_data, run, *steps)
    resumed = re.search(r"resuming from .*checkpoint-(\d+)", output)
    assert resumed, output[-3000:]
    manifest = read_json(run / "manifest.json")
    assert manifest["resumed_from_step"] == int(resumed.group(1)) >= 1
    assert manifest["global_step"] == 3
    assert [r["step"] for r in read_jsonl(run / "train_log.jsonl") if "loss" in r] == [1, 2, 3]

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(REPO_ROOT / DEFAULT_MODEL_DIR), run / "adapter")


@pytest.mark.slow
def test_run_killed_after_its_final_checkpoint_is_finished_not_trained_further(tiny_data, tmp_path):
    """A kill between the final checkpoint and adapter/ (or the same command run again): the Trainer, resumed
    from the final checkpoint, trains one step past max_steps; the run must instead end with the adapter the
    uninterrupted run wrote, chosen step included."""
    from core.jsonio import read_json, read_jsonl, sha256_tree

    run = tmp_path / "run"
    steps = ["max_steps=2", "save_steps=1", "eval_steps=1", "select_checkpoint=loss"]
    run_train(tiny_data, run, *steps)
    uninterrupted = sha256_tree(run / "adapter")
    chosen = read_json(run / "manifest.json")["selection"]["chosen_step"]

    for kill_left in ("no adapter", "everything"):   # killed before adapter/ was written; run again when done
        if kill_left == "no adapter":
            shutil.rmtree(run / "adapter")
            (run / "manifest.json").unlink()
        output = run_train(tiny_data, run, *steps)
        manifest = read_json(run / "manifest.json")
        assert manifest["global_step"] == 2 and manifest["resumed_from_step"] == 2
        assert "is the run's final step" in output, output[-3000:]
        assert manifest["selection"]["chosen_step"] == chosen
        assert [r["step"] for r in read_jsonl(run / "train_log.jsonl") if "loss" in r] == [1, 2]
        assert sha256_tree(run / "adapter") == uninterrupted

    # A shorter run asked of a run that went further has no adapter of its own to finish with.
    shorter = run_train(tiny_data, run, *steps, "max_steps=1", wait=False)
    output, _ = shorter.communicate(timeout=600)
    assert shorter.returncode != 0 and "is past max_steps=1" in output, output[-3000:]
    assert sha256_tree(run / "adapter") == uninterrupted


def test_final_step_of_a_run_by_max_steps_or_by_epochs(tmp_path):
    from transformers import TrainerState

    from core.config import ConfigError
    from train.checkpoints import ends_the_run

    for step in (2, 3):
        (tmp_path / f"checkpoint-{step}").mkdir()
        TrainerState(global_step=step, max_steps=3).save_to_json(str(tmp_path / f"checkpoint-{step}" /
                                                                      "trainer_state.json"))
    assert ends_the_run(tmp_path / "checkpoint-3", 3) and not ends_the_run(tmp_path / "checkpoint-2", 3)
    # max_steps null (train by epochs): the limit the Trainer worked out, saved in the checkpoint's state
    assert ends_the_run(tmp_path / "checkpoint-3", None) and not ends_the_run(tmp_path / "checkpoint-2", None)
    with pytest.raises(ConfigError, match="past max_steps=2"):
        ends_the_run(tmp_path / "checkpoint-3", 2)


def test_incomplete_checkpoint_is_skipped(tmp_path):
    from train.checkpoints import COMPLETE_MARKER, last_complete

    for step, complete in ((2, True), (4, True), (6, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text("{}")
        if complete:
            (folder / COMPLETE_MARKER).write_text(str(step))
    assert last_complete(tmp_path) == tmp_path / "checkpoint-4"
    assert not (tmp_path / "checkpoint-6").exists()
    assert last_complete(tmp_path / "empty") is None


@pytest.mark.slow
def test_packed_batch_loss_equals_unpacked(tiny_data):
    """Packing puts several rows in one sequence; if a row could attend to the row before it, its loss would
    change. Same tokens, same labels: packed (position_ids restart per row) vs one padded row per sample."""
    import torch

    from train import sft

    args = sft.parse_args(["--data", str(tiny_data), "--run", "/nonexistent",
                           "--set", *TINY, "max_length=384", "load_in_4bit=false", "lora_dropout=0.0",
                           "per_device_batch_size=4"])
    cfg, model_dir = sft.prepare(args)
    trainer = sft.build_trainer(cfg, model_dir, args)
    packed = next(iter(trainer.get_train_dataloader()))
    starts = (packed["position_ids"][0] == 0).nonzero().flatten().tolist() + [packed["input_ids"].shape[1]]
    assert len(starts) > 2, "the batch should hold at least two packed rows"
    pieces = [slice(a, b) for a, b in zip(starts, starts[1:])]
    width = max(p.stop - p.start for p in pieces)
    pad = lambda t, value: torch.nn.functional.pad(t, (0, width - t.shape[-1]), value=value)  # noqa: E731
    unpacked = {
        "input_ids": torch.stack([pad(packed["input_ids"][0, p], 0) for p in pieces]),
        "labels": torch.stack([pad(packed["labels"][0, p], -100) for p in pieces]),
        "attention_mask": torch.stack([pad(torch.ones(p.stop - p.start, dtype=torch.long), 0) for p in pieces]),
    }
    model = trainer.model.eval()
    with torch.no_grad():
        packed_out = model(input_ids=packed["input_ids"], labels=packed["labels"],
                           position_ids=packed["position_ids"])
        unpacked_out = model(**unpacked)
        # Control: the same packed row under one causal mask (rows see the rows before them) must differ.
        leaky_logits = model(input_ids=packed["input_ids"]).logits
    assert torch.allclose(packed_out.loss, unpacked_out.loss, atol=1e-4), (packed_out.loss, unpacked_out.loss)
    for row, p in enumerate(pieces):
        alone = unpacked_out.logits[row, :p.stop - p.start]
        assert (packed_out.logits[0, p] - alone).abs().max() < 1e-3
        if row > 0:
            assert (leaky_logits[0, p] - alone).abs().max() > 1.0


@pytest.mark.slow
def test_two_cpu_processes_through_accelerate(tiny_data, tmp_path):
    from core.jsonio import read_json

    run = tmp_path / "ddp"
    run_train(tiny_data, run, "per_device_batch_size=1", nproc=2)
    manifest = read_json(run / "manifest.json")
    assert manifest["hardware"]["world_size"] == 2
    assert manifest["hardware"]["distributed_backend"] == "gloo"
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


if __name__ == "__main__":  # a development data folder: python tests/test_train_run.py OUT
    print(build_tiny_data(Path(sys.argv[1])))
