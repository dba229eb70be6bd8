"""Single steps of `make data` on small real inputs, each with a control that the check could otherwise pass
vacuously: MinHash near-duplicate removal, split.mode=latest, the whole-chunk leak check, PII patterns that
must leave dates and years alone, and the order of the paraphrase rejection rules."""
from collections import Counter

import pytest

from conftest import REPO
from core.config import load
from core.jsonio import read_jsonl
from prep import pii, split
from prep.build_dataset import build
from prep.chunk import Chunk
from prep.config import PrepConfig
from prep.paraphrase import Limits, rejection_reason
from test_prep_bad_inputs import article

ESSAYS = sorted((REPO / "corpora" / "luxun-archive" / "鲁迅").glob("192[45]/*/*.md"))


def body(i: int) -> str:
    return ESSAYS[i].read_text(encoding="utf-8").split("---", 2)[2].strip()


def test_minhash_removes_a_reposted_article_with_small_edits_and_keeps_the_rest(tmp_path):
    original = body(0)
    edited = original.replace("。", "！", 3).replace("我", "吾", 2)   # not an exact duplicate, still the same text
    assert edited != original
    for i, (date, text) in enumerate([("2020-01-01", original), ("2020-02-01", edited), ("2020-03-01", body(1)),
                                      ("2020-04-01", body(2))]):
        article(tmp_path / "archive", date, f"文{i}", text)
    stats = build(tmp_path / "archive", tmp_path / "out", load(PrepConfig, None, ["paraphrase.max_chunks=0", "workers=1"]))
    pairs = stats["chunks"]["near_duplicate_pairs"]
    assert pairs and all(p["kept"].startswith("作者/2020/2020-01-01_文0#") for p in pairs)
    assert all(p["removed"].startswith("作者/2020/2020-02-01_文1#") for p in pairs)
    assert stats["chunks"]["near_duplicates_removed"] == len(pairs)
    kept = {c["chunk_id"] for c in read_jsonl(tmp_path / "out" / "chunks.jsonl")}
    assert not kept & {p["removed"] for p in pairs}
    for other in ("2020-03-01_文2", "2020-04-01_文3"):   # control: unrelated articles lose nothing
        assert any(chunk_id.startswith(f"作者/2020/{other}#") for chunk_id in kept)


def test_split_latest_holds_out_the_newest_articles():
    dated = [(f"a{i}", f"20{10 + i}-01-01") for i in range(20)] + [("undated", None)]
    latest = split.validation_articles(dated, "latest", 0.15, 0, seed=1)
    assert latest == {"a19", "a18", "a17"}   # round(0.15 * 21) = 3, the newest
    hashed = split.validation_articles(dated, "hash", 0.15, 0, seed=1)
    assert len(hashed) == 3 and hashed != latest   # control: the default mode does not pick by date


def test_leak_check_drops_a_validation_chunk_sharing_a_span_and_keeps_one_a_character_short():
    shared = body(0).replace("\n", "")[:60]   # a quotation both articles use
    train = Chunk("t", 0, "甲乙丙" + shared + "丁戊己", 80, False, "zh", "train")
    leaking = Chunk("v", 0, "子丑" + shared[:50] + "寅卯", 60, False, "zh", "val")
    near_miss = Chunk("v", 1, "子丑" + shared[:49] + "寅卯", 60, False, "zh", "val")
    inside = Chunk("w", 0, shared[5:25], 10, True, "zh", "val")   # shorter than the span, inside a train chunk
    kept, dropped, recheck = split.drop_leaking([train, leaking, near_miss, inside], 50)
    assert dropped == ["v#0", "w#0"]
    assert [c.chunk_id for c in kept] == ["t#0", "v#1"]
    assert recheck == {"val_chunks_in_train": 0, "val_chunks_sharing_span_with_train": 0}


@pytest.mark.parametrize("text", [
    "1925年6月16日写完，2024-03-05 改定，共 12 期。", "民国十四年即1925年，1907至1936年间。",
    "编号 19251230 和 20240305，电话区号 010。", "身份证号 110105194912310021 的校验位不对。"])
def test_pii_leaves_dates_years_and_numbers_without_a_valid_id_alone(text):
    counts = Counter()
    assert pii.scrub(text, list(pii.PLACEHOLDERS), counts) == text and not counts


def test_pii_replaces_an_id_with_a_valid_check_digit_and_real_contacts():
    counts = Counter()
    text = "身份证 11010519491231002X，手机 13812345678，邮箱 a.b@example.com，座机 010-12345678。"
    assert pii.scrub(text, list(pii.PLACEHOLDERS), counts) == "身份证 <ID>，手机 <PHONE>，邮箱 <EMAIL>，座机 <PHONE>。"
    assert counts == {"id_number": 1, "phone": 2, "email": 1}


def test_a_paraphrase_failing_several_rules_counts_under_the_first():
    limits = Limits(min_length_ratio=0.6, max_length_ratio=1.4, min_keyword_recall=0.5, max_jaccard=0.5)
    original = "我家的后面有一个很大的园，相传叫作百草园。现在是早已并屋子一起卖给朱文公的子孙了。"
    assert rejection_reason(original, "", False, ["百草园"], limits) == "empty"                  # also cut off
    assert rejection_reason(original, "Short.", False, ["百草园"], limits) == "truncated"        # also short, English
    assert rejection_reason(original, "Short.", True, ["百草园"], limits) == "wrong_language"    # also short
    assert rejection_reason(original, original[:10], True, ["朱文公"], limits) == "too_short"    # also lost content
    assert rejection_reason(original, original, True, ["百草园"], limits) == "copies_original"
