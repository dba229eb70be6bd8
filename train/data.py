"""What each training stage reads, checked before training, neither split empty, and built with the
tokenizer of the base model being trained (core.model):
- sft: the rows of `make data` (core/rows.py) as conversational prompt/completion pairs (`meta` is for humans
  and eval);
- cpt: the exact text of `make data`'s chunks (core/chunks.py), one raw text per chunk;
- dpo: the preference pairs of `make pairs` (core/pairs.py) as TRL's prompt/chosen/rejected rows."""
from pathlib import Path

from core.chunks import ChunkFileError, read_chunks
from core.jsonio import sha256_file
from core.model import TokenizerMismatch, check_data_tokenizer
from core.pairs import PAIR_FILES, PairFileError, read_pairs
from core.rows import SPLIT_FILES, RowFileError, read_rows

MANIFEST_FILE = "manifest.json"


class DataError(ValueError):
    """Unusable training data, worded for the user: which file and what to do."""


def _rows(data_dir: Path, split: str) -> list[dict]:
    try:
        rows = read_rows(data_dir, split)
    except RowFileError as exc:
        raise DataError(str(exc)) from None
    if not rows:
        raise DataError(f"{data_dir / SPLIT_FILES[split]} is empty: no rows to train or validate on; rebuild it "
                        "with `make data` (is the archive empty, or did every chunk get filtered out?)")
    return [{"prompt": row["prompt"], "completion": row["completion"]} for row in rows]


def check_tokenizer(data_dir: Path, model_dir: Path) -> dict:
    """The data manifest, after making sure its chunks were counted with this model's tokenizer."""
    try:
        return check_data_tokenizer(data_dir, model_dir)
    except TokenizerMismatch as exc:
        raise DataError(str(exc)) from None


def _not_empty(rows: list[dict], path: Path, what: str) -> list[dict]:
    if not rows:
        raise DataError(f"{path} holds no {what}: nothing to train or validate on; rebuild it (is the archive "
                        "empty, or did everything get filtered out?)")
    return rows


def _chunk_texts(data_dir: Path) -> dict[str, list[dict]]:
    try:
        chunks = read_chunks(data_dir)
    except ChunkFileError as exc:
        raise DataError(str(exc)) from None
    return {split: _not_empty([{"text": c.text} for c in chunks if c.split == split], data_dir / "chunks.jsonl",
                              f"{split} chunks") for split in ("train", "val")}


def _pairs(pairs_dir: Path, split: str) -> list[dict]:
    try:
        pairs = read_pairs(pairs_dir, split)
    except PairFileError as exc:
        raise DataError(str(exc)) from None
    return _not_empty([{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in pairs],
                      pairs_dir / PAIR_FILES[split], "pairs")


def load_splits(data_dir: str | Path, eval_max_rows: int | None, stage: str = "sft",
                pairs_dir: str | Path | None = None):
    """(train, val) as datasets.Dataset for the stage; val cut to its first eval_max_rows."""
    from datasets import Dataset

    data_dir = Path(data_dir)
    if stage == "cpt":
        texts = _chunk_texts(data_dir)
        train, val = texts["train"], texts["val"]
    elif stage == "dpo":
        train, val = _pairs(Path(pairs_dir), "train"), _pairs(Path(pairs_dir), "val")
    else:
        train, val = _rows(data_dir, "train"), _rows(data_dir, "val")
    return Dataset.from_list(train), Dataset.from_list(val[:eval_max_rows])


def manifest_sha256(data_dir: str | Path) -> str:
    return sha256_file(Path(data_dir) / MANIFEST_FILE)
