"""Training speed and memory: our `make train` step vs the seed recipe, on the same rows and base model.

Seed recipe (the repo's first train_lora.py): SFTTrainer without packing, every sample padded to max_length,
rows rendered with a hand-written `<|system|>…<|user|>…<|assistant|>` text template (loss on all tokens).
Ours: train/lora_sft.yaml as `make train` runs it (tokenizer chat template, completion-only loss, packing).
Both use the same quantisation, LoRA, batch size, max_length and number of optimiser steps, no eval and no
checkpoints. Each runs in a fresh process so peak RSS is its own. Rows: $BENCH_DATA (default `data`, from
`make data`). Tokens/s counts real (non-pad) tokens only.

Then our recipe on every other bundled model that `make setup BASE=<name>` has converted, each on the bundled
archive's data built for its own tokenizer (the same rows as $BENCH_DATA when that is the demo's data). Tokenizers differ (a Chinese character is ~0.9 tokens for Qwen2.5 and Gemma 3, ~2 for
SmolLM2), so speeds are compared in Chinese characters per second: tokens/s divided by the rows' tokens per
CJK character (prompt_tokens + completion_tokens over the ideographs of their messages).

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
    state = trainer.state
    evaluations = sum("eval_loss" in entry for entry in state.log_history)
    return {"real_tokens": state.num_input_tokens_seen, "train_seconds": seconds, "evaluations": evaluations,
            "best_step": state.best_global_step, "best_metric": state.best_metric,   # None unless a selection ran
            "tokens_per_s": state.num_input_tokens_seen / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_ours(data: str, steps: int, workdir: str, base_model: str, *overrides: str) -> dict:
    """`make train`'s recipe; without overrides no evaluation or checkpoint falls inside the steps."""
    from train import sft

    args = sft.parse_args(["--config", CONFIG, "--data", data, "--run", workdir, "--set", f"max_steps={steps}",
                           f"eval_steps={steps + 1}", f"save_steps={steps + 1}", f"base_model={base_model}",
                           *overrides])
    cfg, model_dir = sft.prepare(args)
    return _timed_train(sft.build_trainer(cfg, model_dir, args))


def seed_text(row: dict) -> str:
    system, user = (next((m["content"] for m in row["prompt"] if m["role"] == role), "") for role in
                    ("system", "user"))
    return f"<|system|>\n{system}\n<|user|>\n{user}\n<|assistant|>\n{row['completion'][0]['content']}"


def run_seed(data: str, steps: int, workdir: str, base_model: str) -> dict:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from core.jsonio import read_jsonl
    from train import sft

    args = sft.parse_args(["--config", CONFIG, "--data", data, "--run", workdir, "--set", f"base_model={base_model}"])
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


def measure(recipe: str, data: str, steps: int, workdir: Path, base_model: str, *overrides: str) -> dict:
    """One recipe in a child process (overrides: config keys for `ours`); its last stdout line is the JSON
    result."""
    out = subprocess.run([sys.executable, "-m", "bench.bench_train", recipe, data, str(steps), str(workdir),
                          base_model, *overrides], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench train ({recipe}, {base_model}) failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["chars_per_s"] = result["tokens_per_s"] / tokens_per_cjk_char(data)
    return result


def tokens_per_cjk_char(data: str) -> float:
    from core.jsonio import read_jsonl
    from core.text import cjk_count

    rows = read_jsonl(Path(data) / "sft_train.jsonl")
    tokens = sum(r["meta"]["prompt_tokens"] + r["meta"]["completion_tokens"] for r in rows)
    chars = sum(cjk_count(m["content"]) for r in rows for m in r["prompt"] + r["completion"])
    return tokens / chars if chars else float("nan")   # nan: an archive without Chinese has no such speed


def data_for(base_model: str, folder: Path) -> str:
    """`make data` on the bundled archive for another model's tokenizer (paraphrasing off)."""
    done = subprocess.run([sys.executable, "-m", "prep.build_dataset", "--archive", "corpora/luxun-archive", "--out",
                           str(folder), "--set", f"base_model={base_model}", "paraphrase.max_chunks=0"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench train: data for {base_model} failed:\n{done.stderr[-3000:]}")
    return str(folder)


def main() -> None:
    import tempfile

    from core.bundled_models import BUNDLED
    from core.config import load
    from core.manifest import REPO_ROOT
    from train.config import TrainConfig

    data = os.environ.get("BENCH_DATA", "data")
    steps = int(os.environ.get("BENCH_STEPS", "6"))
    if not (Path(data) / "sft_train.jsonl").is_file():
        print(f"skipped: {data}/sft_train.jsonl not found; run `make data` first (or set BENCH_DATA)")
        return
    default = load(TrainConfig, CONFIG, []).base_model
    others = [m.model_dir for m in BUNDLED.values()
              if m.model_dir != default and (REPO_ROOT / m.model_dir / "config.json").is_file()]
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        results = {(name, default): measure(name, data, steps, Path(tmp) / name, default) for name in ("seed", "ours")}
        for model_dir in others:
            model_data = data_for(model_dir, Path(tmp) / f"data-{Path(model_dir).name}")
            results[("ours", model_dir)] = measure("ours", model_data, steps, Path(tmp) / Path(model_dir).name, model_dir)
    print(f"rows: {data} for {default}, the bundled archive's (built per tokenizer) for the others; settings from "
          f"{CONFIG}; {steps} optimiser steps each")
    print(f"{'recipe':<8}{'base model':<40}{'real tokens':>12}{'seconds':>10}{'tokens/s':>10}{'CJK chars/s':>13}"
          f"{'peak RSS MB':>13}")
    for (name, model_dir), r in results.items():
        print(f"{name:<8}{model_dir:<40}{r['real_tokens']:>12}{r['train_seconds']:>10.1f}{r['tokens_per_s']:>10.1f}"
              f"{r['chars_per_s']:>13.1f}{r['peak_rss_mb']:>13.0f}")
    ours, seed = results[("ours", default)], results[("seed", default)]
    speed, memory = ours["tokens_per_s"] / seed["tokens_per_s"], ours["peak_rss_mb"] / seed["peak_rss_mb"]
    print(f"ours / seed on {default}: tokens/s {speed:.2f}x (target >= 1.3x), peak RSS {memory:.2f}x (target <= 1.0x)")


if __name__ == "__main__":  # child process: python -m bench.bench_train RECIPE DATA STEPS WORKDIR MODEL [KEY=VALUE…]
    from core import offline

    offline.enable()
    recipe, data_dir, n_steps, work, model, *extra = sys.argv[1:]
    result = {"seed": run_seed, "ours": run_ours}[recipe](data_dir, int(n_steps), work, model, *extra)
    print(json.dumps(result))
