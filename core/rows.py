"""The SFT row contract between `make data` and the stages after it: $(DATA)/sft_train.jsonl and sft_val.jsonl
hold one row per line in TRL's conversational prompt/completion format, plus a `meta` object saying where the
row comes from (docs/data-format.md). prep writes rows through `SftRow`; train, eval and the test fixtures
read them through `read_rows`, which checks every field, so a stale or hand-edited file fails with the file,
the line and what to do instead of somewhere inside a trainer."""
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

from core.jsonio import read_jsonl

SPLIT_FILES = {"train": "sft_train.jsonl", "val": "sft_val.jsonl"}
TEMPLATES = ("continue", "expand", "rewrite")


class RowFileError(ValueError):
    """An SFT file is missing or holds something that is not a row; the message names the file and line."""


@dataclass(frozen=True)
class RowMeta:
    article_id: str
    chunk_id: str  # the row's chunk in chunks.jsonl (core/chunks.py)
    chunk_index: int
    chunk_tokens: int
    completion_tokens: int  # the target text alone, in the tokenizer of the data's base model
    date: str | None
    lang: str
    prompt_tokens: int  # the prompt as the chat template renders it, with the generation prompt
    short_chunk: bool
    split: str  # "train" or "val": every row of an article has the same split
    template: str  # one of TEMPLATES
    title: str
    year: str | None
    prefix: str | None = None  # continue rows only: the start of the chunk that the prompt shows, verbatim

    def as_json(self) -> dict:
        meta = dict(vars(self))   # flat fields: no deep copy (asdict) needed
        if self.prefix is None:
            del meta["prefix"]
        return meta


@dataclass(frozen=True)
class SftRow:
    system: str
    user: str
    target: str
    meta: RowMeta

    def as_json(self) -> dict:
        return {"prompt": [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}],
                "completion": [{"role": "assistant", "content": self.target}], "meta": self.meta.as_json()}


# Field -> the exact types its JSON value may have (bool is not an int here; None only where the field allows it).
_META_TYPES = {f.name: typing.get_args(f.type) or (f.type,) for f in fields(RowMeta)}
_REQUIRED = set(_META_TYPES) - {"prefix"}


def messages_ok(messages, roles: list[str], non_empty: bool = False) -> bool:
    """Is `messages` a chat message list with exactly these roles (and, if asked, no empty content)?"""
    return (isinstance(messages, list) and len(messages) == len(roles)
            and all(isinstance(m, dict) and set(m) == {"role", "content"} and m["role"] == role
                    and isinstance(m["content"], str) and (m["content"] or not non_empty)
                    for m, role in zip(messages, roles)))


def _meta_ok(meta) -> bool:
    return (isinstance(meta, dict) and _REQUIRED <= set(meta) <= set(_META_TYPES)
            and all(type(value) in _META_TYPES[name] for name, value in meta.items())
            and meta["split"] in SPLIT_FILES and meta["template"] in TEMPLATES
            and (meta.get("prefix") is not None) == (meta["template"] == "continue"))


def check_row(row) -> bool:
    """Is `row` (parsed JSON) an SFT row as SftRow.as_json writes it?"""
    return (isinstance(row, dict) and set(row) == {"prompt", "completion", "meta"}
            and messages_ok(row["prompt"], ["system", "user"]) and messages_ok(row["completion"], ["assistant"])
            and _meta_ok(row["meta"]))


def read_checked(path: Path, check: Callable[[object], bool], error: type[Exception], missing: str,
                 not_one: str) -> list:
    """Every line of a JSONL contract file as parsed JSON, in file order, each passing `check`; else `error`
    with `missing` (no file) or the file, the line number and `not_one`."""
    if not path.is_file():
        raise error(f"{path} is missing: {missing}")
    records = read_jsonl(path)
    for number, record in enumerate(records, 1):
        if not check(record):
            raise error(f"{path}:{number}: {not_one}")
    return records


def read_rows(data_dir: str | Path, split: str) -> list[dict]:
    """The rows of one split of $(DATA), each checked against the contract, as parsed JSON, in file order."""
    return read_checked(Path(data_dir) / SPLIT_FILES[split], check_row, RowFileError,
                        f"build the data first (`make data DATA={data_dir}`), or point DATA= at a folder that "
                        f"`make data` wrote",
                        f"not an SFT row (prompt = system + user message, completion = one assistant message, meta "
                        f"with {', '.join(_META_TYPES)}; see docs/data-format.md); rebuild with "
                        f"`make data DATA={data_dir}`")
