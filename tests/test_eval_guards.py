"""Unit tests of the two guards that run before any style number: degenerate text (core.degeneracy) and
copying from the training text (core.copying). Real inputs are passages of the bundled Lu Xun archive and of
the Zhu Ziqing archive (the reference author)."""
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.text import split_sentences
from core.copying import TrainingText, compare_with_author, copy_rows, normalize, summary
from core.degeneracy import (DEFAULT_LIMITS, GuardLimits, check_text, distinct_n, flatten, foreign_script_share,
                             longest_repeat_share, script_inventory, script_of, shuffle_within_sentences,
                             system_verdict)

REPO = Path(__file__).resolve().parent.parent
LUXUN = REPO / "corpora" / "luxun-archive"
ZHU_PLACES = (REPO / "corpora" / "zhuziqing-archive", REPO.parent / "shared" / "corpora" / "zhuziqing-archive")
ZHU = next((p for p in ZHU_PLACES if p.is_dir()), None)
# A sentence the archive's source pasted twice in 论秦理斋夫人事: a real repeat, kept out of "real prose".
ARCHIVE_GLITCH = "倘使对于黑暗的主力"
LOOP = "你别不听我，别不听我，别不听我……"
SALAD = "的ing 2023 123456 рус the 我 12 ab 99"
CHINESE = {"han", "punctuation"}


def read_articles(archive: Path) -> list[str]:
    """Article texts without YAML front matter, HTML tags and Markdown heading marks."""
    texts = []
    for path in sorted(archive.rglob("*.md")):
        if path.name != "README.md":
            text = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.S)
            texts.append(re.sub(r"^#+\s*", "", re.sub(r"<[^>]+>", "", text), flags=re.M))
    return texts


def cut_passages(article: str) -> list[str]:
    """Whole sentences gathered into passages of 100–300 visible characters (targets 100, 180, 260 in turn)."""
    passages, current, targets = [], "", [100, 180, 260]
    for sentence in split_sentences(article.strip()):
        if len(flatten(current + sentence)) > 300:
            current = ""
        current += sentence
        if len(flatten(current)) >= targets[len(passages) % 3]:
            passages.append(current)
            current = ""
    return [p for p in passages if 100 <= len(flatten(p)) <= 300]


@pytest.fixture(scope="module")
def luxun_articles() -> list[str]:
    return read_articles(LUXUN)


@pytest.fixture(scope="module")
def zhu_articles() -> list[str]:
    if ZHU is None:
        pytest.skip("Zhu Ziqing archive not found (corpora/zhuziqing-archive or ../shared/corpora)")
    return read_articles(ZHU)


@pytest.fixture(scope="module")
def inventory(luxun_articles, zhu_articles) -> set[str]:
    return script_inventory(luxun_articles + zhu_articles)


def real_passages(articles: list[str]) -> list[str]:
    return [p for article in articles for p in cut_passages(article) if p.count(ARCHIVE_GLITCH) < 2]


# --- degenerate-text guard ---------------------------------------------------------------------------------

def test_real_passages_pass_with_margin_and_degenerate_texts_fail(luxun_articles, zhu_articles, inventory):
    limits = DEFAULT_LIMITS
    for articles in (luxun_articles, zhu_articles):
        checks = [check_text(p, inventory, limits) for p in real_passages(articles)]
        assert len(checks) > 100
        assert [c for c in checks if not c["passes"]] == []
        assert min(c["distinct_2"] for c in checks) >= limits.min_distinct_2 + 0.1
        assert max(c["longest_repeat_share"] for c in checks) <= limits.max_repeat_share - 0.08
        assert max(c["foreign_script_share"] for c in checks) <= limits.max_foreign_script_share - 0.05
    degenerate = {LOOP: {"repetitive", "low_diversity"}, "化名,庙宇," * 20: {"repetitive", "low_diversity"},
                  "我说：" + "别不听我，" * 12: {"repetitive", "low_diversity"}, SALAD: {"foreign_script"},
                  "1234567890" * 5: {"repetitive", "low_diversity", "foreign_script"}, "  \n": {"empty"}}
    for text, reasons in degenerate.items():
        assert set(check_text(text, inventory, limits)["failed"]) == reasons, text


def test_the_archives_pasted_twice_sentence_is_caught_as_repetitive(luxun_articles, inventory):
    article = next(a for a in luxun_articles if a.count(ARCHIVE_GLITCH) == 2)
    passage = article[article.index(ARCHIVE_GLITCH):article.index("帮凶而已", article.rindex(ARCHIVE_GLITCH)) + 5]
    assert "repetitive" in check_text(passage, inventory, DEFAULT_LIMITS)["failed"]


def test_distinct_n_counts_distinct_ngrams_and_gives_short_texts_zero():
    assert distinct_n("abab", 2) == pytest.approx(2 / 3)
    assert distinct_n("a b\ncd", 2) == 1.0                  # whitespace removed first: ab, bc, cd
    assert distinct_n("春眠不觉晓", 3) == 1.0
    assert distinct_n("春", 2) == 0.0 and distinct_n("", 2) == 0.0


def brute_force_repeat(flat: str) -> int:
    return max((length for length in range(1, len(flat) // 2 + 1) for i in range(len(flat)) for j in
                range(i + length, len(flat) - length + 1) if flat[i:i + length] == flat[j:j + length]), default=0)


def test_longest_repeat_share_is_exact_against_brute_force():
    rng = np.random.default_rng(7)
    for _ in range(300):
        alphabet = rng.choice(["ab", "abc", "春眠不觉晓，"])
        text = "".join(rng.choice(list(alphabet), size=rng.integers(0, 25)))
        expected = brute_force_repeat(text) / len(text) if text else 0.0
        assert longest_repeat_share(text) == pytest.approx(expected), text
    assert longest_repeat_share("ab ab\nab") == pytest.approx(2 / 6)  # whitespace-normalised: "ababab"


def test_script_of_classes():
    expected = {"中": "han", "〇": "han", "々": "han", "a": "latin", "Ｚ": "latin", "é": "latin", "7": "digit",
                "７": "digit", "Ⅳ": "digit", "か": "kana", "カ": "kana", "ｶ": "kana", "한": "hangul", "ж": "cyrillic",
                "λ": "greek", "，": "punctuation", "。": "punctuation", "“": "punctuation", "!": "punctuation",
                "—": "punctuation", "+": "symbol", "￥": "symbol", " ": "space", "\u3000": "space", "\n": "space",
                "ب": "other", "\u0301": "other"}
    assert {ch: script_of(ch) for ch in expected} == expected


def test_script_inventory_keeps_classes_above_min_share(luxun_articles, zhu_articles):
    assert script_inventory(["中" * 999 + "a"], min_share=0.001) == {"han", "latin"}
    assert script_inventory(["中" * 1999 + "a \n"], min_share=0.001) == {"han"}   # spaces are not counted
    both = script_inventory(luxun_articles + zhu_articles)
    assert {"han", "punctuation"} <= both and not both & {"cyrillic", "kana", "hangul", "greek"}


def test_foreign_script_share_zero_for_chinese_high_for_word_salad(luxun_articles):
    chinese = [p for p in real_passages(luxun_articles) if not re.search(r"[A-Za-z0-9]", p)]
    assert len(chinese) > 100 and max(foreign_script_share(p, CHINESE) for p in chinese) == 0.0
    # 的 and 我 belong; 8 Latin letters, 14 digits and 3 Cyrillic letters of 27 characters do not.
    assert foreign_script_share(SALAD, CHINESE) == pytest.approx(25 / 27)
    assert foreign_script_share("Москва the 123 ελληνικά", CHINESE) == 1.0
    assert foreign_script_share("", CHINESE) == 0.0


def test_check_text_fluency_ratio_and_reasons(inventory):
    text = "我们追悼了过去的人，还要发愿：要自己和别人，都纯洁聪明勇猛向上。"
    assert check_text(text, inventory, DEFAULT_LIMITS)["fluency_ratio"] is None
    fluent = check_text(text, inventory, DEFAULT_LIMITS, fluency=30.0, fluency_baseline=10.0)
    assert fluent["fluency_ratio"] == pytest.approx(3.0) and fluent["passes"]
    limit = DEFAULT_LIMITS.max_fluency_ratio
    assert check_text(text, inventory, DEFAULT_LIMITS, fluency=10.0 * limit + 1, fluency_baseline=10.0)["failed"] \
        == ["not_fluent"]
    assert check_text(text, inventory, DEFAULT_LIMITS, fluency=math.nan, fluency_baseline=10.0)["failed"] \
        == ["not_fluent"]
    with pytest.raises(ValueError):
        check_text(text, inventory, DEFAULT_LIMITS, fluency=30.0)
    assert check_text("", inventory, DEFAULT_LIMITS, fluency=math.inf, fluency_baseline=10.0)["failed"] == ["empty"]


def test_system_verdict_counts_reasons_and_flags_above_the_limit(inventory):
    limits = GuardLimits(min_distinct_2=0.55, max_repeat_share=0.25, max_foreign_script_share=0.15,
                         max_fluency_ratio=4.0, max_prompt_echo_share=0.5, max_failing_share=0.25)
    good = "我们追悼了过去的人，还要发愿：要自己和别人，都纯洁聪明勇猛向上。"
    checks = [check_text(t, inventory, limits) for t in [good, good, good, LOOP]]
    verdict = system_verdict(checks, limits.max_failing_share)
    assert (verdict["n"], verdict["failing"], verdict["failing_share"]) == (4, 1, 0.25)
    assert verdict["by_reason"] == {"empty": 0, "repetitive": 1, "low_diversity": 1, "foreign_script": 0,
                                    "not_fluent": 0, "echoes_prompt": 0}
    assert verdict["median"]["chars"] == len(flatten(good)) and verdict["median"]["fluency_ratio"] is None
    assert not verdict["flagged"]                                  # 1 of 4 is not more than a quarter
    assert system_verdict(checks + [check_text(SALAD, inventory, limits)], limits.max_failing_share)["flagged"]
    with pytest.raises(ValueError):
        system_verdict([], 0.2)


def test_shuffle_within_sentences_keeps_each_sentences_characters(luxun_articles, inventory):
    text = "\n\n".join(cut_passages(luxun_articles[0])[:3])
    shuffled = shuffle_within_sentences(text, seed=1234)
    assert shuffled != text and len(shuffled) == len(text)
    offset = 0
    for sentence in split_sentences(text):
        assert Counter(shuffled[offset:offset + len(sentence)]) == Counter(sentence)
        offset += len(sentence)
    assert [i for i, ch in enumerate(shuffled) if ch.isspace()] == [i for i, ch in enumerate(text) if ch.isspace()]
    assert shuffle_within_sentences(text, seed=1234) == shuffled
    assert shuffle_within_sentences(text, seed=1235) != shuffled
    # Only fluency can tell the control from the original: every other check still passes.
    assert check_text(shuffled, inventory, DEFAULT_LIMITS)["passes"]


# --- copying guard -----------------------------------------------------------------------------------------

def brute_force_lcs(text: str, training: list[str]) -> int:
    flat, parts = normalize(text), [normalize(t) for t in training]
    return max((j - i for i in range(len(flat)) for j in range(i + 1, len(flat) + 1)
                if any(flat[i:j] in part for part in parts)), default=0)


def test_longest_common_substring_is_exact_against_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(200):
        alphabet = list(rng.choice(["ab", "abc ", "春眠不觉晓\n"]))
        training = ["".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(rng.integers(1, 4))]
        text = "".join(rng.choice(alphabet, size=rng.integers(0, 30)))
        assert TrainingText(training).longest_common_substring(text) == brute_force_lcs(text, training), \
            (text, training)
    assert TrainingText(["abc", "def"]).longest_common_substring("cd") == 1   # never across two texts
    assert TrainingText(["春眠不觉晓，处处闻啼鸟"]).longest_common_substring("他说：春眠不觉\n晓，处处。") == 8


def test_ngram_share_of_a_training_passage_and_of_an_unrelated_text(luxun_articles, zhu_articles):
    training = TrainingText(luxun_articles)
    passage = cut_passages(luxun_articles[3])[0]
    assert training.ngram_share(passage) == 1.0
    assert training.ngram_share(passage.replace("，", "，\n  ")) == 1.0        # whitespace does not hide a copy
    unrelated = real_passages(zhu_articles)[:20]
    assert max(training.ngram_share(p) for p in unrelated) < 0.05
    assert training.ngram_share("春眠不觉晓") == 0.0                            # no 8-gram at all
    assert TrainingText(["春眠不觉晓"]).ngram_share("春眠不觉晓", n=3) == 1.0


def test_compare_with_author_flags_a_system_that_copies_training_passages(luxun_articles, zhu_articles):
    train_articles, held_out_articles = luxun_articles[:32], luxun_articles[32:]
    training = TrainingText(train_articles)
    author_rows = copy_rows(training, [p for a in held_out_articles for p in cut_passages(a)][:12])
    copying = [p for a in train_articles[::8] for p in cut_passages(a)[:3]][:12]
    own_words = real_passages(zhu_articles)[:12]

    copied = compare_with_author(copy_rows(training, copying), author_rows)
    assert copied["above_author_rate"] and copied["system"]["ngram8_share"]["mean"] == 1.0
    assert copied["system"]["longest_common_substring"]["max"] == max(len(normalize(p)) for p in copying)
    honest = compare_with_author(copy_rows(training, own_words), author_rows)
    assert not honest["above_author_rate"]
    assert honest["author_baseline"] == summary(author_rows) and honest["system"]["n"] == 12


def test_compare_with_author_compares_mean_ngram_shares():
    def rows(*shares):
        return [{"longest_common_substring": 9, "ngram8_share": share} for share in shares]
    author = rows(0.1, 0.3)                                            # mean 0.2
    assert not compare_with_author(rows(0.0, 0.2), author)["above_author_rate"]
    assert not compare_with_author(rows(0.2, 0.2), author)["above_author_rate"]
    assert compare_with_author(rows(0.0, 0.0, 0.9), author)["above_author_rate"]  # the mean (0.3), not the median
    with pytest.raises(ValueError):
        summary([])


def test_an_output_that_repeats_its_prompt_back_fails_and_a_real_continuation_passes():
    """The base model answers "continue this" by copying the author's prefix: the author's own words, which
    every style measure would score as perfectly in style. Measured as in eval/run.py, with the copying
    guard's n-gram lookup over the prompt alone."""
    prefix = ("古时候，考试八股的时候，有三样卷子，考生是很失面子的，后来改考策论了，恐怕也还是这样子。第一样是“缴白卷”，"
              "只写上题目，做不出文章，或者简直连题目也不写。")
    prompt = "接着下面的开头继续写下去：\n\n" + prefix
    echo, own = prefix[:60], "然而这最干净，因为别的再没有什么枝节了。第二样是钞刊文，他先已有了侥幸之心。"
    lookup = TrainingText([prompt])   # the eval looks outputs up in their own prompt the same way
    echoed = check_text(echo, {"han", "punctuation"}, DEFAULT_LIMITS, prompt_echo=lookup.ngram_share(echo))
    written = check_text(own, {"han", "punctuation"}, DEFAULT_LIMITS, prompt_echo=lookup.ngram_share(own))
    assert echoed["failed"] == ["echoes_prompt"] and echoed["prompt_echo_share"] == 1.0
    assert written["passes"] and written["prompt_echo_share"] < 0.1
    assert "prompt_echo_share" in system_verdict([echoed, written], 0.2)["median"]
