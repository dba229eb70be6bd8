"""Exact token counts of many pieces of one article from a single encoding of the article.

Chunking counts every sentence, then every chunk, then every continue target: the same characters three
times. A byte-level BPE tokenizer without a normalizer (SmolLM2, Llama 3, GPT-2, ...; not the bundled Qwen2.5 as
transformers loads it, which normalises to NFC, so `make data` encodes every piece with it) first cuts
text into pre-tokens with a regex and then encodes each pre-token on its own. A piece of the article that
starts and ends where pre-tokens of the article start, and neither starts nor ends with whitespace (the only
place the regex looks ahead), is cut into the same pre-tokens on its own, so its token count is the number
of the article's tokens between those two points. Any other piece, and any tokenizer of another kind, is
encoded as before. tests/test_prep_counting.py checks that both ways give the same counts.
"""
import json

import numpy as np


def splits_like_byte_level(tokenizer) -> bool:
    """Does this `tokenizers.Tokenizer` work as described above (else every piece is encoded)?"""
    spec = json.loads(tokenizer.to_str())
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    byte_level = [s for s in steps if s.get("type") == "ByteLevel"]
    return (spec.get("normalizer") is None and len(byte_level) == 1 and not byte_level[0].get("add_prefix_space")
            and all(s.get("type") in ("ByteLevel", "Split") for s in steps))


class ArticleTokenCounter:
    """Callable like the plain counter: token counts (no special tokens added) of a list of texts."""

    def __init__(self, tokenizer, article: str, byte_level: bool):
        self.tokenizer, self.article = tokenizer, article
        self.tokens_before: dict[int, int] = {}   # char offset where a pre-token starts -> tokens before it
        if not article or not byte_level:
            return
        encoding = tokenizer.encode(article, add_special_tokens=False)
        words = encoding.word_ids
        if None in words:   # no pre-token map (should not happen with these tokenizers): encode everything
            return
        # The first token of each pre-token (found in numpy), and only its offset: listing all offsets is slower.
        for index in np.flatnonzero(np.diff(np.array(words), prepend=-1)).tolist():
            self.tokens_before.setdefault(encoding.token_to_chars(index)[0], index)
        self.tokens_before[len(article)] = len(encoding)

    def _from_article(self, text: str) -> int | None:
        if not self.tokens_before or not text or text[0].isspace() or text[-1].isspace():
            return None
        begin = self.article.find(text)
        if begin < 0:
            return None
        first, last = self.tokens_before.get(begin), self.tokens_before.get(begin + len(text))
        return None if first is None or last is None else last - first

    def __call__(self, texts: list[str]) -> list[int]:
        counts = [self._from_article(text) for text in texts]
        missing = [i for i, n in enumerate(counts) if n is None]
        if missing:
            encoded = self.tokenizer.encode_batch_fast([texts[i] for i in missing], add_special_tokens=False)
            for i, encoding in zip(missing, encoded):
                counts[i] = len(encoding.ids)
        return counts
