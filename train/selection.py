"""Checkpoint chosen by style (select_checkpoint=style): at every evaluation, the adapter as it stands writes a
few seeded continuations of validation openings; the degenerate-text guard (core/degeneracy.py: diversity,
repeats, foreign script, echo of the prompt; fluency is left to `make eval`, it needs a base-model pass per
text) judges each, and the ones that pass are pooled and compared with the author's held-out text by Cosine
Delta on most-frequent-word z-scores (core/stylometry.py; the z-scores' mean and spread are the author's
training chunks'). Lower is closer. When more than the guard's max_failing_share of the texts fail, the step
scores WORST_SCORE plus its failing share, whatever its Delta: a checkpoint that loops or echoes is never the
most "in style", and of two such, the one with fewer failing texts ranks first.

The score goes into the evaluation metrics as eval_style_score, so the Trainer's own best-checkpoint
machinery (metric_for_best_model, kept from rotation, restored on resume, loaded at the end) picks the step."""
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from core.chunks import read_chunks
from core.copying import TrainingText
from core.degeneracy import DEFAULT_LIMITS, check_text, script_inventory
from core.rows import read_rows
from core.sampling import GenerationConfig
from core.seed import stable_unit
from core.stylometry import ZScorer, cosine_delta, mfw_frequencies, most_frequent_words, profile
from train.config import STYLE_METRIC

WORST_SCORE = 2.0   # Cosine Delta lies in [0, 2]; a failing step scores in [2, 3]
MFW_COUNT = 100


@dataclass
class StyleProbe:
    """The fixed inputs of the score: validation openings, and the author's profile to compare with."""
    conversations: list[list[dict]]
    mfw: list[str]
    zscore: ZScorer
    author_z: np.ndarray   # the author's held-out text, pooled
    inventory: set[str]

    @classmethod
    def from_data(cls, data_dir: Path, prompts: int, seed: int) -> "StyleProbe":
        rows = [r for r in read_rows(data_dir, "val") if r["meta"]["template"] == "continue"]
        rows.sort(key=lambda r: (stable_unit(seed, "style-probe", r["meta"]["chunk_id"]), r["meta"]["chunk_id"]))
        chunks = read_chunks(data_dir)
        train = [c.text for c in chunks if c.split == "train"]
        heldout = "\n\n".join(c.text for c in chunks if c.split == "val")
        train_profiles = [profile(text, 1) for text in train]
        mfw = most_frequent_words(train_profiles, MFW_COUNT)
        zscore = ZScorer.fit(mfw_frequencies(train_profiles, mfw))
        return cls([r["prompt"] for r in rows[:prompts]], mfw, zscore,
                   zscore(mfw_frequencies([profile(heldout, 1)], mfw))[0], script_inventory(train))

    def score(self, outputs: list[str]) -> dict:
        """eval_style_score (lower = closer to the author), how many texts failed the guard (eval_style_failing)
        and why."""
        checks = [check_text(text, self.inventory, DEFAULT_LIMITS,
                             prompt_echo=TrainingText([conversation[-1]["content"]]).ngram_share(text))
                  for text, conversation in zip(outputs, self.conversations)]
        passing = [text for text, check in zip(outputs, checks) if check["passes"]]
        failing = len(outputs) - len(passing)
        if not passing or failing / len(outputs) > DEFAULT_LIMITS.max_failing_share:
            score = WORST_SCORE + failing / len(outputs)   # among failing steps, fewer failures rank first
        else:
            z = self.zscore(mfw_frequencies([profile("\n\n".join(passing), 1)], self.mfw))[0]
            score = cosine_delta(z, self.author_z)
        reasons = Counter(reason for check in checks for reason in check["failed"])
        return {STYLE_METRIC: score, "eval_style_failing": failing,
                "eval_style_reasons": dict(sorted(reasons.items()))}


class StyleSelection(TrainerCallback):
    """Scores the model at every evaluation; the generations are seeded and the training RNG is restored
    afterwards, so scoring changes no trained weight."""

    def __init__(self, probe: StyleProbe, tokenizer, max_new_tokens: int, seed: int):
        self.probe, self.tokenizer, self.max_new_tokens, self.seed = probe, tokenizer, max_new_tokens, seed

    def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
        import torch

        from core.generate import generate_chat

        sampling = GenerationConfig()   # eval's default sampling settings
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
            outputs = generate_chat(model, self.tokenizer, self.probe.conversations, self.max_new_tokens, self.seed,
                                    batch_size=len(self.probe.conversations), do_sample=sampling.do_sample,
                                    temperature=sampling.temperature, top_p=sampling.top_p,
                                    repetition_penalty=sampling.repetition_penalty, desc="style score")
        scored = self.probe.score(outputs)
        # The Trainer picks the best checkpoint from this dict.
        metrics.update({key: scored[key] for key in (STYLE_METRIC, "eval_style_failing")})
        # The Trainer logged these metrics just before this callback; the logged entry gets the score too.
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(scored)
