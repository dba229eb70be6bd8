"""Every training setting, its documentation and its bounds; the YAML files in train/ only set values.

Flat keys, so `--set lora_r=8 max_steps=20` overrides what the YAML says. Hardware checks (bf16/fp16) run
here too, so a bad setting fails before any model is loaded.
"""
from typing import Literal

from pydantic import model_validator

from core.config import ConfigError, Settings, load, setting
from core.model import DEFAULT_MODEL_DIR

Dtype = Literal["float32", "bfloat16", "float16"]


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
        return self

    @property
    def resolved_precision(self) -> str:
        if self.precision == "auto":
            return "bf16" if _cuda_bf16() else "fp32"
        return self.precision


def load_config(path, overrides=None) -> TrainConfig:
    return load(TrainConfig, path, overrides)
