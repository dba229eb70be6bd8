"""A run's model, as `make train` left it in $(RUN): the base model folder its adapter was trained on, loaded
with the 4-bit settings the run trained with, and the adapter on top. The one loader of `make sample`,
`make merge` and `make eval` (and of any later stage that needs the trained model).

    model, tokenizer, base_model_dir = load_run_model(Path("outputs/demo"))
"""
from pathlib import Path

from core.jsonio import read_json
from core.model import load_causal_lm, load_tokenizer, resolve_model_dir

# Train-config key -> core.model.load_causal_lm argument (the run manifest records the train config's names).
QUANTISATION_KEYS = {"load_in_4bit": "load_in_4bit", "bnb_4bit_quant_type": "quant_type",
                     "bnb_4bit_compute_dtype": "compute_dtype", "bnb_4bit_use_double_quant": "double_quant"}


class RunNotFound(FileNotFoundError):
    """$(RUN) holds no finished adapter; the message says how to make one."""


def run_base_model(run_dir: Path) -> tuple[Path, dict]:
    """The run's base model folder and the load_causal_lm arguments of the quantisation it trained with;
    checks only files, loads nothing."""
    adapter_config = Path(run_dir) / "adapter" / "adapter_config.json"
    if not adapter_config.is_file():
        raise RunNotFound(f"{adapter_config} not found: train first (`make train RUN={run_dir}`)")
    base_name = read_json(adapter_config).get("base_model_name_or_path")
    if not base_name:
        raise RunNotFound(f"{adapter_config} has no base_model_name_or_path; re-save the adapter with PEFT")
    manifest = Path(run_dir) / "manifest.json"
    config = read_json(manifest).get("config", {}) if manifest.is_file() else {}
    quantisation = {argument: config[key] for key, argument in QUANTISATION_KEYS.items() if config.get(key) is not None}
    return resolve_model_dir(base_name), quantisation


def load_run_model(run_dir: Path, adapter: bool = True, quantised: bool = True):
    """(model, tokenizer, base_model_dir): the base model quantised as in training (or, quantised=False, in
    float32: what a merge needs, since LoRA deltas cannot be folded into 4-bit weights), with the run's
    adapter on top unless adapter=False; in eval mode."""
    model_dir, quantisation = run_base_model(run_dir)
    settings = quantisation if quantised else {"load_in_4bit": False, "compute_dtype": "float32"}
    model = load_causal_lm(model_dir, adapter=Path(run_dir) / "adapter" if adapter else None, **settings)
    return model, load_tokenizer(model_dir), model_dir
