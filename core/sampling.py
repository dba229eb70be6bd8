"""Sampling settings shared by every stage that generates: eval (base, adapter and few-shot outputs), and
train's chat and export (the Ollama Modelfile's PARAMETERs). Their values live in eval/eval.yaml's
`generation:` section and `seed`; the schema lives here so that train reads them without importing eval."""
from pathlib import Path
from typing import Literal

from core.config import Settings, load_sections, setting


class GenerationConfig(Settings):
    num_prompts: int = setting(12, "held-out prompts per system (split evenly over the templates)", min=2)
    templates: list[Literal["continue", "expand"]] = setting(["continue", "expand"],
                                                             "prompt templates taken from the held-out rows")
    max_new_tokens: int = setting(120, "tokens generated per prompt", min=1)
    batch_size: int = setting(12, "prompts per generate() call (left padded)", min=1)
    do_sample: bool = setting(True, "sample (True) or greedy decode (False)")
    temperature: float = setting(0.7, "sampling temperature", min=0.01)
    top_p: float = setting(0.9, "nucleus sampling mass", min=0.01, max=1.0)
    repetition_penalty: float = setting(1.1, "HF repetition penalty", min=1.0)


class Sampling(Settings):
    """The keys of an eval config that chat and export use; its other sections are eval's alone."""
    seed: int = setting(1234, "seeds sampling")
    generation: GenerationConfig = setting(GenerationConfig(), "sampling settings")


def load_sampling(eval_config: str | Path) -> Sampling:
    """`seed` and `generation:` of an eval config file, validated like every key (eval validates the rest)."""
    return load_sections(Sampling, eval_config)
