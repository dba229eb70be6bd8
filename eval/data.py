"""What eval reads: the SFT rows and the exact chunk texts of $(DATA), the run's base model and quantisation,
and the chunks of a REFERENCE author (a data folder `make data` built from the other author's archive)."""
from collections import Counter
from pathlib import Path

from core.chunks import CHUNKS_FILE, ChunkFileError, ChunkRecord, read_chunks
from core.jsonio import read_json, read_jsonl
from core.model import resolve_model_dir, tokenizer_fingerprint

SPLIT_FILES = {"train": "sft_train.jsonl", "val": "sft_val.jsonl"}
# Train-config key -> core.model.load_causal_lm argument (both spellings accepted).
QUANT_KEYS = {"load_in_4bit": "load_in_4bit", "bnb_4bit_quant_type": "quant_type", "quant_type": "quant_type",
              "bnb_4bit_compute_dtype": "compute_dtype", "compute_dtype": "compute_dtype",
              "bnb_4bit_use_double_quant": "double_quant", "double_quant": "double_quant"}


class EvalInputError(ValueError):
    """An input of `make eval` is missing or inconsistent; the message says which file and what to do."""


def load_rows(data_dir: Path, split: str) -> list[dict]:
    path = data_dir / SPLIT_FILES[split]
    if not path.is_file():
        raise EvalInputError(f"{path} not found: build the data first (`make data DATA={data_dir}`)")
    rows = read_jsonl(path)
    for number, row in enumerate(rows, 1):
        if not {"prompt", "completion", "meta"} <= row.keys() or "chunk_id" not in row["meta"]:
            raise EvalInputError(f"{path}:{number}: not an SFT row (needs prompt, completion, meta.chunk_id; "
                                 "see docs/data-format.md); rebuild with `make data`")
    if not rows:
        raise EvalInputError(f"{path} has no rows: the archive gave no {split} articles; check the prep config")
    return rows


def load_chunks(data_dir: Path) -> tuple[list[ChunkRecord], list[ChunkRecord]]:
    """The exact train and held-out chunk texts $(DATA)/chunks.jsonl records (never rebuilt from rows)."""
    try:
        records = read_chunks(data_dir)
    except ChunkFileError as exc:
        raise EvalInputError(str(exc)) from None
    return [c for c in records if c.split == "train"], [c for c in records if c.split == "val"]


def system_prompt(rows: list[dict]) -> str:
    """The system message the data uses most often (the one the adapter was trained with)."""
    counts = Counter(row["prompt"][0]["content"] for row in rows if row["prompt"][0]["role"] == "system")
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if counts else ""


def base_model_of(run_dir: Path) -> tuple[Path, dict]:
    """The run's base model folder and the 4-bit settings it trained with (passed unchanged to
    core.model.load_causal_lm, for base and adapter alike)."""
    adapter_config = run_dir / "adapter" / "adapter_config.json"
    if not adapter_config.is_file():
        raise EvalInputError(f"{adapter_config} not found: train first (`make train RUN={run_dir}`)")
    base_name = read_json(adapter_config).get("base_model_name_or_path")
    if not base_name:
        raise EvalInputError(f"{adapter_config} has no base_model_name_or_path; re-save the adapter with PEFT")
    manifest = run_dir / "manifest.json"
    train_config = read_json(manifest).get("config", {}) if manifest.is_file() else {}
    return resolve_model_dir(base_name), _quantisation(train_config)


def _quantisation(config: dict) -> dict:
    """load_causal_lm arguments found anywhere in a (possibly nested) train config; its layout is train/'s."""
    found = {}
    for key, value in sorted(config.items()):
        if isinstance(value, dict):
            found.update({k: v for k, v in _quantisation(value).items() if k not in found})
        elif key in QUANT_KEYS and value is not None:
            found[QUANT_KEYS[key]] = value
    return found


def check_tokenizer(data_dir: Path, model_dir: Path) -> str:
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise EvalInputError(f"{manifest_path} not found: rebuild the data with `make data DATA={data_dir}`")
    expected = tokenizer_fingerprint(model_dir)
    found = read_json(manifest_path).get("tokenizer", {}).get("fingerprint")
    if found != expected:
        raise EvalInputError(
            f"{manifest_path}: the data was chunked with another tokenizer (fingerprint {str(found)[:12]}…) than "
            f"the run's base model {model_dir} ({expected[:12]}…): rebuild the data for that model "
            "(`make data`) or evaluate a run trained on this data")
    return expected


def reference_chunks(reference: Path, model_dir: Path) -> list[ChunkRecord]:
    """Every chunk of another author's data folder (built by `make data` from the REFERENCE archive with the
    same base model; both splits: none of it was trained on)."""
    if not (reference / CHUNKS_FILE).is_file():
        raise EvalInputError(f"reference data {reference} has no {CHUNKS_FILE}: build it from the other author's "
                             "archive with `make data` (`make eval` does this for REFERENCE=)")
    check_tokenizer(reference, model_dir)
    train, val = load_chunks(reference)
    if not train + val:
        raise EvalInputError(f"reference data {reference} holds no chunk; check that its archive has articles")
    return sorted(train + val, key=lambda c: (c.article_id, c.chunk_index))
