"""Every training setting, its documentation and its bounds; the YAML files in train/ only set values.

Flat keys, so `--set lora_r=8 max_steps=20` overrides what the YAML says. Hardware checks (bf16/fp16) run
here too, so a bad setting fails before any model is loaded.
"""
from pathlib import Path
from typing import Literal

from pydantic import model_validator

from core.config import ConfigError, Settings, load, setting
from core.model import DEFAULT_MODEL_DIR

Dtype = Literal["float32", "bfloat16", "float16"]
STYLE_METRIC = "eval_style_score"   # what select_checkpoint=style minimises; train/selection.py computes it


def _cuda_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


class TrainConfig(Settings):
    run_name: str = setting("qwen2.5-coder-0.5b-luxun", "label of the run in TensorBoard and the manifest")
    base_model: str = setting(DEFAULT_MODEL_DIR, "local model folder (config.json, safetensors, tokenizer); "
                                                 "a hub id without a local copy is refused, never downloaded")
    # Stage (docs/training.md, "Stages")
    stage: Literal["sft", "dpo", "cpt"] = setting(
        "sft", "sft: the prompt/completion rows of $(DATA), loss on the completion; dpo: the preference pairs of "
               "`make pairs` (TRL DPOTrainer), starting from init_adapter, which is also the reference model; cpt: "
               "the raw text of $(DATA)'s training chunks, no chat template, loss on every token, packed")
    init_adapter: str | None = setting(None, "adapter folder to go on training (a run's adapter/: the SFT run for "
                                             "dpo, the CPT run for SFT after CPT); null = fresh LoRA weights")
    pairs: str | None = setting(None, "stage dpo: the folder `make pairs` wrote; null = pairs/ beside init_adapter "
                                      "(in the run whose adapter generated the rejected texts)")
    dpo_beta: float = setting(0.1, "DPO: how strongly the adapter is held near the reference (the starting adapter); "
                                   "for ipo the regularisation strength", min=1e-4, max=10.0)
    dpo_loss_type: Literal["sigmoid", "sigmoid_norm", "ipo", "robust", "hinge", "apo_zero"] = setting(
        "sigmoid", "DPO loss (TRL's names): sigmoid = DPO; sigmoid_norm and ipo compare per-token average log "
                   "probabilities, so a longer text is not preferred for its length")
    # Checkpoint selection (docs/training.md, "Checkpoint chosen by style")
    select_checkpoint: Literal["last", "loss", "style"] = setting(
        "last", "which evaluated step becomes adapter/: the last; the lowest val loss; or the lowest style score "
                "(Cosine Delta of a few seeded generations to the author's held-out text, worst when the "
                "degenerate-text guard fails them), which costs style_prompts generations per evaluation")
    style_prompts: int = setting(4, "select_checkpoint=style: validation continue prompts generated at each "
                                    "evaluation (seeded choice)", min=1)
    style_max_new_tokens: int = setting(96, "select_checkpoint=style: tokens generated per prompt", min=8)
    # Quantisation (bitsandbytes; CPU and GPU)
    load_in_4bit: bool = setting(True, "QLoRA: load the frozen base weights in 4 bit; false = plain LoRA")
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = setting("nf4", "4-bit data type")
    bnb_4bit_compute_dtype: Dtype = setting("float32", "dtype the 4-bit weights are dequantised to for matmuls "
                                                       "(and the dtype of the non-quantised base)")
    bnb_4bit_use_double_quant: bool = setting(True, "also quantise the quantisation constants (saves ~0.4 bit/param)")
    # LoRA
    lora_r: int = setting(16, "rank of the LoRA update matrices", min=1, max=1024)
    lora_alpha: int = setting(32, "LoRA scaling numerator (update is scaled by alpha / r)", min=1)
    lora_dropout: float = setting(0.0, "dropout on the LoRA input", min=0.0, max=0.9)
    lora_target_modules: str | list[str] = setting("all-linear", "'all-linear' or a list of module names "
                                                                 "such as [q_proj, v_proj]")
    # Batches and schedule
    per_device_batch_size: int = setting(1, "sequences (packed rows when packing) per device per forward pass",
                                         min=1)
    gradient_accumulation_steps: int = setting(2, "forward passes per optimiser step", min=1)
    learning_rate: float = setting(2.0e-4, "peak learning rate", min=0.0, max=1.0)
    max_steps: int | None = setting(8, "optimiser steps to train; null = train num_train_epochs instead", min=1)
    num_train_epochs: float = setting(1.0, "epochs over the train split, used only when max_steps is null",
                                      min=0.0)
    warmup_steps: int = setting(2, "steps of linear learning-rate warm-up", min=0)
    lr_scheduler_type: Literal["linear", "cosine", "constant", "constant_with_warmup"] = setting(
        "cosine", "learning-rate schedule after warm-up")
    weight_decay: float = setting(0.0, "AdamW weight decay on the LoRA weights", min=0.0)
    max_length: int = setting(1024, "tokens per sequence (prompt + completion); longer rows are cut at the end; "
                                   "with packing, the length of one packed row", min=16)
    packing: bool = setting(True, "pack several rows into one sequence; each row still attends only to itself")
    gradient_checkpointing: bool = setting(False, "recompute activations in the backward pass: less memory, "
                                                  "~30 % slower")
    # Evaluation, checkpoints, logs
    eval_steps: int = setting(4, "compute val loss / perplexity every this many steps", min=1)
    eval_max_rows: int | None = setting(4, "val rows used for that (the first ones); null = the whole split",
                                        min=1)
    save_steps: int = setting(4, "write a resumable checkpoint every this many steps", min=1)
    save_total_limit: int = setting(2, "checkpoints kept (older ones are deleted)", min=1)
    logging_steps: int = setting(1, "log loss / learning rate every this many steps", min=1)
    # Reproducibility and precision
    seed: int = setting(1234, "seeds python, numpy, torch and transformers before the model and LoRA are built",
                        min=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = setting(
        "auto", "training precision: auto = bf16 on a GPU that has it, else fp32")

    @model_validator(mode="after")
    def _hardware_and_cross_key_rules(self) -> "TrainConfig":
        if self.precision == "bf16" and not _cuda_bf16():
            raise ConfigError("precision: bf16 needs a CUDA GPU with bfloat16 support (Ampere or newer) and this "
                              "machine has none; set precision=fp32 (or auto)")
        if self.precision == "fp16" and not _cuda():
            raise ConfigError("precision: fp16 mixed precision needs a CUDA GPU; set precision=fp32 (or auto)")
        if self.bnb_4bit_compute_dtype == "bfloat16" and _cuda() and not _cuda_bf16():
            raise ConfigError("bnb_4bit_compute_dtype: this GPU has no bfloat16; use float16 or float32")
        if self.max_steps is None and self.num_train_epochs <= 0:
            raise ConfigError("num_train_epochs: must be > 0 when max_steps is null")
        if isinstance(self.lora_target_modules, list) and not self.lora_target_modules:
            raise ConfigError("lora_target_modules: give 'all-linear' or at least one module name")
        if self.stage == "dpo" and not self.init_adapter:
            raise ConfigError("stage dpo starts from a trained adapter: set init_adapter (e.g. make train STAGE=dpo "
                              "FROM=outputs/demo, which sets init_adapter=outputs/demo/adapter)")
        if self.pairs and self.stage != "dpo":
            raise ConfigError(f"pairs: only stage dpo reads preference pairs (stage is {self.stage})")
        if self.select_checkpoint != "last" and self.save_steps != self.eval_steps:
            raise ConfigError(f"select_checkpoint={self.select_checkpoint} keeps the best evaluated step's checkpoint, "
                              f"so every evaluated step needs one: set save_steps ({self.save_steps}) equal to "
                              f"eval_steps ({self.eval_steps})")
        return self

    @property
    def selection_metric(self) -> str:
        """The evaluation metric select_checkpoint=loss or style minimises."""
        return "eval_loss" if self.select_checkpoint == "loss" else STYLE_METRIC

    @property
    def pairs_dir(self) -> str | None:
        """Where stage dpo reads its pairs: `pairs`, else pairs/ in init_adapter's run folder."""
        if self.stage != "dpo":
            return None
        return self.pairs or str(Path(self.init_adapter).parent / "pairs")

    @property
    def resolved_precision(self) -> str:
        if self.precision == "auto":
            return "bf16" if _cuda_bf16() else "fp32"
        return self.precision


def load_config(path, overrides=None) -> TrainConfig:
    return load(TrainConfig, path, overrides)


class PairsConfig(Settings):
    """Settings of `make pairs` (train/pairs.yaml): preference pairs from the author's archive for stage dpo."""
    source: Literal["adapter", "base"] = setting("adapter", "who writes the rejected continuation: the run's "
                                                            "adapter (default) or its base model")
    max_train_pairs: int = setting(32, "continue rows of the train split turned into pairs (seeded choice; each "
                                       "costs one generation)", min=1)
    max_val_pairs: int = setting(8, "the same for the validation split (pairs only from validation articles)",
                                 min=1)
    max_new_tokens: int = setting(160, "tokens generated per rejected continuation; both texts are then cut to "
                                       "the same length at a sentence end", min=16)
    length_tolerance: float = setting(0.15, "chosen and rejected may differ in length by at most this share of "
                                            "the shorter, after cutting at sentence ends", min=0.0, max=1.0)
    min_chars: int = setting(40, "a pair whose cut texts are shorter than this is dropped (counted)", min=1)
    max_copy_share: float = setting(0.5, "a rejected text with more than this share of its character 8-grams "
                                         "in the author's archive (any chunk, the prompt's included) is the "
                                         "author's own text, not a rejected one: dropped (counted)", min=0.0, max=1.0)
    batch_size: int = setting(16, "prompts per generate() call", min=1)
    temperature: float = setting(0.7, "sampling temperature", min=0.01)
    top_p: float = setting(0.9, "nucleus sampling mass", min=0.01, max=1.0)
    repetition_penalty: float = setting(1.1, "HF repetition penalty", min=1.0)
    seed: int = setting(1234, "seeds the choice of rows and the sampling", min=0)


def load_pairs_config(path, overrides=None) -> PairsConfig:
    return load(PairsConfig, path, overrides)
