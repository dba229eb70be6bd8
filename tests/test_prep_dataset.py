"""`make data` on the real sample archive with the real tokenizer: format, split, leak-freedom, token bounds,
template invariants, determinism, atomic outputs and no network."""
import filecmp
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, SAMPLE_ARCHIVE, copy_archive, run_guarded
from core.jsonio import read_json, read_jsonl, sha256_file
from core.model import DEFAULT_MODEL_DIR, load_tokenizer, resolve_model_dir
from prep.build_dataset import OUTPUTS, build
from prep.config import PrepConfig
from core.config import load

META_KEYS = {"article_id", "chunk_id", "chunk_index", "chunk_tokens", "completion_tokens", "date", "lang",
             "prompt_tokens", "short_chunk", "split", "template", "title", "year"}


@pytest.fixture(scope="module")
def rows(sft_data):
    return read_jsonl(sft_data / "sft_train.jsonl"), read_jsonl(sft_data / "sft_val.jsonl")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(resolve_model_dir(DEFAULT_MODEL_DIR))


def target(row):
    return row["completion"][0]["content"]


def test_rows_are_trl_prompt_completion(rows):
    train, val = rows
    assert len(train) > 150 and len(val) > 10   # 108 chunks x 2 templates with the bundled model
    for row in train + val:
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert [m["role"] for m in row["completion"]] == ["assistant"]
        assert META_KEYS <= set(row["meta"])
        assert row["meta"]["template"] in ("continue", "expand", "rewrite")
        assert target(row).strip()


def test_split_is_by_article_and_leak_free(rows, sft_data):
    train, val = rows
    train_articles = {r["meta"]["article_id"] for r in train}
    val_articles = {r["meta"]["article_id"] for r in val}
    assert train_articles and val_articles and not train_articles & val_articles
    # Whole chunks, prefix included, checked here by brute force (independent of prep.split's hashing).
    chunks = read_jsonl(sft_data / "chunks.jsonl")
    train_texts = [c["text"] for c in chunks if c["split"] == "train"]
    train_spans = {t[i:i + 50] for t in train_texts for i in range(len(t) - 49)}
    for chunk in (c for c in chunks if c["split"] == "val"):
        text = chunk["text"]
        assert not any(text in t for t in train_texts)
        assert not any(text[i:i + 50] in train_spans for i in range(len(text) - 49))
    assert len(val_articles) == 10   # split.val_min_articles: 15 % of 40 would be 6


def test_rows_are_pieces_of_their_chunks_exact_text(rows, sft_data):
    """chunks.jsonl holds each chunk's exact text; every row's prefix and target are pieces of it, and an
    expand row's target is all of it (paragraph breaks included)."""
    chunks = {c["chunk_id"]: c for c in read_jsonl(sft_data / "chunks.jsonl")}
    train, val = rows
    assert {r["meta"]["chunk_id"] for r in train + val} <= set(chunks)
    assert any("\n\n" in c["text"] for c in chunks.values())
    for row in train + val:
        chunk = chunks[row["meta"]["chunk_id"]]
        assert chunk["split"] == row["meta"]["split"] and chunk["article_id"] == row["meta"]["article_id"]
        if row["meta"]["template"] == "expand":
            assert target(row) == chunk["text"]
        else:
            prefix = row["meta"]["prefix"]
            assert chunk["text"].startswith(prefix) and target(row) in chunk["text"][len(prefix):]
            assert chunk["text"] != prefix + target(row) or not chunk["text"][len(prefix)].isspace()


def test_a_leak_inside_a_continue_prefix_drops_the_whole_validation_chunk(tmp_path):
    """A validation article whose opening (the part a continue prompt shows) repeats a training article's
    sentence: the target alone is clean, so only a check of whole chunks catches it."""
    from prep.split import validation_articles
    cfg = load(PrepConfig, None, ["paraphrase.max_chunks=0", "split.val_min_articles=0", "split.val_fraction=0.5"])
    names = sorted(p.parent.name for p in SAMPLE_ARCHIVE.rglob("*.md") if p.parent.name[:4].isdigit())[:6]
    archive = copy_archive(SAMPLE_ARCHIVE, tmp_path / "archive")
    for path in list(archive.rglob("*.md")):
        if path.parent.name not in names:
            path.unlink()
    ids = {f"鲁迅/{n[:4]}/{n}": n for n in names}
    val = validation_articles([(i, None) for i in ids], "hash", 0.5, 0, cfg.seed)
    donor = next(i for i in sorted(ids) if i not in val)
    victim = next(i for i in sorted(ids) if i in val)
    quote = "我们这里的一句话，原是他的文章里抄来的，一字不改，足足有六十多个字，放在开头，当作引子用，请读者不要见怪，这是一个测试。"
    for article_id, first in ((donor, False), (victim, True)):
        path = next(archive.rglob(f"{ids[article_id]}.md"))
        text = path.read_text(encoding="utf-8")
        body_at = text.index("\n---\n", 4) + 5 if text.startswith("---") else 0
        path.write_text(text[:body_at] + f"\n{quote}\n\n" + text[body_at:] if first
                        else text + f"\n\n{quote}\n", encoding="utf-8")
    stats = build(archive, tmp_path / "out", cfg)
    chunks = read_jsonl(tmp_path / "out" / "chunks.jsonl")
    dropped = [c for c in stats["leak_check"]["dropped"] if c.startswith(victim + "#")]
    assert dropped == [f"{victim}#0"]
    assert all(c["chunk_id"] != f"{victim}#0" for c in chunks)
    rows = read_jsonl(tmp_path / "out" / "sft_val.jsonl")
    assert all(r["meta"]["chunk_id"] != f"{victim}#0" for r in rows)
    assert any(r["meta"]["article_id"] == victim for r in rows)   # only the leaking chunk goes


def test_token_counts_are_real_and_bounded(rows, tokenizer, sft_data):
    train, val = rows
    for row in (train + val)[::7]:
        meta = row["meta"]
        assert len(tokenizer(target(row), add_special_tokens=False)["input_ids"]) == meta["completion_tokens"]
        rendered = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        assert len(tokenizer(rendered, add_special_tokens=False)["input_ids"]) == meta["prompt_tokens"]
    chunks = read_jsonl(sft_data / "chunks.jsonl")
    counted = [len(ids) for ids in tokenizer([c["text"] for c in chunks], add_special_tokens=False)["input_ids"]]
    assert [c["tokens"] for c in chunks] == counted and max(counted) <= 800
    # short_chunk marks exactly the chunks under chunk.min_tokens (the bundled essays give none: the messy
    # archive of test_prep_bad_inputs.py has one, checked there the same way)
    assert all(r["meta"]["short_chunk"] == (r["meta"]["chunk_tokens"] < 300) for r in train + val)


def test_template_invariants(rows):
    train, val = rows
    chunks = {r["meta"]["chunk_id"]: target(r) for r in train + val if r["meta"]["template"] == "expand"}
    continues = [r for r in train + val if r["meta"]["template"] == "continue"]
    assert continues
    for row in continues:
        user = row["prompt"][1]["content"]
        prefix = row["meta"]["prefix"]
        assert target(row) not in user, "continue target inside its own prompt"
        assert prefix in user and not prefix.endswith(target(row)[:10])
        chunk = chunks[row["meta"]["chunk_id"]]
        assert chunk.startswith(prefix) and chunk.endswith(target(row))
        share = len(prefix) / len(chunk)
        assert 0.28 <= share <= 0.5, share
    for row in train + val:
        if row["meta"]["template"] == "rewrite":
            assert row["prompt"][1]["content"] != target(row)


def test_stats_account_for_every_kept_chunk(sft_data):
    """Every kept chunk gives a continue row or is counted under the reason it gives none, and an expand row;
    chunks.jsonl holds exactly the kept chunks, none of the ones the leak check dropped."""
    stats = read_json(sft_data / "dataset_stats.json")
    chunks = read_jsonl(sft_data / "chunks.jsonl")
    per_template, templates = stats["rows"]["per_template"], stats["templates"]
    continues = per_template["train"]["continue"] + per_template["val"]["continue"]
    assert stats["chunks"]["kept"] == len(chunks) == continues + templates["continue_no_sentence_boundary_in_range"] \
        + templates["continue_target_inside_prompt_skipped"]
    assert per_template["train"]["expand"] + per_template["val"]["expand"] == len(chunks)
    assert not {c["chunk_id"] for c in chunks} & set(stats["leak_check"]["dropped"])
    assert stats["chunks"]["built"] == len(chunks) + stats["chunks"]["near_duplicates_removed"] \
        + stats["leak_check"]["val_chunks_dropped_for_overlap"]


def test_stats_and_manifest(sft_data):
    stats = read_json(sft_data / "dataset_stats.json")
    assert stats["articles"]["used"] == 40
    assert stats["articles"]["skipped_by_reason"] == {"index_page": 1}   # the archive's README.md
    assert stats["rows"]["train"] > 0 and set(stats["by_year"]) >= {"1907", "1925", "1934"}
    manifest = read_json(sft_data / "manifest.json")
    assert manifest["outputs"] == {name: sha256_file(sft_data / name) for name in OUTPUTS}
    assert len(manifest["inputs"]) == 80   # 40 .md + 40 meta.json
    assert manifest["tokenizer"]["fingerprint"] and manifest["seed"] == 1234
    assert set(manifest["environment"]["git"]) == {"commit", "dirty"}
    assert not list(sft_data.glob(".*.tmp")), "temporary files left behind"


def test_byte_identical_under_file_order_and_worker_count(tmp_path):
    """The same archive copied in opposite file orders, built with 1 and 2 workers, gives the same bytes."""
    source = REPO / "corpora" / "luxun-archive" / "鲁迅" / "1934"
    forward = copy_archive(source, tmp_path / "a" / "鲁迅" / "1934")
    backward = copy_archive(source, tmp_path / "b" / "鲁迅" / "1934", reverse=True)
    outputs = []
    for archive, workers in ((forward.parent.parent, 1), (backward.parent.parent, 2)):
        cfg = load(PrepConfig, None, ["paraphrase.max_chunks=0", f"workers={workers}"])
        out = tmp_path / f"out{workers}"
        build(archive, out, cfg)
        outputs.append(out)
    for name in OUTPUTS:
        assert filecmp.cmp(outputs[0] / name, outputs[1] / name, shallow=False), name


@pytest.mark.slow
def test_kill_9_mid_run_then_same_command_gives_the_uninterrupted_bytes(sft_data, tmp_path):
    """kill -9 of the whole process group (main process and its workers) while it chunks; a temp file as a
    kill during a write leaves it; then the same command completes with the bytes of an uninterrupted run."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "prep.build_dataset", "--archive", str(SAMPLE_ARCHIVE), "--out", str(out),
               "--set", "paraphrase.max_chunks=0"]   # the command sft_data ran, to another folder
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    seen, deadline = b"", time.time() + 300
    while b"chunking" not in seen:
        assert process.poll() is None and time.time() < deadline, seen[-2000:]
        seen += os.read(process.stderr.fileno(), 4096)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "manifest.json").exists()
    out.mkdir(exist_ok=True)
    (out / ".sft_train.jsonl.x1y2z3.tmp").write_text('{"half": "a row', encoding="utf-8")

    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    for name in OUTPUTS:
        assert filecmp.cmp(sft_data / name, out / name, shallow=False), name
    assert read_json(out / "manifest.json")["outputs"] == read_json(sft_data / "manifest.json")["outputs"]
    assert not list(out.glob(".*.tmp"))


def test_cli_opens_no_socket(tmp_path):
    archive = copy_archive(REPO / "corpora" / "luxun-archive" / "鲁迅" / "1934", tmp_path / "arch" / "a")
    result, attempts = run_guarded(["-m", "prep.build_dataset", "--archive", str(archive.parent), "--out",
                                    str(tmp_path / "out"), "--set", "paraphrase.max_chunks=0"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert attempts == []
    assert "leak check: 0 val chunks in train" in result.stdout


def test_config_errors_name_the_key(tmp_path):
    result, _ = run_guarded(["-m", "prep.build_dataset", "--archive", "corpora/luxun-archive", "--out",
                             str(tmp_path), "--set", "chunk.max_tokns=500"], tmp_path)
    assert result.returncode == 2
    assert "unknown key 'chunk.max_tokns'; did you mean 'chunk.max_tokens'?" in result.stderr
    bad_yaml = tmp_path / "c.yaml"
    bad_yaml.write_text("split:\n  val_fraction: 2\n", encoding="utf-8")
    result, _ = run_guarded(["-m", "prep.build_dataset", "--archive", "corpora/luxun-archive", "--out",
                             str(tmp_path), "--config", str(bad_yaml)], tmp_path)
    assert result.returncode == 2 and "split.val_fraction" in result.stderr and "maximum" in result.stderr
