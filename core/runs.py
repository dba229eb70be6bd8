"""A finished training run (the RUN folder `make train` leaves): checked, its model loaded, the system prompt it
was trained with. `make sample`, `make merge`, `make export`, `make chat` and `make eval` all start from a run, so they refuse
a missing one with the same message and load its model the same way."""
import json
from pathlib import Path

from core.jsonio import read_json
from core.model import load_causal_lm, load_tokenizer, resolve_model_dir


# The train-config keys that say how the run's base model was loaded (and must be loaded again), and the
# core.model.load_causal_lm argument each one is.
QUANTISATION_KEYS = {"load_in_4bit": "load_in_4bit", "bnb_4bit_quant_type": "quant_type",
                     "bnb_4bit_compute_dtype": "compute_dtype", "bnb_4bit_use_double_quant": "double_quant"}


class RunNotFound(FileNotFoundError):
    pass


def read_run(run: Path) -> dict:
    """The run's manifest; RunNotFound (saying what to do) when the run has no finished adapter."""
    if not (run / "adapter" / "adapter_config.json").is_file() or not (run / "manifest.json").is_file():
        raise RunNotFound(f"{run} has no finished adapter (adapter/ and manifest.json); train one with "
                          f"`make train RUN={run}`")
    return read_json(run / "manifest.json")


def base_model_dir(manifest: dict) -> Path:
    """The base model folder the run trained on; core.model.ModelNotFound (saying what to do) when it is gone."""
    return resolve_model_dir(manifest["config"]["base_model"])


def load_run_model(run: Path, manifest: dict, as_trained: bool = True):
    """(model with the run's adapter on top, tokenizer, base model folder). `as_trained`: the base loaded as in
    training (4-bit when the run trained QLoRA), to generate as the adapter was trained; otherwise unquantised
    float32 on CPU, the only base LoRA deltas fold into without a lossy re-quantisation (`make merge`).
    Raises core.model.ModelNotFound when the base model folder is gone."""
    cfg = manifest["config"]
    model_dir = base_model_dir(manifest)
    if as_trained:
        # load_causal_lm's defaults stand in for keys a manifest does not record (a run trained without 4 bit)
        settings = {argument: cfg[key] for key, argument in QUANTISATION_KEYS.items() if key in cfg}
        model = load_causal_lm(model_dir, adapter=run / "adapter", **settings)
    else:
        model = load_causal_lm(model_dir, load_in_4bit=False, compute_dtype="float32", adapter=run / "adapter",
                               device="cpu")
    return model, load_tokenizer(model_dir), model_dir


def training_system_prompt(manifest: dict) -> list[dict]:
    """The system message the adapter was trained with (first train row of the run's data), so a prompt looks
    like training; none when the data folder is gone."""
    path = Path(manifest["data"]["dir"]) / "sft_train.jsonl"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        first = json.loads(fh.readline() or '{"prompt": []}')
    return [m for m in first["prompt"] if m["role"] == "system"][:1]
