"""What select_checkpoint=style costs: the same `make train` run (train/lora_sft.yaml, $BENCH_STEPS optimiser
steps, default 8, an evaluation and a checkpoint every $BENCH_EVAL_STEPS, default 4) with the checkpoint chosen
by validation loss (the baseline: the evaluations and checkpoints that any selection needs) and by style (the
same, plus at every evaluation style_prompts seeded generations of style_max_new_tokens tokens and their
scoring, train/selection.py). Rows: $BENCH_DATA (default `data`). Each run in a fresh process; the step each
selection chose and its score (val loss; style score, lower = closer, >= 2 = the guard failed) are printed.

    python -m bench.run --only selection
"""
import os
import tempfile
from pathlib import Path

from bench.bench_train import CONFIG, measure


def main() -> None:
    from core.config import load
    from train.config import TrainConfig

    data = os.environ.get("BENCH_DATA", "data")
    steps = int(os.environ.get("BENCH_STEPS", "8"))
    eval_steps = int(os.environ.get("BENCH_EVAL_STEPS", "4"))
    if not (Path(data) / "sft_train.jsonl").is_file():
        print(f"skipped: {data}/sft_train.jsonl not found; run `make data` first (or set BENCH_DATA)")
        return
    cfg = load(TrainConfig, CONFIG, [])
    every = [f"eval_steps={eval_steps}", f"save_steps={eval_steps}"]
    with tempfile.TemporaryDirectory(prefix="bench_selection_") as tmp:
        results = {select: measure("ours", data, steps, Path(tmp) / select, cfg.base_model, *every,
                                   f"select_checkpoint={select}") for select in ("loss", "style")}
    print(f"rows: {data}; settings from {CONFIG} ({cfg.base_model}); {steps} optimiser steps, an evaluation every "
          f"{eval_steps}; style: {cfg.style_prompts} prompts x {cfg.style_max_new_tokens} new tokens per evaluation")
    print(f"{'select_checkpoint':<19}{'evaluations':>12}{'chosen step':>12}{'its score':>11}{'seconds':>10}"
          f"{'peak RSS MB':>13}")
    for select, r in results.items():
        if r["best_metric"] is None:   # the run evaluated nothing, so it measured no selection
            raise SystemExit(f"bench selection: select_checkpoint={select} chose no step; check BENCH_EVAL_STEPS")
        print(f"{select:<19}{r['evaluations']:>12}{r['best_step']:>12}{r['best_metric']:>11.3f}"
              f"{r['train_seconds']:>10.1f}{r['peak_rss_mb']:>13.0f}")
    loss, style = results["loss"], results["style"]
    per_evaluation = (style["train_seconds"] - loss["train_seconds"]) / max(style["evaluations"], 1)
    print(f"style / loss: time {style['train_seconds'] / loss['train_seconds']:.2f}x "
          f"(+{per_evaluation:.0f} s per evaluation), peak RSS {style['peak_rss_mb'] / loss['peak_rss_mb']:.2f}x")
