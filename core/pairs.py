"""The preference-pair contract between `make pairs` (train/pairs.py) and `make train STAGE=dpo`: $(PAIRS)/
pairs_train.jsonl and pairs_val.jsonl hold one pair per line in TRL's conversational preference format
(`prompt`: system + user message, `chosen` and `rejected`: one assistant message each), plus a `meta` object
saying where the pair comes from (docs/data-format.md)."""
from pathlib import Path

from core.rows import messages_ok, read_checked

PAIR_FILES = {"train": "pairs_train.jsonl", "val": "pairs_val.jsonl"}
META_FIELDS = {"article_id": str, "chunk_id": str, "split": str, "source": str, "chosen_chars": int,
               "rejected_chars": int}


class PairFileError(ValueError):
    """A pairs file is missing or holds something that is not a pair; the message names the file and line."""


def check_pair(pair, split: str) -> bool:
    """Is `pair` (parsed JSON) a preference pair of `split` as train/pairs.py writes it?"""
    return (isinstance(pair, dict) and set(pair) == {"prompt", "chosen", "rejected", "meta"}
            and messages_ok(pair["prompt"], ["system", "user"], non_empty=True)
            and messages_ok(pair["chosen"], ["assistant"], non_empty=True)
            and messages_ok(pair["rejected"], ["assistant"], non_empty=True)
            and pair["chosen"][0]["content"] != pair["rejected"][0]["content"]
            and isinstance(pair["meta"], dict) and set(pair["meta"]) == set(META_FIELDS)
            and all(type(pair["meta"][name]) is kind for name, kind in META_FIELDS.items())
            and pair["meta"]["split"] == split)


def read_pairs(pairs_dir: str | Path, split: str) -> list[dict]:
    """The pairs of one split, each checked against the contract, in file order."""
    return read_checked(Path(pairs_dir) / PAIR_FILES[split], lambda pair: check_pair(pair, split), PairFileError,
                        "build the pairs first (`make pairs RUN=<the SFT run>`), or point the dpo stage's `pairs` at "
                        "a folder that `make pairs` wrote",
                        f"not a {split} preference pair (prompt = system + user message, chosen and rejected = one "
                        f"different, non-empty assistant message each, meta with {', '.join(META_FIELDS)}; see "
                        f"docs/data-format.md); rebuild with `make pairs`")
