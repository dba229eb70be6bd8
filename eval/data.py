"""What eval reads: the SFT rows of $(DATA), the chunk and article texts behind them, the run's base model and
quantisation, and the text of a REFERENCE author (a built data dir, or an archive prep builds in a subprocess:
eval never imports prep)."""
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.jsonio import read_json, read_jsonl
from core.model import resolve_model_dir, tokenizer_fingerprint

SPLIT_FILES = {"train": "sft_train.jsonl", "val": "sft_val.jsonl"}
# Train-config key -> core.model.load_causal_lm argument (both spellings accepted).
QUANT_KEYS = {"load_in_4bit": "load_in_4bit", "bnb_4bit_quant_type": "quant_type", "quant_type": "quant_type",
              "bnb_4bit_compute_dtype": "compute_dtype", "compute_dtype": "compute_dtype",
              "bnb_4bit_use_double_quant": "double_quant", "double_quant": "double_quant"}


class EvalInputError(ValueError):
    """An input of `make eval` is missing or inconsistent; the message says which file and what to do."""


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    article_id: str
    chunk_index: int
    text: str


def load_rows(data_dir: Path, split: str) -> list[dict]:
    path = data_dir / SPLIT_FILES[split]
    if not path.is_file():
        raise EvalInputError(f"{path} not found: build the data first (`make data DATA={data_dir}`)")
    rows = read_sft(path)
    if not rows:
        raise EvalInputError(f"{path} has no rows: the archive gave no {split} articles; check the prep config")
    return rows


def read_sft(path: Path) -> list[dict]:
    rows = read_jsonl(path)
    for number, row in enumerate(rows, 1):
        if not {"prompt", "completion", "meta"} <= row.keys() or "chunk_id" not in row["meta"]:
            raise EvalInputError(f"{path}:{number}: not an SFT row (needs prompt, completion, meta.chunk_id; "
                                 "see docs/data-format.md); rebuild with `make data`")
    return rows


def chunk_text(row: dict) -> str | None:
    """The full chunk behind a row: expand/rewrite targets are the whole chunk, continue targets the rest
    after meta.prefix."""
    completion = row["completion"][0]["content"]
    if row["meta"]["template"] in ("expand", "rewrite"):
        return completion
    if row["meta"].get("prefix") is not None:
        return row["meta"]["prefix"] + completion
    return None


def chunks(rows: list[dict]) -> list[Chunk]:
    """One entry per chunk, sorted by article and position."""
    found: dict[str, Chunk] = {}
    for row in rows:
        meta = row["meta"]
        text = chunk_text(row)
        if text is not None and meta["chunk_id"] not in found:
            found[meta["chunk_id"]] = Chunk(meta["chunk_id"], meta["article_id"], int(meta["chunk_index"]), text)
    return sorted(found.values(), key=lambda c: (c.article_id, c.chunk_index, c.chunk_id))


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


def reference_chunks(reference: Path, work_dir: Path) -> list[Chunk]:
    """Chunk texts of another author: `reference` is a built data dir (has sft_train.jsonl) or an archive,
    which prep turns into one under work_dir (both splits are used: none of it was trained on)."""
    if not reference.exists():
        raise EvalInputError(f"REFERENCE {reference} does not exist: give another author's archive or data dir")
    data_dir = reference
    if not (reference / SPLIT_FILES["train"]).is_file():
        data_dir = work_dir / "reference_data"
        command = [sys.executable, "-m", "prep.build_dataset", "--archive", str(reference), "--out", str(data_dir),
                   "--set", "paraphrase.max_chunks=0"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise EvalInputError(f"building reference data from {reference} failed ({' '.join(command)}):\n"
                                 f"{done.stderr[-2000:]}")
    rows = [row for name in SPLIT_FILES.values() if (data_dir / name).is_file() for row in read_sft(data_dir / name)]
    if not rows:
        raise EvalInputError(f"REFERENCE {reference} gave no text (no rows in {data_dir}/sft_*.jsonl); "
                             "check that it holds articles in the archive layout")
    return chunks(rows)
