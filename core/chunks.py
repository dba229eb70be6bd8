"""The chunk contract between `make data` and the stages after it: $(DATA)/chunks.jsonl holds every kept chunk's
exact text once (whitespace, paragraph breaks and all), with its article, position and split. SFT rows point
into it by meta.chunk_id; eval scores these texts as they are and never rebuilds them from rows."""
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.jsonio import read_jsonl

CHUNKS_FILE = "chunks.jsonl"
SPLITS = ("train", "val")


class ChunkFileError(ValueError):
    """chunks.jsonl is missing or malformed; the message names the file, the line and what to do."""


@dataclass(frozen=True)
class ChunkRecord:
    article_id: str
    chunk_id: str
    chunk_index: int
    split: str  # "train" or "val": every chunk of an article has the same split
    text: str  # the chunk exactly as chunked: prompts and targets are pieces of it
    tokens: int  # in the tokenizer of the data's base model
    lang: str  # "zh" or "en"
    title: str

    def as_json(self) -> dict:
        return asdict(self)


_TYPES = {f.name: f.type for f in fields(ChunkRecord)}


def read_chunks(data_dir: Path) -> list[ChunkRecord]:
    """Every chunk of $(DATA), checked field by field, in file order (article, then position)."""
    path = Path(data_dir) / CHUNKS_FILE
    if not path.is_file():
        raise ChunkFileError(f"{path} not found: build (or rebuild, if it predates chunks.jsonl) the data "
                             f"with `make data DATA={data_dir}`")
    records = []
    for number, row in enumerate(read_jsonl(path), 1):
        if (set(row) != set(_TYPES) or any(type(row[name]) is not tp for name, tp in _TYPES.items())
                or row["split"] not in SPLITS):
            raise ChunkFileError(f"{path}:{number}: not a chunk record (fields {', '.join(_TYPES)}; split one of "
                                 f"{SPLITS}; see docs/data-format.md); rebuild with `make data`")
        records.append(ChunkRecord(**row))
    return records
