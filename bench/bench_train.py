"""Training speed and memory: our `make train` step vs the seed recipe, on the same rows and base model.

Seed recipe (the repo's first train_lora.py): SFTTrainer without packing, every sample padded to max_length,
rows rendered with a hand-written `<|system|>…<|user|>…<|assistant|>` text template (loss on all tokens).
Ours: train/lora_sft.yaml as `make train` runs it (tokenizer chat template, completion-only loss, packing).
Both use the same quantisation, LoRA, batch size, max_length and number of optimiser steps, no eval and no
checkpoints. Each runs in a fresh process so peak RSS is its own. Rows: $BENCH_DATA (default `data`, from
`make data`). Tokens/s counts real (non-pad) tokens only.

    python -m bench.run --only train          (BENCH_STEPS=6 by default)
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIG = "train/lora_sft.yaml"


def _timed_train(trainer) -> dict:
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return {"real_tokens": trainer.state.num_input_tokens_seen, "train_seconds": seconds,
            "tokens_per_s": trainer.state.num_input_tokens_seen / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_ours(data: str, steps: int, workdir: str) -> dict:
    from train import sft

    args = sft.parse_args(["--config", CONFIG, "--data", data, "--run", workdir, "--set", f"max_steps={steps}",
                           f"eval_steps={steps + 1}", f"save_steps={steps + 1}"])
    cfg, model_dir = sft.prepare(args)
    return _timed_train(sft.build_trainer(cfg, model_dir, args))


def seed_text(row: dict) -> str:
    system, user = (next((m["content"] for m in row["prompt"] if m["role"] == role), "") for role in
                    ("system", "user"))
    return f"<|system|>\n{system}\n<|user|>\n{user}\n<|assistant|>\n{row['completion'][0]['content']}"


def run_seed(data: str, steps: int, workdir: str) -> dict:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from core.jsonio import read_jsonl
    from train import sft

    args = sft.parse_args(["--config", CONFIG, "--data", data, "--run", workdir])
    cfg, model_dir = sft.prepare(args)  # same settings as ours, so only the recipe differs
    rows = Dataset.from_list([{"text": seed_text(r)} for r in read_jsonl(Path(data) / "sft_train.jsonl")])
    config = SFTConfig(
        output_dir=workdir, max_steps=steps, per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        max_length=cfg.max_length, pad_to_multiple_of=cfg.max_length,  # every sample padded to max_length
        packing=False, gradient_checkpointing=cfg.gradient_checkpointing, bf16=False, seed=cfg.seed,
        use_cpu=not torch.cuda.is_available(), report_to=[], save_strategy="no", eval_strategy="no",
        include_num_input_tokens_seen="non_padding", disable_tqdm=True)
    trainer = SFTTrainer(model=sft.build_model(cfg, model_dir), args=config, train_dataset=rows,
                         processing_class=sft.load_tokenizer(model_dir))
    return _timed_train(trainer)


def measure(recipe: str, data: str, steps: int, workdir: Path) -> dict:
    """One recipe in a child process; its last stdout line is the JSON result."""
    out = subprocess.run([sys.executable, "-m", "bench.bench_train", recipe, data, str(steps), str(workdir)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench train ({recipe}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import tempfile

    data = os.environ.get("BENCH_DATA", "data")
    steps = int(os.environ.get("BENCH_STEPS", "6"))
    if not (Path(data) / "sft_train.jsonl").is_file():
        print(f"skipped: {data}/sft_train.jsonl not found; run `make data` first (or set BENCH_DATA)")
        return
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        results = {name: measure(name, data, steps, Path(tmp) / name) for name in ("seed", "ours")}
    print(f"same rows ({data}), model and settings from {CONFIG}; {steps} optimiser steps each")
    print(f"{'recipe':<8}{'real tokens':>12}{'seconds':>10}{'tokens/s':>10}{'peak RSS MB':>13}")
    for name, r in results.items():
        print(f"{name:<8}{r['real_tokens']:>12}{r['train_seconds']:>10.1f}{r['tokens_per_s']:>10.1f}"
              f"{r['peak_rss_mb']:>13.0f}")
    speed = results["ours"]["tokens_per_s"] / results["seed"]["tokens_per_s"]
    memory = results["ours"]["peak_rss_mb"] / results["seed"]["peak_rss_mb"]
    print(f"ours / seed: tokens/s {speed:.2f}x (target >= 1.3x), peak RSS {memory:.2f}x (target <= 1.0x)")


if __name__ == "__main__":  # child process: python -m bench.bench_train RECIPE DATA STEPS WORKDIR
    from core import offline

    offline.enable()
    recipe, data_dir, n_steps, work = sys.argv[1:5]
    result = {"seed": run_seed, "ours": run_ours}[recipe](data_dir, int(n_steps), work)
    print(json.dumps(result))
