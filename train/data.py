"""The SFT data from `make data`, checked before training: every row in the contract of core/rows.py, neither
split empty, and the data built with the tokenizer of the base model being trained (core.model). Rows go to
TRL as conversational prompt/completion pairs; `meta` is for humans and eval."""
from pathlib import Path

from core.jsonio import sha256_file
from core.model import TokenizerMismatch, check_data_tokenizer
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


def load_splits(data_dir: str | Path, eval_max_rows: int | None):
    """(train, val) as datasets.Dataset of prompt/completion rows; val cut to its first eval_max_rows."""
    from datasets import Dataset

    data_dir = Path(data_dir)
    return Dataset.from_list(_rows(data_dir, "train")), Dataset.from_list(_rows(data_dir, "val")[:eval_max_rows])


def manifest_sha256(data_dir: str | Path) -> str:
    return sha256_file(Path(data_dir) / MANIFEST_FILE)
