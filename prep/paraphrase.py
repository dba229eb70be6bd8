"""De-styled paraphrases for the 'rewrite' template (the STRAP idea: paraphrase the style away, learn to
put it back), made by the base model, batched, cached by content hash, and filtered. `rewrite_inputs` is the
pipeline's step: a seeded selection of at most paraphrase.max_chunks kept chunks, and their accepted
paraphrases.

A paraphrase must say what the chunk says in other words. It is rejected (and the reason counted) when it
  - is empty;
  - was cut off: the model did not end its turn within max_new_tokens (derived from the tokens of the
    longest chunk of its batch);
  - is in another language or script than the chunk (share of ideographs among letters);
  - is outside the length band [min_length_ratio, max_length_ratio] of the chunk, in characters;
  - keeps fewer than min_keyword_recall of the chunk's content keywords (jieba TF-IDF), so it lost content;
  - copies the chunk (char 5-gram Jaccard above max_jaccard), which would teach the model input == output.
"""
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.generation_cache import GenerationCache
from core.jsonio import dumps
from core.model import model_files_sha256
from core.seed import stable_unit
from core.text import cjk_ratio, detect_language
from prep.chunk import Chunk
from prep.config import PrepConfig
from prep.templates import keywords

INSTRUCTIONS = {
    "zh": "请用你自己的话，以平实、中性的现代白话文复述下面这段文字：每一层意思都要保留，但换用不同的词语和句子，"
          "不要照抄原文的句子。只输出复述的文字。\n\n{text}",
    "en": "Retell the following text in your own plain, neutral English. Keep every point it makes but use "
          "different words and sentences; do not copy its sentences. Output only the retelling.\n\n{text}",
}
JACCARD_SHINGLE = 5
SCRIPT_TOLERANCE = 0.15  # largest allowed difference in the share of ideographs among letters
# A paraphrase may take this many more tokens than the chunk before it counts as cut off (plus a small margin
# for very short chunks); one that needs more is either looping or not a paraphrase.
MAX_NEW_TOKENS_MARGIN = 16


def char_jaccard(a: str, b: str, n: int = JACCARD_SHINGLE) -> float:
    """Jaccard similarity of the texts' character n-gram sets (a text shorter than n is its own one gram, so
    neither set is ever empty)."""
    grams_a = {a[i:i + n] for i in range(max(1, len(a) - n + 1))}
    grams_b = {b[i:i + n] for i in range(max(1, len(b) - n + 1))}
    return len(grams_a & grams_b) / len(grams_a | grams_b)


def keyword_recall(keywords: list[str], paraphrase: str) -> float:
    """Share of the chunk's content keywords that the paraphrase still contains (1.0 when there are none)."""
    return sum(word.lower() in paraphrase.lower() for word in keywords) / len(keywords) if keywords else 1.0


def max_new_tokens_for(chunk_tokens: int, ratio: float) -> int:
    return math.ceil(chunk_tokens * ratio) + MAX_NEW_TOKENS_MARGIN


@dataclass(frozen=True)
class Limits:
    min_length_ratio: float
    max_length_ratio: float
    min_keyword_recall: float
    max_jaccard: float


def rejection_reason(original: str, paraphrase: str, ended: bool, keywords: list[str], limits: Limits) -> str | None:
    """Why `paraphrase` cannot stand in for `original`, or None when it can. Checked in this order, so each
    rejected paraphrase counts under its first failure."""
    if not paraphrase.strip():
        return "empty"
    if not ended:
        return "truncated"
    if (detect_language(paraphrase) != detect_language(original)
            or abs(cjk_ratio(paraphrase) - cjk_ratio(original)) > SCRIPT_TOLERANCE):
        return "wrong_language"
    if len(paraphrase) < limits.min_length_ratio * len(original):
        return "too_short"
    if len(paraphrase) > limits.max_length_ratio * len(original):
        return "too_long"
    if keyword_recall(keywords, paraphrase) < limits.min_keyword_recall:
        return "lost_content"
    if char_jaccard(original, paraphrase) > limits.max_jaccard:
        return "copies_original"
    return None


def paraphrase_chunks(texts: list[str], max_new_tokens: list[int], model_dir: Path, cache: GenerationCache,
                      generation: dict, counts: Counter) -> list[dict]:
    """{"text", "ended"} for each text, in order; batches are consecutive runs of `texts`, each looked up in
    the cache as a whole and generated with a seed of its own (the batch's position), so a rerun over the same
    selection generates nothing and a cold run gives the same paraphrases as a warm one."""
    batch_size = generation["batch_size"]
    batches = [list(range(i, min(i + batch_size, len(texts)))) for i in range(0, len(texts), batch_size)]
    replies: list[dict | None] = [None] * len(texts)
    model = tokenizer = None
    for batch_no, batch in enumerate(batches):
        batch_texts, seed = [texts[i] for i in batch], generation["seed"] + batch_no
        found = cache.get(seed, batch_texts)
        if found is None:
            if model is None:
                from core.model import load_causal_lm, load_tokenizer

                tokenizer, model = load_tokenizer(model_dir), load_causal_lm(model_dir)
            found = _generate(model, tokenizer, batch_texts, max(max_new_tokens[i] for i in batch), generation,
                              seed=seed, desc=f"paraphrasing batch {batch_no + 1}/{len(batches)}")
            cache.put(seed, batch_texts, found)
            counts["generated"] += len(batch)
        else:
            counts["from_cache"] += len(batch)
        for i, reply in zip(batch, found):
            replies[i] = reply
    return replies


def _generate(model, tokenizer, texts: list[str], max_new_tokens: int, generation: dict, seed: int,
              desc: str) -> list[dict]:
    from core.generate import generate_replies

    conversations = [[{"role": "user", "content": INSTRUCTIONS[detect_language(t)].format(text=t)}] for t in texts]
    replies = generate_replies(model, tokenizer, conversations, max_new_tokens=max_new_tokens, seed=seed,
                               batch_size=len(texts), do_sample=generation["do_sample"],
                               temperature=generation["temperature"], top_p=generation["top_p"],
                               repetition_penalty=generation["repetition_penalty"], desc=desc)
    return [{"text": reply.text, "ended": reply.ended} for reply in replies]


def rewrite_inputs(chunks: list[Chunk], cfg: PrepConfig, model_dir: Path, out: Path, counts: Counter) -> dict[str, str]:
    """Accepted paraphrases by chunk id, for a seeded selection of at most paraphrase.max_chunks chunks; every
    rejection is counted under its reason, with `requested` and `accepted`."""
    if "rewrite" not in cfg.templates.enabled or cfg.paraphrase.max_chunks == 0:
        return {}
    settings = cfg.paraphrase
    chosen = sorted(chunks, key=lambda c: (stable_unit(cfg.seed, "paraphrase", c.chunk_id), c.chunk_id))
    chosen = chosen[:settings.max_chunks]
    generation = {"seed": cfg.seed, "batch_size": settings.batch_size, "do_sample": settings.do_sample,
                  "temperature": settings.temperature, "top_p": settings.top_p,
                  "repetition_penalty": settings.repetition_penalty, "max_new_tokens_ratio": settings.max_new_tokens_ratio}
    # Everything a paraphrase depends on: the weights and tokenizer, the instruction, every generation setting.
    salt = dumps({"model": model_files_sha256(model_dir), "instructions": INSTRUCTIONS, "generation": generation})
    cache = GenerationCache(out / "cache" / "paraphrases.json", salt)
    budgets = [max_new_tokens_for(c.tokens, settings.max_new_tokens_ratio) for c in chosen]
    replies = paraphrase_chunks([c.text for c in chosen], budgets, model_dir, cache, generation, counts)
    limits = Limits(settings.min_length_ratio, settings.max_length_ratio, settings.min_keyword_recall,
                    settings.max_jaccard)
    accepted = {}
    for chunk, reply in zip(chosen, replies):
        reason = rejection_reason(chunk.text, reply["text"], reply["ended"], keywords(chunk.text, settings.keywords),
                                  limits)
        if reason:
            counts[f"rejected_{reason}"] += 1
        else:
            accepted[chunk.chunk_id] = reply["text"]
    counts["requested"], counts["accepted"] = len(chosen), len(accepted)
    return accepted
