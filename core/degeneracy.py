"""Degenerate-text guard: is a generation text at all, before any style number is computed from it?

Style distances reward the wrong things in broken output: a repetition loop ("别不听我，别不听我，……") has
few sentence lengths to disagree with, and word salad that mixes scripts and digit runs still shifts character
n-gram and punctuation profiles. So every text is checked first, on measures that real prose passes with a wide
margin (calibrated on 100–300 character passages of two authors, numbers at DEFAULT_LIMITS):
- distinct_n: distinct character n-grams / all n-grams (loops reuse the same few n-grams);
- longest_repeat_share: the longest substring that occurs twice without overlapping, over the text length;
- foreign_script_share: characters of a script the author's (and a reference author's) text does not use;
- fluency ratio: per-character perplexity of the text under the base model over the median of the author's
  real held-out passages (measured by the caller: this module loads no model).
A system is flagged when more than `max_failing_share` of its texts fail. shuffle_within_sentences builds the
control text that keeps every sentence's characters but not their order: only the fluency check can see it."""
import re
import statistics
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.text import split_sentences

_WHITESPACE = re.compile(r"\s+")
# Letters are classed by the first word of their Unicode name (after a width prefix, e.g. FULLWIDTH LATIN).
_LETTER_SCRIPTS = {"LATIN": "latin", "HIRAGANA": "kana", "KATAKANA": "kana", "HANGUL": "hangul",
                   "CYRILLIC": "cyrillic", "GREEK": "greek"}
REASONS = ("empty", "repetitive", "low_diversity", "foreign_script", "not_fluent", "echoes_prompt")


@dataclass(frozen=True)
class GuardLimits:
    min_distinct_2: float            # a text fails "low_diversity" below this distinct character-bigram share
    max_repeat_share: float          # "repetitive" above this longest-repeat share
    max_foreign_script_share: float  # "foreign_script" above this share of characters outside the inventory
    max_fluency_ratio: float         # "not_fluent" above this per-char perplexity / author's median
    max_prompt_echo_share: float     # "echoes_prompt" above this share of 8-grams found in the text's own prompt
    max_failing_share: float         # a system is flagged when more than this share of its texts fail


# Calibration: 100–300 character passages cut at sentence ends (6 cuttings pooled) of corpora/luxun-archive
# (2,746 passages) and of the Zhu Ziqing archive (1,175); inventory of both = {han, punctuation, latin}
# (digits are 0.085% of their characters, under min_share, so digits count as foreign).
#   distinct_2: min 0.685 Lu Xun / 0.713 Zhu (1st percentile 0.79 / 0.78, median 0.93 / 0.92);
#     loops 0.09–0.50 ("你别不听我，别不听我，别不听我……" 0.50), "化名,庙宇,…" 0.05.
#   longest_repeat_share: max 0.152 / 0.108 (99th percentile 0.067 / 0.064, median 0.02); loops 0.29–0.50.
#   foreign_script_share: max 0.078 / 0.053 (a year span "1561—1626" in a short passage; 99th pct. 0.018);
#     "的ing 2023 123456 рус the 我 12 ab 99" 0.63, a digit run 1.0.
# Excluded: one archive glitch in 论秦理斋夫人事 (a 60-character sentence pasted twice), which is a real repeat.
# Fluency and prompt echo, calibrated on the demo eval (Qwen2.5-Coder-0.5B base, 174-character passages):
#   fluency ratio of the author's real held-out passages 0.24–2.52 (median 1 by construction), of the same
#   passages shuffled 11.5–31.4; generations 0.05–3.1 but for one few-shot text at 32.6.
#   prompt echo (8-grams of the output found in its own user message): the author's real continuations
#   0–0.01; outputs that repeat the prefix back 0.80–1.00, every other output 0–0.31.
DEFAULT_LIMITS = GuardLimits(min_distinct_2=0.55, max_repeat_share=0.25, max_foreign_script_share=0.15,
                             max_fluency_ratio=4.0, max_prompt_echo_share=0.5,
                             max_failing_share=0.2)   # real passages fail at 0%; 3 of 12 texts flag a system


def flatten(text: str) -> str:
    """The text with all whitespace removed: every measure counts visible characters only."""
    return _WHITESPACE.sub("", text)


def distinct_n(text: str, n: int) -> float:
    """Distinct character n-grams / all character n-grams of the flattened text. A text too short to have
    an n-gram (empty included) gets 0.0: it shows no diversity, so it fails the diversity check instead of
    passing it silently."""
    flat = flatten(text)
    grams = [flat[i:i + n] for i in range(len(flat) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _has_nonoverlapping_repeat(flat: str, length: int) -> bool:
    """Does some substring of `length` characters occur twice without overlapping?"""
    first_seen: dict[str, int] = {}
    for i in range(len(flat) - length + 1):
        first = first_seen.setdefault(flat[i:i + length], i)
        if i - first >= length:
            return True
    return False


def longest_repeat_share(text: str) -> float:
    """Length of the longest substring occurring at least twice without overlapping, over the text length
    (whitespace removed; 0.0 for an empty text). Exact: a repeat of length L contains one of every shorter
    length, so a binary search on L with one pass over the substrings per step finds the longest
    (O(n·L·log n) character work, a few ms at 2,000 characters). A loop of k copies scores about
    floor(k/2)/k (1/3 to 1/2); ordinary prose repeats a short phrase at most."""
    flat = flatten(text)
    shortest_failing, longest_found = len(flat) // 2 + 1, 0
    while shortest_failing - longest_found > 1:
        mid = (longest_found + shortest_failing) // 2
        if _has_nonoverlapping_repeat(flat, mid):
            longest_found = mid
        else:
            shortest_failing = mid
    return longest_found / len(flat) if flat else 0.0


@lru_cache(maxsize=None)  # texts reuse a few thousand characters; names are looked up once each
def script_of(ch: str) -> str:
    """Coarse script class of one character: han, latin, digit, kana, hangul, cyrillic, greek, punctuation
    (Unicode P*, CJK punctuation included), symbol (S*), space, or other (other scripts, marks, controls).
    Numerals that are ideographs (〇) count as han, every other numeral (Nd, Nl, No) as digit."""
    category = unicodedata.category(ch)
    if ch.isspace() or category.startswith("Z"):
        return "space"
    if category.startswith("P"):
        return "punctuation"
    name = unicodedata.name(ch, "")
    if name.startswith("CJK UNIFIED IDEOGRAPH") or name.startswith("CJK COMPATIBILITY IDEOGRAPH") \
            or (name.startswith("IDEOGRAPHIC") and category[0] in "LN"):  # 〇 々 〆
        return "han"
    if category.startswith("L"):
        first_word = name.removeprefix("FULLWIDTH ").removeprefix("HALFWIDTH ").split(" ")[0].split("-")[0]
        return _LETTER_SCRIPTS.get(first_word, "other")
    if category.startswith("N"):
        return "digit"
    if category.startswith("S"):
        return "symbol"
    return "other"


def _script_counts(text: str) -> Counter:
    """Non-space characters per script class (characters counted first: a text reuses few of them)."""
    counts: Counter = Counter()
    for ch, count in Counter(text).items():
        script = script_of(ch)
        if script != "space":
            counts[script] += count
    return counts


def script_inventory(texts: list[str], min_share: float = 0.001) -> set[str]:
    """Script classes making up at least `min_share` of the non-space characters of `texts` (the author's
    and a reference author's text: what a text in this language and genre may contain)."""
    totals = sum((_script_counts(text) for text in texts), Counter())
    all_chars = sum(totals.values())
    return {script for script, count in totals.items() if count >= min_share * all_chars} if all_chars else set()


def foreign_script_share(text: str, inventory: set[str]) -> float:
    """Share of the text's non-space characters whose script class is not in `inventory` (0.0 if none)."""
    counts = _script_counts(text)
    all_chars = sum(counts.values())
    foreign = sum(count for script, count in counts.items() if script not in inventory)
    return foreign / all_chars if all_chars else 0.0


def check_text(text: str, inventory: set[str], limits: GuardLimits, fluency: float | None = None,
               fluency_baseline: float | None = None, prompt_echo: float | None = None) -> dict:
    """Every measure of one text and the reasons it fails (sorted; none when it passes). An empty text (no
    visible character) fails as "empty" only, so that by_reason counts stay about real texts.
    `fluency` is the text's per-character perplexity under the base model, `fluency_baseline` the median of
    the author's real held-out passages; a non-finite ratio fails. `prompt_echo` is the share of the text's
    character 8-grams found in its own prompt: a model that repeats the author's prefix back writes nothing,
    yet that text is the author's own and would score as perfectly "in style"."""
    if fluency is not None and not fluency_baseline:
        raise ValueError("check_text: a fluency value needs a positive fluency_baseline")
    flat = flatten(text)
    fluency_ratio = fluency / fluency_baseline if fluency is not None else None
    check = {"chars": len(flat), "distinct_2": distinct_n(flat, 2), "distinct_3": distinct_n(flat, 3),
             "longest_repeat_share": longest_repeat_share(flat),
             "foreign_script_share": foreign_script_share(flat, inventory), "fluency_ratio": fluency_ratio,
             "prompt_echo_share": prompt_echo}
    if not flat:
        failed = ["empty"]
    else:
        failed = []
        if check["longest_repeat_share"] > limits.max_repeat_share:
            failed.append("repetitive")
        if check["distinct_2"] < limits.min_distinct_2:
            failed.append("low_diversity")
        if check["foreign_script_share"] > limits.max_foreign_script_share:
            failed.append("foreign_script")
        if fluency_ratio is not None and not fluency_ratio <= limits.max_fluency_ratio:  # NaN fails too
            failed.append("not_fluent")
        if prompt_echo is not None and prompt_echo > limits.max_prompt_echo_share:
            failed.append("echoes_prompt")
    return {**check, "failed": sorted(failed), "passes": not failed}


def system_verdict(checks: list[dict], max_failing_share: float) -> dict:
    """One system's texts together: how many fail and why, the median of every measure (None when no text
    has it, e.g. fluency not measured), and whether the failing share exceeds `max_failing_share`."""
    if not checks:
        raise ValueError("system_verdict: no texts to judge")
    failing = sum(not check["passes"] for check in checks)
    by_reason = {reason: sum(reason in check["failed"] for check in checks) for reason in REASONS}
    measures = ("chars", "distinct_2", "distinct_3", "longest_repeat_share", "foreign_script_share", "fluency_ratio",
                "prompt_echo_share")
    medians = {}
    for measure in measures:
        values = [check[measure] for check in checks if check[measure] is not None]
        medians[measure] = float(statistics.median(values)) if values else None
    failing_share = failing / len(checks)
    return {"n": len(checks), "failing": failing, "failing_share": failing_share, "by_reason": by_reason,
            "median": medians, "flagged": failing_share > max_failing_share}


def shuffle_within_sentences(text: str, seed: int) -> str:
    """Control text: each sentence's visible characters shuffled among their own positions (whitespace stays
    put, so paragraphs and lengths are kept). Sentence i uses default_rng([seed, i]): the result depends on
    the seed and the text only, not on what else was shuffled before."""
    shuffled = []
    for index, sentence in enumerate(split_sentences(text)):
        chars = list(sentence)
        visible = [i for i, ch in enumerate(chars) if not ch.isspace()]
        order = np.random.default_rng([seed, index]).permutation(len(visible))
        for position, source in zip(visible, order):
            chars[position] = sentence[visible[source]]
        shuffled.append("".join(chars))
    return "".join(shuffled)
