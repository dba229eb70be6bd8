"""The SFT data from `make data`, checked before training: files present and non-empty, chunked with the
tokenizer of the base model being trained. Rows go to TRL as conversational prompt/completion pairs."""
from pathlib import Path

from core.jsonio import read_json, read_jsonl, sha256_file
from core.model import tokenizer_fingerprint

TRAIN_FILE, VAL_FILE, MANIFEST_FILE = "sft_train.jsonl", "sft_val.jsonl", "manifest.json"


class DataError(ValueError):
    """Unusable training data, worded for the user: which file and what to do."""


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"{path} is missing: build the data first with `make data` (or point DATA= at a folder "
                        f"that holds {TRAIN_FILE}, {VAL_FILE} and {MANIFEST_FILE})")
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{path} is empty: no rows to train or validate on; rebuild it with `make data` "
                        "(is the archive empty, or did every chunk get filtered out?)")
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("prompt"), list) or not isinstance(row.get("completion"), list):
            raise DataError(f"{path}, line {number}: expected 'prompt' and 'completion' lists of chat messages "
                            "(see docs/data-format.md)")
    # TRL wants only the conversation; `meta` is for humans and eval.
    return [{"prompt": row["prompt"], "completion": row["completion"]} for row in rows]


def check_tokenizer(data_dir: Path, model_dir: Path) -> dict:
    """The data manifest, after making sure its chunks were counted with this model's tokenizer."""
    manifest_path = data_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise DataError(f"{manifest_path} is missing: build the data with `make data`")
    manifest = read_json(manifest_path)
    recorded = (manifest.get("tokenizer") or {}).get("fingerprint")
    if recorded != tokenizer_fingerprint(model_dir):
        made_for = (manifest.get("tokenizer") or {}).get("model_dir", "an unknown model")
        raise DataError(f"{manifest_path}: the data was chunked with the tokenizer of {made_for}, not that of "
                        f"{model_dir}; rebuild it for this model with `make data` (same base model in the prep "
                        "config) or train the model it was built for")
    return manifest


def load_splits(data_dir: str | Path, eval_max_rows: int | None):
    """(train, val) as datasets.Dataset of prompt/completion rows; val cut to its first eval_max_rows."""
    from datasets import Dataset

    data_dir = Path(data_dir)
    train = _rows(data_dir / TRAIN_FILE)
    val = _rows(data_dir / VAL_FILE)[:eval_max_rows]
    return Dataset.from_list(train), Dataset.from_list(val)


def manifest_sha256(data_dir: str | Path) -> str:
    return sha256_file(Path(data_dir) / MANIFEST_FILE)
