"""A generated archive with every kind of bad input a real backup holds: none may crash the run, each is
counted with its reason, repairs are reported, and no text is lost without a count."""
import json
import os
from pathlib import Path

import pytest

from conftest import REPO
from core.config import load
from core.jsonio import read_jsonl
from prep.build_dataset import NothingUsable, build
from prep.config import PrepConfig

LUXUN = sorted((REPO / "corpora" / "luxun-archive" / "鲁迅").glob("192[45]/*/*.md"))
SIGNATURE = "—— 关注公众号「某某读书」，每周更新 12 篇，投稿 editor@example.com ——"
HEADER = "这是本号第 {n} 篇原创，全文 {c} 字"


def essay(i: int) -> str:
    body = LUXUN[i].read_text(encoding="utf-8").split("---", 2)[2]
    return f"{HEADER.format(n=i + 1, c=1000 + i)}\n\n{body}\n\n{SIGNATURE}\n"


def article(root: Path, date: str, title: str, text: str | bytes, meta: dict | str | None = "auto") -> Path:
    folder = root / "作者" / date[:4] / f"{date}_{title}"
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{date}_{title}.md"
    md.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    if meta == "auto":
        meta = {"title": title, "date": date, "year": date[:4]}
    if isinstance(meta, dict):
        (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    elif isinstance(meta, str):
        (folder / "meta.json").write_text(meta, encoding="utf-8")
    return md


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = tmp_path_factory.mktemp("messy") / "archive"
    good = [article(root, f"2020-01-{i + 10:02d}", f"正常{i}", essay(i)) for i in range(5)]
    paragraphs = essay(5).split("\n\n")
    article(root, "2020-02-01", "重复段落", "\n\n".join(paragraphs[:4] + [paragraphs[3]] + paragraphs[4:]))
    article(root, "2020-02-02", "无元数据", essay(6), meta=None)
    article(root, "2020-02-03", "坏元数据", essay(7), meta="{not json")
    article(root, "2020-02-04", "带BOM", b"\xef\xbb\xbf" + essay(8).encode("utf-8"))
    article(root, "2020-02-05", "国标编码", essay(9).encode("gb18030"))
    article(root, "2020-02-06", "空文件", "")
    article(root, "2020-02-07", "纯图片", "![](images/1.png)\n\n![](images/2.png)\n")
    article(root, "2020-02-08", "二进制", b"\x89PNG\r\n\x1a\n\x00\x00\x00" + os.urandom(200))
    article(root, "2020-02-09", "重复文章", essay(0))
    article(root, "2020-02-10", "隐私", essay(10) + "\n\n联系我：someone@example.com，电话 13812345678。\n")
    article(root, "2020-02-11", "很短", "今天停更一次，抱歉。\n")
    article(root, "2020-02-12", "太短", "停更\n")
    undecodable = article(root, "2020-02-13", "乱码", b"\xff\xfe\xfd" * 10 + b"\x80\x81")
    undecodable.write_bytes(bytes(range(128, 256)) * 3)
    links = "\n".join(f"- [第{i}篇](https://mp.weixin.qq.com/s/{i})" for i in range(20))
    article(root, "2020-02-14", "目录页", f"# 往期目录\n\n{links}\n")
    (root / "README.md").write_text("# 备份说明\n\n由某工具导出。\n", encoding="utf-8")
    os.mkfifo(root / "作者" / "fifo.md")
    outside = root.parent / "outside.md"
    outside.write_text(essay(11), encoding="utf-8")
    (root / "作者" / "escape.md").symlink_to(outside)
    (root / "作者" / "loop").symlink_to(root, target_is_directory=True)
    (root / "作者" / "again.md").symlink_to(good[1])
    (root / "作者" / "broken.md").symlink_to(root / "missing.md")
    plain = root / "散篇"
    plain.mkdir()
    (plain / "随笔.md").write_text(essay(12), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def result(messy, tmp_path_factory):
    out = tmp_path_factory.mktemp("messy_out")
    cfg = load(PrepConfig, None, ["paraphrase.max_chunks=0", "workers=2"])
    stats = build(messy, out, cfg)
    return stats, read_jsonl(out / "sft_train.jsonl") + read_jsonl(out / "sft_val.jsonl")


def test_every_bad_input_is_counted_with_its_reason(result):
    stats, _ = result
    reasons = stats["articles"]["skipped_by_reason"]
    assert reasons == {
        "binary_file": 1, "broken_symlink": 1, "duplicate_article": 1, "empty_file": 1, "image_only": 1,
        "index_page": 2, "not_a_regular_file": 1, "symlink_outside_root": 1, "symlink_to_file_already_read": 1,
        "symlinked_folder_not_followed": 1, "too_short_after_cleaning": 1, "undecodable": 1}
    assert stats["articles"]["used"] == 13
    listed = {(p["path"].split("/")[-1], p["reason"]) for p in stats["articles"]["skipped_list"]}
    assert ("README.md", "index_page") in listed and ("2020-02-14_目录页.md", "index_page") in listed
    assert ("2020-02-09_重复文章.md", "duplicate_article") in listed


def test_repairs_are_reported(result):
    stats, rows = result
    repairs = stats["articles"]["repaired_by_reason"]
    assert repairs["utf8_bom_removed"] == 1 and repairs["decoded_gb18030"] >= 1
    assert repairs["meta_missing_used_folder_name"] == 1 and repairs["meta_malformed_used_folder_name"] == 1
    titles = {r["meta"]["title"] for r in rows}
    assert {"无元数据", "坏元数据", "带BOM", "国标编码", "随笔"} <= titles
    dates = {r["meta"]["title"]: r["meta"]["date"] for r in rows}
    assert dates["无元数据"] == "2020-02-02" and dates["随笔"] is None


def test_boilerplate_repeats_and_pii_are_removed_and_counted(result):
    stats, rows = result
    text = "\n".join(r["completion"][0]["content"] + r["prompt"][1]["content"] for r in rows)
    assert "关注公众号" not in text and "原创，全文" not in text
    assert stats["boilerplate"]["paragraphs_removed"] >= 2 * 10
    assert stats["repeated_paragraphs_removed"] >= 1
    assert "someone@example.com" not in text and "13812345678" not in text
    assert stats["pii"]["replaced"]["email"] == 1 and stats["pii"]["replaced"]["phone"] == 1
    assert "<EMAIL>" in text
    quoted = json.dumps(stats["boilerplate"]["most_common"], ensure_ascii=False)
    assert "关注公众号" in quoted and "editor@example.com" not in quoted  # the report is scrubbed too


def test_short_article_kept_and_flagged(result):
    stats, rows = result
    short = [r for r in rows if r["meta"]["title"] == "很短"]
    assert short and all(r["meta"]["short_chunk"] for r in short)
    # the flag is exactly "fewer than chunk.min_tokens", and both kinds are here
    assert all(r["meta"]["short_chunk"] == (r["meta"]["chunk_tokens"] < 300) for r in rows)
    assert any(not r["meta"]["short_chunk"] for r in rows)
    assert stats["chunks"]["short_flagged"] >= 1


def test_nothing_usable_is_a_clear_error(tmp_path):
    article(tmp_path, "2020-01-01", "空", "")
    article(tmp_path, "2020-01-02", "图", "![](a.png)")
    with pytest.raises(NothingUsable, match=r"found 2 Markdown file\(s\); skipped 1 empty_file, 1 image_only"):
        build(tmp_path, tmp_path / "out", load(PrepConfig, None, ["paraphrase.max_chunks=0", "workers=1"]))
