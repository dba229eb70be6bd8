"""What the run shows and records while it trains: a tqdm bar with tokens/s and ETA, and train_log.jsonl
(every logged step, rewritten atomically so a kill never leaves a torn line)."""
import math
import time
from pathlib import Path

from tqdm import tqdm
from transformers import TrainerCallback

from core.jsonio import write_jsonl

DPO_ACCURACY = "eval_rewards/accuracies"   # share of val pairs whose chosen text gets the higher implicit reward
LOG_KEYS = ("step", "epoch", "loss", "learning_rate", "grad_norm", "eval_loss", "eval_perplexity",
            "num_input_tokens_seen", "eval_style_score", "eval_style_failing", "eval_style_reasons",
            "rewards/accuracies", "rewards/margins", "eval_rewards/accuracies", "eval_rewards/margins")


class TokenProgress(TrainerCallback):
    """One bar over the optimiser steps; tokens/s counts the tokens this process actually fed the model."""

    def __init__(self):
        self.bar = None
        self.start_tokens = 0
        self.start_time = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                            dynamic_ncols=True)
            self.start_tokens, self.start_time = state.num_input_tokens_seen, time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            seconds = max(time.perf_counter() - self.start_time, 1e-9)
            self.bar.set_postfix({"tok/s": f"{(state.num_input_tokens_seen - self.start_tokens) / seconds:.0f}"},
                                 refresh=False)
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.write(f"step {state.global_step}: loss {logs['loss']:.4f}")
        if self.bar is not None and logs and "eval_loss" in logs:
            second = (f"val reward accuracy {logs[DPO_ACCURACY]:.2f}" if DPO_ACCURACY in logs
                      else f"val perplexity {math.exp(logs['eval_loss']):.2f}")
            self.bar.write(f"step {state.global_step}: val loss {logs['eval_loss']:.4f}, {second}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()


def log_rows(log_history: list[dict]) -> list[dict]:
    """Trainer log history -> rows of the known keys, with val perplexity = exp(val loss) where the loss is a
    language-model loss (not DPO's preference loss)."""
    rows = []
    for entry in log_history:
        if "loss" not in entry and "eval_loss" not in entry:
            continue  # the end-of-training summary repeats totals, not a step
        row = {key: entry[key] for key in LOG_KEYS if key in entry}
        if "eval_loss" in entry and DPO_ACCURACY not in entry:
            row["eval_perplexity"] = math.exp(min(entry["eval_loss"], 50.0))
        rows.append(row)
    return rows


class JsonlLog(TrainerCallback):
    """Rewrites `train_log.jsonl` from the Trainer's log history after every log; the history is restored
    from the checkpoint on resume, so the file always matches the steps the adapter went through."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero:
            write_jsonl(self.path, log_rows(state.log_history))
