"""De-styled paraphrases for the 'rewrite' template (the STRAP idea: paraphrase the style away, learn to
put it back), made by the base model, batched, cached by content hash, and filtered.

A paraphrase is rejected (and counted) when it is empty, too short, in the wrong language, or too close to
the original (char 5-gram Jaccard above the threshold) — a copy would teach the model input == output.
"""
import hashlib
import json
from collections import Counter
from pathlib import Path

from core.jsonio import dumps, write_atomic
from core.text import detect_language

INSTRUCTIONS = {
    "zh": "用平实、中性的现代汉语改写下面这段文字：保留全部意思，但不要沿用原文的措辞、句式和语气。只输出改写后的文字。\n\n{text}",
    "en": "Paraphrase the following text in plain, neutral English. Keep all of the meaning but none of the "
          "original wording, sentence shapes or tone. Output only the paraphrase.\n\n{text}",
}
JACCARD_SHINGLE = 5


def char_jaccard(a: str, b: str, n: int = JACCARD_SHINGLE) -> float:
    grams_a = {a[i:i + n] for i in range(max(1, len(a) - n + 1))}
    grams_b = {b[i:i + n] for i in range(max(1, len(b) - n + 1))}
    return len(grams_a & grams_b) / len(grams_a | grams_b) if grams_a | grams_b else 1.0


def rejection_reason(original: str, paraphrase: str, min_length_ratio: float, max_jaccard: float) -> str | None:
    if not paraphrase.strip():
        return "empty"
    if len(paraphrase) < min_length_ratio * len(original):
        return "too_short"
    if detect_language(paraphrase) != detect_language(original):
        return "wrong_language"
    if char_jaccard(original, paraphrase) > max_jaccard:
        return "too_close_to_original"
    if paraphrase.strip() == original.strip():
        return "identical"
    return None


class ParaphraseCache:
    """JSON map from sha256(model fingerprint, settings, text) to the paraphrase; saved after every batch so
    an interrupted run keeps what it paid for."""

    def __init__(self, path: Path, model_fingerprint: str, settings: dict):
        self.path = path
        self.salt = model_fingerprint + json.dumps(settings, sort_keys=True)
        self.entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def key(self, text: str) -> str:
        return hashlib.sha256((self.salt + "\x1f" + text).encode("utf-8")).hexdigest()

    def get(self, text: str) -> str | None:
        return self.entries.get(self.key(text))

    def put_many(self, pairs: list[tuple[str, str]]) -> None:
        for text, paraphrase in pairs:
            self.entries[self.key(text)] = paraphrase
        write_atomic(self.path, dumps(self.entries) + "\n")


def paraphrase_chunks(texts: list[str], model_dir: Path, cache: ParaphraseCache, batch_size: int,
                      max_new_tokens: int, counts: Counter) -> list[str]:
    """Paraphrase of each text, from the cache where possible; generation is greedy, hence deterministic."""
    missing = [t for t in dict.fromkeys(texts) if cache.get(t) is None]
    counts["from_cache"] += len(texts) - len(missing)
    if missing:
        from core.generate import generate_chat
        from core.model import load_causal_lm, load_tokenizer

        tokenizer = load_tokenizer(model_dir)
        model = load_causal_lm(model_dir)
        for start in range(0, len(missing), batch_size):
            batch = missing[start:start + batch_size]
            conversations = [[{"role": "user", "content": INSTRUCTIONS[detect_language(t)].format(text=t)}]
                             for t in batch]
            outputs = generate_chat(model, tokenizer, conversations, max_new_tokens=max_new_tokens, seed=0,
                                    batch_size=batch_size, do_sample=False,
                                    desc=f"paraphrasing {start + len(batch)}/{len(missing)}")
            cache.put_many(list(zip(batch, outputs)))
            counts["generated"] += len(batch)
    return [cache.get(t) for t in texts]
