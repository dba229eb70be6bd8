"""Blind rating sheets: adapter vs base ("A/B"), and real vs generated ("real or generated?").

For each sheet this writes a self-contained HTML rating page, a printable Markdown sheet and a CSV sheet,
and one `key.json` that says which system stands behind "A" and "B" for every item. The sheets carry no
system names, neutral item ids, a seeded presentation order and a seeded, balanced A/B assignment (the
system under test is "A" on exactly half of the items, ±1 for an odd count), so raters cannot learn the
key from position, order or ids. `eval.ab_score` unblinds the raters' exports with the key.

Same items + same seed -> byte-identical files.
"""
import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from core.jsonio import dumps, write_atomic, write_json
from core.seed import stable_unit

EXPORT_FORMAT = "styledistill-ratings"
EXPORT_VERSION = 1
KEY_FILE = "key.json"
PAGE_TEMPLATE = Path(__file__).with_name("ab_page.html")
PAGE_DATA_SLOT = "/*SHEET_DATA*/"


@dataclass(frozen=True)
class SheetKind:
    """One kind of blind sheet: which two texts of an input item are compared, and how raters answer."""
    name: str                # value of the "sheet" field in sheets, exports and key
    target: str              # input field of the text under test (its share of wins is the headline number)
    other: str               # input field of the text it is compared with
    neutral: str             # the rater's third answer: no preference / cannot decide
    neutral_label: str
    headline: str            # name of the target's share of decisive answers in the scores
    title: str
    prompt_label: str
    question: str
    instructions: str


AB = SheetKind(
    name="ab", target="adapter", other="base", neutral="tie", neutral_label="Tie / 难分高下",
    headline="adapter_win_rate",
    title="Blind comparison: which passage reads more like the author? / 盲评：哪一段更像作者？",
    prompt_label="Task / 写作任务",
    question="Which passage reads more like the author? / 哪一段更像作者的文笔？",
    instructions=(
        "Each item shows a writing task and two passages, A and B, written for it. Judge the writing style "
        "only (wording, rhythm, punctuation, tone), not facts or length, and pick the passage that reads more "
        "like the author. Choose Tie only if you really cannot decide. Add a comment if something stands out. "
        "Enter your name, then download your answers (JSON or CSV) and send the file back. Answers are kept in "
        "this browser if you close the page. / 每题给出一个写作任务和两段文字 A、B。只比较文风（措辞、节奏、标点、"
        "语气），不比较内容或长短，选出更像作者的一段；实在难分时选“难分高下”。填写姓名后下载答案（JSON 或 CSV）并发回。"
    ),
)
REAL_OR_GENERATED = SheetKind(
    name="rog", target="generated", other="real", neutral="cant_tell", neutral_label="Can't tell / 无法判断",
    headline="fooling_rate",
    title="Real or generated? / 原文还是生成？",
    prompt_label="Opening / 开头",
    question="Which continuation is the author's real text? / 哪一段续写是作者的原文？",
    instructions=(
        "Each item shows the opening of a passage and two continuations, A and B. One is what the author "
        "really wrote next; the other was produced by a language model. Pick the one you believe is the "
        "author's real text, or Can't tell. Enter your name, then download your answers (JSON or CSV) and send "
        "the file back. / 每题给出一段开头和两段续写 A、B：一段是作者的原文，另一段由语言模型生成。选出你认为是原文的一段，"
        "或选“无法判断”。填写姓名后下载答案（JSON 或 CSV）并发回。"
    ),
)
SHEET_KINDS = {kind.name: kind for kind in (AB, REAL_OR_GENERATED)}


def choices(kind: SheetKind) -> list[str]:
    """Answer values a rater can give on a sheet of this kind."""
    return ["A", "B", kind.neutral]


def _check_items(items: list[dict], kind: SheetKind) -> None:
    fields = ("item_id", "prompt", kind.target, kind.other)
    seen = set()
    for index, item in enumerate(items):
        for field in fields:
            if not isinstance(item.get(field), str):
                raise ValueError(f"{kind.name} item {index}: '{field}' must be a string (fields: {', '.join(fields)})")
        if item["item_id"] in seen:
            raise ValueError(f"{kind.name} item {index}: duplicate item_id {item['item_id']!r}")
        seen.add(item["item_id"])


def _blind(items: list[dict], kind: SheetKind, seed: int) -> tuple[list[dict], dict]:
    """Order, number and A/B-assign the items. Returns (what raters see, the key's item table).

    Both the presentation order and the set of items with the target as "A" come from seeded hashes of
    the item ids, so they do not depend on the input order and are independent of each other.
    """
    ids = sorted(item["item_id"] for item in items)
    target_first = sorted(ids, key=lambda item_id: stable_unit(seed, kind.name, "target-is-A", item_id))
    n_target_a = len(ids) // 2
    if len(ids) % 2 and stable_unit(seed, kind.name, "odd-extra") < 0.5:
        n_target_a += 1  # the odd item's side is seeded too, so neither system is favoured on average
    target_is_a = set(target_first[:n_target_a])
    shown_order = sorted(ids, key=lambda item_id: stable_unit(seed, kind.name, "order", item_id))
    by_id = {item["item_id"]: item for item in items}
    width = max(2, len(str(len(ids))))
    shown, key_items = [], {}
    for number, item_id in enumerate(shown_order, start=1):
        item = by_id[item_id]
        a_field, b_field = (kind.target, kind.other) if item_id in target_is_a else (kind.other, kind.target)
        shown_id = f"{kind.name}-{number:0{width}d}"
        shown.append({"id": shown_id, "prompt": item["prompt"], "a": item[a_field], "b": item[b_field]})
        key_items[shown_id] = {"item_id": item_id, "A": a_field, "B": b_field}
    return shown, key_items


def _sheet_id(kind: SheetKind, shown: list[dict]) -> str:
    """Fingerprint of exactly what raters see; exports carry it so scoring can refuse a foreign sheet."""
    canonical = json.dumps({"sheet": kind.name, "items": shown}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _page(kind: SheetKind, sheet_id: str, shown: list[dict]) -> str:
    data = {
        "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "sheet": kind.name, "sheet_id": sheet_id,
        "title": kind.title, "instructions": kind.instructions, "prompt_label": kind.prompt_label,
        "question": kind.question, "items": shown,
        "choices": [{"value": "A", "label": "A"}, {"value": "B", "label": "B"},
                    {"value": kind.neutral, "label": kind.neutral_label}],
    }
    # Inside <script>, "</script>" or "<!--" in a text would end the blob early; escaped as \u003c etc.
    # they stay valid JSON and can never be read as markup.
    blob = dumps(data, indent=None).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    template = PAGE_TEMPLATE.read_text(encoding="utf-8")
    if template.count(PAGE_DATA_SLOT) != 1:
        raise ValueError(f"{PAGE_TEMPLATE}: expected exactly one {PAGE_DATA_SLOT} slot for the sheet data")
    return template.replace(PAGE_DATA_SLOT, blob)


def _fence(text: str) -> str:
    """A Markdown code fence that the text cannot close early (longer than any backtick run inside it)."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _markdown(kind: SheetKind, sheet_id: str, shown: list[dict]) -> str:
    lines = [f"# {kind.title}", "", f"Sheet `{sheet_id}` · {len(shown)} items", "", kind.instructions, "",
             f"To hand in answers from paper, fill the `rater` and `choice` (A, B or {kind.neutral}) columns of "
             f"`{kind.name}_sheet.csv`, or use the HTML page.", ""]
    for item in shown:
        lines += [f"## {item['id']}", "", f"**{kind.prompt_label}**", "", _fence(item["prompt"]), "",
                  "**A**", "", _fence(item["a"]), "", "**B**", "", _fence(item["b"]), "",
                  f"{kind.question}  ☐ A  ☐ B  ☐ {kind.neutral_label}", "",
                  "Comment: ________________________________________", ""]
    return "\n".join(lines)


def _csv(kind: SheetKind, sheet_id: str, shown: list[dict]) -> str:
    """Printable sheet whose filled-in `rater`/`choice`/`comment` columns `eval.ab_score` accepts as is."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["sheet", "sheet_id", "rater", "item", "prompt", "passage_a", "passage_b", "choice", "comment"])
    for item in shown:
        writer.writerow([kind.name, sheet_id, "", item["id"], item["prompt"], item["a"], item["b"], "", ""])
    return "\ufeff" + buffer.getvalue()  # byte-order mark: spreadsheet programs then read UTF-8 correctly


SHEET_FORMATS = {"html": _page, "md": _markdown, "csv": _csv}


def write_sheets(out_dir: Path, ab_items: list[dict], rog_items: list[dict], seed: int) -> dict:
    """Write the blind sheets and their key into out_dir; return a summary for metrics.json.

    ab_items:  {"item_id", "prompt", "adapter", "base"}
    rog_items: {"item_id", "prompt", "real", "generated"}
    A kind with no items gets no sheet.
    """
    if not ab_items and not rog_items:
        raise ValueError("write_sheets: no items for either sheet (ab_items and rog_items are both empty)")
    out_dir = Path(out_dir)
    key = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "seed": seed, "sheets": {}}
    summary = {"files": [], "key": KEY_FILE, "sheets": {}}
    for kind, items in ((AB, ab_items), (REAL_OR_GENERATED, rog_items)):
        _check_items(items, kind)
        if not items:
            for ext in SHEET_FORMATS:  # a sheet left from an earlier eval would not match the new key
                (out_dir / f"{kind.name}_sheet.{ext}").unlink(missing_ok=True)
            continue
        shown, key_items = _blind(items, kind, seed)
        sheet_id = _sheet_id(kind, shown)
        files = {f"{kind.name}_sheet.{ext}": render(kind, sheet_id, shown) for ext, render in SHEET_FORMATS.items()}
        for name, text in files.items():
            write_atomic(out_dir / name, text)
        n_target_a = sum(entry["A"] == kind.target for entry in key_items.values())
        key["sheets"][kind.name] = {"sheet_id": sheet_id, "target": kind.target, "other": kind.other,
                                    "neutral": kind.neutral, "items": key_items}
        summary["files"] += sorted(files)
        summary["sheets"][kind.name] = {"sheet_id": sheet_id, "n_items": len(shown),
                                        f"share_{kind.target}_as_A": n_target_a / len(shown)}
    write_json(out_dir / KEY_FILE, key)
    summary["files"] = sorted(summary["files"] + [KEY_FILE])
    return summary
