"""Blind sheets: the key stays out of the sheets, A/B assignment is balanced, output is deterministic."""
import csv
import io
import json
import re

import pytest

from core.jsonio import read_json
from eval.ab_sheets import write_sheets

SHEET_FILES = ["ab_sheet.csv", "ab_sheet.html", "ab_sheet.md", "rog_sheet.csv", "rog_sheet.html", "rog_sheet.md"]
HOSTILE = '</script><script>alert(1)</script> <!-- & "quotes" ``` 〈尖括号〉'


def ab_items(n):
    return [{"item_id": f"鲁迅/1925/文章{i}#0", "prompt": f"续写第 {i} 段。{HOSTILE}",
             "adapter": f"甲稿{i}：我翻开历史一查。{HOSTILE}", "base": f"乙稿{i}：It was a sunny day."} for i in range(n)]


def rog_items(n):
    return [{"item_id": f"鲁迅/1926/文章{i}#1", "prompt": f"开头{i}", "real": f"真的续写{i}", "generated": f"机器续写{i}"}
            for i in range(n)]


def page_data(html: str) -> dict:
    blob = re.search(r'<script type="application/json" id="sheet-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(blob)


def test_sheets_never_contain_the_key(tmp_path):
    summary = write_sheets(tmp_path, ab_items(8), rog_items(6), seed=3)
    assert summary["files"] == sorted(SHEET_FILES + ["key.json"])
    key = read_json(tmp_path / "key.json")
    for name in SHEET_FILES:
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert not re.search(r"adapter|\bbase\b|key\.json|seed", text, re.I), name
        for entry in key["sheets"][name.split("_")[0]]["items"].values():
            assert entry["item_id"] not in text, f"{name} shows the source id {entry['item_id']}"
    for kind in ("ab", "rog"):
        html = (tmp_path / f"{kind}_sheet.html").read_text(encoding="utf-8")
        data = page_data(html)
        assert all(set(item) == {"id", "prompt", "a", "b"} for item in data["items"])
        assert [item["id"] for item in data["items"]] == sorted(key["sheets"][kind]["items"])
        assert not re.search(r"https?://|\bsrc=|<link", html), "the page must load nothing from outside"


def test_key_unblinds_every_item(tmp_path):
    items = ab_items(5)
    write_sheets(tmp_path, items, rog_items(3), seed=11)
    key = read_json(tmp_path / "key.json")["sheets"]["ab"]
    by_id = {item["item_id"]: item for item in items}
    for shown in page_data((tmp_path / "ab_sheet.html").read_text(encoding="utf-8"))["items"]:
        entry = key["items"][shown["id"]]
        assert shown["a"] == by_id[entry["item_id"]][entry["A"]]
        assert shown["b"] == by_id[entry["item_id"]][entry["B"]]
        assert {entry["A"], entry["B"]} == {"adapter", "base"}


@pytest.mark.parametrize("n", [1, 2, 7, 10, 31])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assignment_is_balanced(tmp_path, n, seed):
    summary = write_sheets(tmp_path, ab_items(n), rog_items(n), seed=seed)
    key = read_json(tmp_path / "key.json")["sheets"]
    for kind, target in (("ab", "adapter"), ("rog", "generated")):
        target_a = sum(entry["A"] == target for entry in key[kind]["items"].values())
        assert abs(2 * target_a - n) <= 1
        assert summary["sheets"][kind][f"share_{target}_as_A"] == target_a / n


def test_same_inputs_and_seed_give_identical_bytes(tmp_path):
    items = ab_items(9)
    write_sheets(tmp_path / "one", items, rog_items(4), seed=5)
    write_sheets(tmp_path / "two", list(reversed(items)), rog_items(4)[::-1], seed=5)  # input order is irrelevant
    write_sheets(tmp_path / "other", items, rog_items(4), seed=6)
    for name in SHEET_FILES + ["key.json"]:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert (tmp_path / "one" / "key.json").read_bytes() != (tmp_path / "other" / "key.json").read_bytes()


def test_hostile_text_survives_escaping(tmp_path):
    write_sheets(tmp_path, ab_items(2), rog_items(1), seed=0)
    html = (tmp_path / "ab_sheet.html").read_text(encoding="utf-8")
    assert html.count("</script>") == 2  # the data blob's and the code's own closing tags, nothing injected
    assert any(HOSTILE in item["a"] or HOSTILE in item["b"] for item in page_data(html)["items"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "ab_sheet.csv").read_text(encoding="utf-8-sig"))))
    assert len(rows) == 2 and all(HOSTILE in row["prompt"] for row in rows)
    markdown = (tmp_path / "ab_sheet.md").read_text(encoding="utf-8")
    assert "````text\n" in markdown  # a fence longer than the ``` inside the text


def test_bad_items_are_named(tmp_path):
    with pytest.raises(ValueError, match="ab item 1: 'base' must be a string"):
        write_sheets(tmp_path, [ab_items(1)[0], {"item_id": "x", "prompt": "p", "adapter": "a"}], [], seed=0)
    with pytest.raises(ValueError, match="duplicate item_id"):
        write_sheets(tmp_path, ab_items(1) * 2, [], seed=0)
    with pytest.raises(ValueError, match="both empty"):
        write_sheets(tmp_path, [], [], seed=0)


def test_empty_kind_gets_no_sheet(tmp_path):
    write_sheets(tmp_path, ab_items(3), rog_items(3), seed=0)
    summary = write_sheets(tmp_path, ab_items(3), [], seed=0)
    assert not list(tmp_path.glob("rog_sheet.*"))  # the earlier eval's sheet is gone with its key entry
    assert summary["files"] == ["ab_sheet.csv", "ab_sheet.html", "ab_sheet.md", "key.json"]
    assert list(read_json(tmp_path / "key.json")["sheets"]) == ["ab"]
