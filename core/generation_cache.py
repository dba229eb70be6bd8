"""Cache of model generations that cost minutes on CPU (make data's paraphrases, make pairs' rejected
continuations): a JSON map from sha256(salt, seed, batch, position) to one reply. The salt covers everything
a reply depends on besides its batch (model weights and tokenizer, adapter, instructions, every generation
setting); the seed and the batch's inputs cover the rest (a batch's prompts share padding and one random
stream). Saved after every batch, so an interrupted run keeps what it paid for."""
import hashlib
import json
from pathlib import Path

from core.jsonio import dumps, write_atomic


class GenerationCache:
    def __init__(self, path: Path, salt: str):
        self.path = path
        self.salt = salt
        self.entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def key(self, seed: int, batch: list[str], position: int) -> str:
        return hashlib.sha256("\x1f".join([self.salt, str(seed), *batch, "\x1e", str(position)])
                              .encode("utf-8")).hexdigest()

    def get(self, seed: int, batch: list[str]) -> list[dict] | None:
        """The batch's replies when every one of them is cached, else None (a batch is generated whole)."""
        found = [self.entries.get(self.key(seed, batch, i)) for i in range(len(batch))]
        return None if any(entry is None for entry in found) else found

    def put(self, seed: int, batch: list[str], replies: list[dict]) -> None:
        for i, reply in enumerate(replies):
            self.entries[self.key(seed, batch, i)] = reply
        write_atomic(self.path, dumps(self.entries) + "\n")
