"""The training recipe: one (Q)LoRA adapter, trained by TRL in one of three stages (config key `stage`):
- sft (default): SFTTrainer on the SFT rows (the tokenizer's chat template, loss on the completion only,
  optional packing);
- cpt: SFTTrainer on the raw text of the training chunks (no chat template, loss on every token but each
  chunk's first, packed):
  continued pre-training on the author's prose, alone or before SFT;
- dpo: DPOTrainer on `make pairs`' preference pairs, starting from init_adapter, which is also the reference.

    python -m train.sft --config train/lora_sft.yaml --data data --run outputs/demo [--set key=value ...]

Usually started by train.launch (which also handles several processes). Steps: validate the config and the
data -> seed -> base model (4-bit if asked) -> LoRA (fresh, or init_adapter's) -> the stage's trainer ->
resume from the last complete checkpoint if there is one -> train -> the selected checkpoint's adapter
(select_checkpoint: last, lowest val loss, or by style, train/selection.py) -> adapter/, train_log.jsonl,
curves.png, TensorBoard events and manifest.json in the run folder.
"""
import argparse
import os
import resource
import sys
import time
from pathlib import Path

from core import offline

offline.enable()  # before anything imports transformers / huggingface_hub

from core.config import ConfigError, to_dict  # noqa: E402
from core.jsonio import folder_replaced, read_json, sha256_tree, write_json, write_jsonl  # noqa: E402
from core.manifest import cpu_model, environment  # noqa: E402
from core.model import ModelNotFound, load_causal_lm, load_tokenizer, resolve_model_dir, tokenizer_fingerprint  # noqa: E402,E501
from core.seed import seed_everything  # noqa: E402
from train.config import STYLE_METRIC, TrainConfig, load_config  # noqa: E402
from core.rows import read_rows  # noqa: E402
from train.data import DataError, check_tokenizer, load_splits, manifest_sha256  # noqa: E402
from train.memory import set_mmap_threshold  # noqa: E402

OOM_ADVICE = ("out of GPU memory. Lower, in this order (make train SET=\"...\"): per_device_batch_size=1 "
              "(and raise gradient_accumulation_steps to keep the effective batch), gradient_checkpointing=true, "
              "max_length=512 (or 256), load_in_4bit=true, lora_r=8; or use a smaller base_model.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="train/lora_sft.yaml")
    parser.add_argument("--data", default="data", help="folder from `make data`")
    parser.add_argument("--run", default="outputs/demo", help="run folder for checkpoints and outputs")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides")
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace) -> tuple[TrainConfig, Path]:
    """Everything that can be wrong with the inputs, checked before a model is loaded."""
    cfg = load_config(args.config, args.set)
    model_dir = resolve_model_dir(cfg.base_model)
    check_tokenizer(Path(args.data), model_dir)
    if cfg.init_adapter:
        check_init_adapter(cfg, model_dir)
    if cfg.stage == "dpo":
        check_pairs(cfg, Path(args.data), model_dir)
    if cfg.select_checkpoint == "style" and not any(r["meta"]["template"] == "continue"
                                                    for r in read_rows(args.data, "val")):
        raise ConfigError(f"select_checkpoint=style generates continuations of validation openings, and "
                          f"{args.data} has no continue rows in its validation split; use select_checkpoint=loss")
    return cfg, model_dir


def check_pairs(cfg: TrainConfig, data_dir: Path, model_dir: Path) -> None:
    """Stage dpo's pairs must be the ones `make pairs` made from this adapter and this data: pairs of another
    adapter are not its own continuations, and pairs of another split could put validation text in training."""
    pairs_manifest = check_tokenizer(Path(cfg.pairs_dir), model_dir)
    if pairs_manifest.get("adapter_sha256") != sha256_tree(Path(cfg.init_adapter)):
        raise ConfigError(f"{cfg.pairs_dir} was made by another adapter than init_adapter {cfg.init_adapter} (was "
                          "it retrained since?); rebuild the pairs with `make pairs RUN=<its run>`")
    if pairs_manifest.get("data", {}).get("manifest_sha256") != manifest_sha256(data_dir):
        raise ConfigError(f"{cfg.pairs_dir} was made from other data than {data_dir}; rebuild the pairs with "
                          f"`make pairs DATA={data_dir}`, or train with the DATA they were made from")


def check_init_adapter(cfg: TrainConfig, model_dir: Path) -> None:
    """The adapter to go on training must exist, sit on this base model and have this config's LoRA shape."""
    adapter_config = Path(cfg.init_adapter) / "adapter_config.json"
    if not adapter_config.is_file():
        raise ConfigError(f"init_adapter: {adapter_config} not found; point it at a finished run's adapter/ "
                          "(train that run first)")
    saved = read_json(adapter_config)
    if resolve_model_dir(saved.get("base_model_name_or_path", "")) != model_dir:
        raise ConfigError(f"init_adapter: {cfg.init_adapter} was trained on {saved.get('base_model_name_or_path')}, "
                          f"not on base_model {cfg.base_model}")
    shape = {"lora_r": saved.get("r"), "lora_alpha": saved.get("lora_alpha"), "lora_dropout": saved.get("lora_dropout")}
    if shape != {"lora_r": cfg.lora_r, "lora_alpha": cfg.lora_alpha, "lora_dropout": cfg.lora_dropout}:
        raise ConfigError(f"init_adapter: {cfg.init_adapter} was made with "
                          f"{', '.join(f'{key}={value}' for key, value in shape.items())}; set these keys to match "
                          "(its target modules are used as saved)")


def check_same_run(run_dir: Path, cfg: TrainConfig) -> None:
    """Resuming is only sound with the settings the checkpoints were made with."""
    saved = run_dir / "config.json"
    if saved.is_file() and (run_dir / "checkpoints").is_dir():
        previous = read_json(saved)
        changed = sorted(k for k, v in to_dict(cfg).items() if previous.get(k) != v and k != "max_steps")
        if changed:
            raise ConfigError(f"{run_dir} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                              "pick a new RUN= folder or delete that one to start over")


def build_model(cfg: TrainConfig, model_dir: Path):
    """Base model (frozen, 4-bit when asked) with fresh LoRA weights (seeded first, so they are reproducible) or
    init_adapter's, trainable."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    seed_everything(cfg.seed)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    model = load_causal_lm(model_dir, load_in_4bit=cfg.load_in_4bit, quant_type=cfg.bnb_4bit_quant_type,
                           compute_dtype=cfg.bnb_4bit_compute_dtype, double_quant=cfg.bnb_4bit_use_double_quant,
                           device=device)
    model.config.use_cache = False  # the KV cache is for generation; training only wastes memory on it
    seed_everything(cfg.seed)  # loading may draw random numbers; LoRA init must not depend on how many
    if cfg.init_adapter:
        model = PeftModel.from_pretrained(model, cfg.init_adapter, is_trainable=True)
    else:
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    saved = model.peft_config["default"]
    # Relative, as written in the config, so the adapter's bytes do not depend on where the repo is checked out.
    saved.base_model_name_or_path = cfg.base_model
    # "all-linear" expands to a set, whose order follows per-process string hashing: sorted, adapter_config.json
    # has the same bytes in every run.
    if isinstance(saved.target_modules, (set, list)):
        saved.target_modules = sorted(saved.target_modules)
    return model


def training_arguments(cfg: TrainConfig, run_dir: Path):
    """TRL's config for the stage: SFTConfig (sft, cpt) or DPOConfig (dpo), the same schedule, checkpoints,
    seeds and precision for all three, and the checkpoint-selection metric."""
    import torch
    from trl import DPOConfig, SFTConfig

    precision = cfg.resolved_precision
    common = dict(
        output_dir=str(run_dir / "checkpoints"), run_name=cfg.run_name,
        per_device_train_batch_size=cfg.per_device_batch_size, per_device_eval_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1, num_train_epochs=cfg.num_train_epochs,
        warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.lr_scheduler_type, weight_decay=cfg.weight_decay,
        max_length=cfg.max_length, gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        eval_strategy="steps", eval_steps=cfg.eval_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, logging_steps=cfg.logging_steps,
        seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(), report_to=["tensorboard"], dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )
    if cfg.select_checkpoint != "last":
        # The Trainer keeps the best checkpoint from rotation, records it in its state (so a resumed run knows
        # it) and loads it at the end; ties keep the earlier step.
        common.update(load_best_model_at_end=True, greater_is_better=False, metric_for_best_model=cfg.selection_metric)
    if cfg.stage == "dpo":
        return DPOConfig(**common, beta=cfg.dpo_beta, loss_type=[cfg.dpo_loss_type],
                         include_num_input_tokens_seen="non_padding")
    packing = cfg.packing or cfg.stage == "cpt"
    return SFTConfig(
        **common, packing=packing, packing_strategy="bfd", completion_only_loss=cfg.stage == "sft",
        # Packed batches are one flat sequence without padding; unpacked ones have an attention mask to count by
        # (the pad token is <|im_end|>, which also occurs in real text, so "non_padding" would undercount packs).
        include_num_input_tokens_seen="all" if packing else "non_padding",
    )


def hardware() -> dict:
    import psutil
    import torch

    info = {"cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "world_size": int(os.environ.get("WORLD_SIZE", 1))}
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        info["distributed_backend"] = torch.distributed.get_backend()
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def peak_memory() -> dict:
    import torch

    # ru_maxrss is in KiB on Linux.
    memory = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        memory["peak_cuda_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return memory


def save_adapter(model, out: Path) -> None:
    """PEFT save into a temp folder, then swapped in: `adapter/` is always either the old or the new one."""
    with folder_replaced(out) as tmp:
        model.save_pretrained(str(tmp), selected_adapters=["default"])   # not DPO's frozen "ref" copy


def keep_adapter_in_compute_dtype(model, cfg: TrainConfig) -> None:
    """SFTTrainer casts the LoRA weights of a 4-bit model to bf16 (the QLoRA paper's GPU recipe). Put them back
    in bnb_4bit_compute_dtype: a CPU without native bf16 runs those matmuls about 2x slower, and float32
    compute should train and save float32 adapters. (Runs before the optimizer exists, so it tracks these.)"""
    import torch

    if not cfg.load_in_4bit:
        return
    dtype = getattr(torch, cfg.bnb_4bit_compute_dtype)
    for name, parameter in model.named_parameters():
        # DPO's frozen "ref" copy of the adapter too: the reference pass runs the same matmuls
        if (parameter.requires_grad or "lora_" in name) and parameter.dtype != dtype:
            parameter.data = parameter.data.to(dtype)


def restore_init_adapter(model, init_adapter: Path) -> None:
    """The trainers round the trainable LoRA weights of a 4-bit model to bf16 (see keep_adapter_in_compute_dtype),
    after DPOTrainer has copied them, unrounded, into its reference adapter. Training must start from the
    starting adapter's exact weights, in every adapter the model holds (policy and DPO's reference alike)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(init_adapter / "adapter_model.safetensors")
    for name in model.peft_config:
        set_peft_model_state_dict(model, weights, adapter_name=name)


def build_trainer(cfg: TrainConfig, model_dir: Path, args: argparse.Namespace):
    """The stage's TRL trainer. sft: prompt/completion rows rendered by the tokenizer's own chat template, loss
    on completion tokens only (TRL's default for such rows, set explicitly); cpt: raw chunk texts, loss on every
    token; dpo: prompt/chosen/rejected pairs, the starting adapter as reference (TRL keeps a frozen copy)."""
    from transformers.trainer_callback import ProgressCallback
    from trl import DPOTrainer, SFTTrainer

    from train.callbacks import JsonlLog, TokenProgress
    from train.checkpoints import MarkComplete

    run_dir = Path(args.run)
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    set_mmap_threshold()   # before the model loads: see train/memory.py
    train_rows, val_rows = load_splits(args.data, cfg.eval_max_rows, cfg.stage, cfg.pairs_dir)
    tokenizer = load_tokenizer(model_dir)
    model = build_model(cfg, model_dir)
    trainer_class = DPOTrainer if cfg.stage == "dpo" else SFTTrainer
    trainer = trainer_class(model=model, args=training_arguments(cfg, run_dir), train_dataset=train_rows,
                            eval_dataset=val_rows, processing_class=tokenizer)
    keep_adapter_in_compute_dtype(trainer.model, cfg)
    if cfg.init_adapter:
        restore_init_adapter(trainer.model, Path(cfg.init_adapter))
    trainer.remove_callback(ProgressCallback)
    callbacks = [TokenProgress(), JsonlLog(run_dir / "train_log.jsonl"), MarkComplete()]
    if cfg.select_checkpoint == "style":
        from train.selection import StyleProbe, StyleSelection

        probe = StyleProbe.from_data(Path(args.data), cfg.style_prompts, cfg.seed)
        callbacks.insert(0, StyleSelection(probe, tokenizer, cfg.style_max_new_tokens, cfg.seed))
    for callback in callbacks:
        trainer.add_callback(callback)
    return trainer


def selection_record(cfg: TrainConfig, state, rows: list[dict]) -> dict:
    """Which evaluated step became adapter/, and why, from the Trainer's state and the log."""
    evaluated = [{key: row[key] for key in ("step", "eval_loss", STYLE_METRIC, "eval_style_failing")
                  if key in row} for row in rows if "eval_loss" in row]
    if cfg.select_checkpoint == "last":
        return {"by": "last", "chosen_step": state.global_step, "evaluated": evaluated,
                "why": "select_checkpoint=last: the adapter of the final step"}
    metric = cfg.selection_metric
    record = {"by": cfg.select_checkpoint, "metric": metric, "best_metric": state.best_metric, "evaluated": evaluated}
    best = state.best_model_checkpoint
    if state.best_metric is None:
        return {**record, "chosen_step": state.global_step, "why": "no evaluation ran; the final step's adapter"}
    if not best or not Path(best).is_dir() or not best.endswith(f"checkpoint-{state.best_global_step}"):
        # A kill -9 between the Trainer's rotation and the new checkpoint's completion can lose the best one.
        return {**record, "chosen_step": state.global_step,
                "why": f"the best step's checkpoint (step {state.best_global_step}) is gone (a run killed while "
                       "saving); the final step's adapter is kept"}
    chosen = state.best_global_step
    return {**record, "chosen_step": chosen,
            "why": f"lowest {metric} ({state.best_metric:.4f}) of {len(evaluated)} evaluations, at step {chosen}"}


def train(cfg: TrainConfig, model_dir: Path, args: argparse.Namespace) -> dict:
    import torch

    from core.figures import training_curves
    from train.callbacks import log_rows
    from train.checkpoints import checkpoint_step, ends_the_run, finish_from, last_complete

    started = time.perf_counter()
    run_dir = Path(args.run)
    main_process = int(os.environ.get("RANK", 0)) == 0
    check_same_run(run_dir, cfg)
    if main_process:
        write_json(run_dir / "config.json", to_dict(cfg))
    trainer = build_trainer(cfg, model_dir, args)
    if len(trainer.train_dataset) == 0:   # TRL drops rows whose completion max_length cuts off entirely
        raise DataError(f"no training example of {args.data if cfg.stage != 'dpo' else cfg.pairs_dir} fits in "
                        f"max_length={cfg.max_length} tokens with its completion; raise max_length")

    resume = last_complete(run_dir / "checkpoints", discard_incomplete=main_process)
    finished = resume is not None and ends_the_run(resume, cfg.max_steps)
    if finished:
        print(f"{resume} is the run's final step: finishing the run from it, no training", flush=True)
    elif resume is not None:
        print(f"resuming from {resume} (last complete checkpoint)", flush=True)
    try:
        if finished:
            finish_from(trainer, resume)
        else:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if cfg.select_checkpoint == "last" and not any(e.get("step") == trainer.state.global_step and "eval_loss" in e
                                                       for e in trainer.state.log_history):
            trainer.evaluate()  # the curve and the manifest should end on the final adapter's val loss
    except torch.OutOfMemoryError:
        sys.exit(f"error: {OOM_ADVICE}")
    keep_adapter_in_compute_dtype(trainer.model, cfg)   # loading the best checkpoint casts the adapter to float32

    if not trainer.is_world_process_zero():
        return {}
    save_adapter(trainer.model, run_dir / "adapter")
    rows = log_rows(trainer.state.log_history)
    write_jsonl(run_dir / "train_log.jsonl", rows)   # with the style scores added after the last log
    training_curves(rows, run_dir / "curves.png", f"{cfg.run_name}: {cfg.base_model}")
    selection = selection_record(cfg, trainer.state, rows)
    chosen_eval = [r for r in rows if "eval_loss" in r and r["step"] <= selection["chosen_step"]]
    last_eval = chosen_eval[-1] if chosen_eval else {}
    manifest = {
        "stage": "train", "training_stage": cfg.stage, "config": to_dict(cfg), "config_file": str(args.config),
        "init_adapter": ({"dir": cfg.init_adapter, "sha256": sha256_tree(Path(cfg.init_adapter))}
                         if cfg.init_adapter else None),
        "pairs": ({"dir": cfg.pairs_dir, "manifest_sha256": manifest_sha256(cfg.pairs_dir)}
                  if cfg.stage == "dpo" else None),
        "selection": selection,
        "resolved": {"precision": cfg.resolved_precision, "base_model_dir": str(model_dir),
                     "tokenizer_fingerprint": tokenizer_fingerprint(model_dir)},
        "data": {"dir": str(args.data), "manifest_sha256": manifest_sha256(args.data),
                 # sequences as trained on: packed rows when packing is on
                 "train_sequences": len(trainer.train_dataset), "val_sequences": len(trainer.eval_dataset)},
        "seed": cfg.seed, "environment": environment(), "hardware": hardware(),
        "resumed_from_step": checkpoint_step(resume) if resume else None,
        "global_step": trainer.state.global_step, "tokens_seen": trainer.state.num_input_tokens_seen,
        "final": {"eval_loss": last_eval.get("eval_loss"), "eval_perplexity": last_eval.get("eval_perplexity")},
        "wall_time_s": time.perf_counter() - started, **peak_memory(),
        "outputs": {f"adapter/{name}": digest for name, digest in sha256_tree(run_dir / "adapter").items()},
    }
    write_json(run_dir / "manifest.json", manifest)
    print(f"adapter written to {run_dir / 'adapter'} (step {selection['chosen_step']} of "
          f"{trainer.state.global_step}: {selection['why']}; val loss {last_eval.get('eval_loss')}); "
          f"log {run_dir / 'train_log.jsonl'}")
    return manifest


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        cfg, model_dir = prepare(args)
        train(cfg, model_dir, args)
    except (ConfigError, DataError, ModelNotFound) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
