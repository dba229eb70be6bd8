"""Small, real inputs for the eval tests, built without prep/ or train/ (stages never import each other):
an SFT data dir from a few bundled Lu Xun essays, a reference-author data dir from a few Zhu Ziqing essays, and a run folder
holding a real but untrained (non-identity) LoRA adapter, a manifest and a training log."""
import re
from pathlib import Path

import pytest

from core import offline
from core.chunks import ChunkRecord
from core.rows import RowMeta, SftRow
from core.jsonio import write_json, write_jsonl
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR, tokenizer_fingerprint
from core.text import split_sentences

ARCHIVE = REPO_ROOT / "corpora" / "luxun-archive"
ESSAYS = ["1934-01-08_女人未必多说谎", "1934-01-17_漫骂", "1934-05-10_化名新法", "1934-04-26_小品文的生机",
          "1934-09-25_考场三丑", "1934-08-13_趋时和复古", "1934-05-14_读几本书"]
REFERENCE_ARCHIVE = REPO_ROOT / "corpora" / "zhuziqing-archive"
REFERENCE_ESSAYS = ["1921-11-05_歌声", "1922-01-01_匆匆", "1927-01-01_荷塘月色", "1925-01-01_背影"]
VAL_ESSAYS = {"1934-05-14_读几本书", "1934-09-25_考场三丑"}
SYSTEM = "你是一位作家，请用你一贯的文风写作。"


def clean_markdown(text: str) -> str:
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"<[^>]+>", "", text)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "\n\n".join(paragraphs)


def chunk_paragraphs(text: str, max_chars: int = 320) -> list[str]:
    chunks, current = [], ""
    for paragraph in text.split("\n\n"):
        if len(current) >= max_chars // 3 and len(current) + len(paragraph) > max_chars:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    return chunks + ([current] if current else [])


def sft_rows(article_id: str, title: str, text: str, split: str) -> tuple[list[dict], list[dict]]:
    """The chunk records (chunks.jsonl, core/chunks.py) and the SFT rows (core/rows.py) built from them; token
    counts are character counts here (eval reads them only for reports)."""
    rows, records = [], []
    for index, chunk in enumerate(chunk_paragraphs(text)):
        records.append(ChunkRecord(article_id=article_id, chunk_id=f"{article_id}#{index}", chunk_index=index,
                                   split=split, text=chunk, tokens=len(chunk), lang="zh", title=title[11:]).as_json())
        sentences = split_sentences(chunk)
        cut = max(1, len(sentences) * 2 // 5)
        prefix, rest = "".join(sentences[:cut]), "".join(sentences[cut:])
        meta = dict(article_id=article_id, chunk_id=f"{article_id}#{index}", chunk_index=index, chunk_tokens=len(chunk),
                    title=title, date=title[:10], year=title[:4], lang="zh", split=split, short_chunk=False)
        if rest.strip():
            user = f"请接着写下去：\n\n{prefix}"
            rows.append(SftRow(SYSTEM, user, rest, RowMeta(**meta, template="continue", prefix=prefix,
                                                          prompt_tokens=len(SYSTEM + user),
                                                          completion_tokens=len(rest))).as_json())
        user = f"以《{title[11:]}》为题写一段文字，约{len(chunk)}字。"
        rows.append(SftRow(SYSTEM, user, chunk, RowMeta(**meta, template="expand", prompt_tokens=len(SYSTEM + user),
                                                       completion_tokens=len(chunk))).as_json())
    return records, rows


def write_data(out: Path, articles: dict[str, tuple[str, str]], val: set[str]) -> Path:
    """articles: article_id -> (title, text)."""
    rows, chunks = {"train": [], "val": []}, []
    for article_id, (title, text) in sorted(articles.items()):
        split = "val" if article_id in val else "train"
        records, article_rows = sft_rows(article_id, title, text, split)
        chunks += records
        rows[split] += article_rows
    write_jsonl(out / "chunks.jsonl", chunks)
    write_jsonl(out / "sft_train.jsonl", rows["train"])
    write_jsonl(out / "sft_val.jsonl", rows["val"])
    write_json(out / "manifest.json", {"stage": "data", "tokenizer": {
        "fingerprint": tokenizer_fingerprint(REPO_ROOT / DEFAULT_MODEL_DIR), "model_dir": DEFAULT_MODEL_DIR}})
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    articles = {}
    for name in ESSAYS:
        path = next(ARCHIVE.glob(f"鲁迅/*/{name}/{name}.md"))
        articles[f"鲁迅/{name[:4]}/{name}"] = (name, clean_markdown(path.read_text(encoding="utf-8")))
    return write_data(tmp_path_factory.mktemp("data"), articles, {f"鲁迅/{n[:4]}/{n}" for n in VAL_ESSAYS})


@pytest.fixture(scope="session")
def reference_data(tmp_path_factory) -> Path:
    """Four short essays of the bundled second author, Zhu Ziqing, as `make reference-data` lays them out."""
    articles = {}
    for name in REFERENCE_ESSAYS:
        path = next(REFERENCE_ARCHIVE.glob(f"朱自清/*/{name}/{name}.md"))
        articles[f"朱自清/{name[:4]}/{name}"] = (name, clean_markdown(path.read_text(encoding="utf-8")))
    return write_data(tmp_path_factory.mktemp("reference"), articles, set())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder as `make train` leaves it, with an untrained LoRA adapter (random B, so adapter != base)."""
    offline.enable()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    run = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(REPO_ROOT / DEFAULT_MODEL_DIR), local_files_only=True)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                            init_lora_weights=False))
    model.peft_config["default"].base_model_name_or_path = DEFAULT_MODEL_DIR
    model.save_pretrained(run / "adapter")
    write_json(run / "manifest.json", {"stage": "train", "config": {"base_model": DEFAULT_MODEL_DIR,
                                                                    "load_in_4bit": False}})
    write_jsonl(run / "train_log.jsonl", [{"step": s, "loss": 3.0 - 0.1 * s, "learning_rate": 2e-4, "epoch": s / 10}
                                          for s in range(1, 11)]
                + [{"step": 5, "eval_loss": 2.9, "epoch": 0.5}, {"step": 10, "eval_loss": 2.6, "epoch": 1.0}])
    return run
