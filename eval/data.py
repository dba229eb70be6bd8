"""What eval reads: the SFT rows (core/rows.py) and the exact chunk texts (core/chunks.py) of $(DATA), checked
to be built with the run's tokenizer, and the chunks of a REFERENCE author (a data folder `make data` built
from the other author's archive). The run's model itself comes from core/runs.py."""
from collections import Counter
from pathlib import Path

from core.chunks import CHUNKS_FILE, ChunkFileError, ChunkRecord, read_chunks
from core.model import TokenizerMismatch, check_data_tokenizer, tokenizer_fingerprint
from core.rows import RowFileError, read_rows


class EvalInputError(ValueError):
    """An input of `make eval` is missing or inconsistent; the message says which file and what to do."""


def load_rows(data_dir: Path, split: str) -> list[dict]:
    try:
        rows = read_rows(data_dir, split)
    except RowFileError as exc:
        raise EvalInputError(str(exc)) from None
    if not rows:
        raise EvalInputError(f"{data_dir} has no {split} rows: the archive gave no {split} articles; check the "
                             "prep config")
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


def check_tokenizer(data_dir: Path, model_dir: Path) -> str:
    """The tokenizer fingerprint of the run's base model, once the data folder says it was built with it."""
    try:
        check_data_tokenizer(data_dir, model_dir)
    except TokenizerMismatch as exc:
        raise EvalInputError(str(exc)) from None
    return tokenizer_fingerprint(model_dir)


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
