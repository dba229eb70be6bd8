"""Style learning beyond SFT: preference pairs from the author's archive (train/pairs.py), stage dpo and stage
cpt of the training recipe, and the checkpoint chosen by style (train/selection.py). Real Lu Xun paragraphs
(the tiny data of test_train_run), real Zhu Ziqing prose as text the author did not write, the bundled model."""
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.chunks import read_chunks
from core.copying import TrainingText
from core.generate import Reply
from core.jsonio import read_json, read_jsonl, sha256_file, sha256_tree, write_json, write_jsonl
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR
from core.pairs import check_pair, read_pairs
from core.rows import read_rows
from core.text import complete_sentences
from test_train_run import TINY, build_tiny_data, run_train
from train.config import PairsConfig
from train.pairs import chosen_rows, make_pair, matched_cut

ZHU = REPO_ROOT / "corpora" / "zhuziqing-archive"
LOOP = "再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想，再想。"


def zhu_prose() -> str:
    """The body of a Zhu Ziqing essay: fluent Chinese that the author of the tiny data did not write."""
    path = next(ZHU.glob("朱自清/*/*_背影/*.md"))
    body = path.read_text(encoding="utf-8").split("---", 2)[-1]
    return "".join(p.strip() for p in re.split(r"\n\s*\n", body) if p.strip() and not p.startswith("!"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return build_tiny_data(tmp_path_factory.mktemp("stage_data"))


def continue_rows(data: Path, split: str) -> list[dict]:
    return [r for r in read_rows(data, split) if r["meta"]["template"] == "continue"]


def test_matched_cut_ends_both_texts_at_sentences_of_one_length(data):
    tolerance, cuts = 0.15, []
    for row in continue_rows(data, "train"):
        real = row["completion"][0]["content"]
        chosen, rejected = matched_cut(real, zhu_prose(), tolerance)
        if not chosen:
            continue
        cuts.append((real, chosen))
        assert real.startswith(chosen) and zhu_prose().startswith(rejected)
        assert complete_sentences(chosen) == chosen and complete_sentences(rejected) == rejected
        assert abs(len(chosen) - len(rejected)) <= tolerance * min(len(chosen), len(rejected))
    assert len(cuts) >= 8
    assert sum(len(chosen) for _, chosen in cuts) >= 0.6 * sum(len(real) for real, _ in cuts)   # not whittled away
    # No cut: the only sentence of one text is longer than the whole other one.
    assert matched_cut("一二三四五。", "甲乙丙丁戊己庚。", 0.0) == ("", "")
    assert matched_cut("一二三四五。六。七八。", "甲乙丙丁戊己庚。", 0.0) == ("一二三四五。六。", "甲乙丙丁戊己庚。")


def test_make_pair_keeps_text_the_author_did_not_write_and_drops_the_authors_own(data):
    cfg = PairsConfig()
    chunks = read_chunks(data)
    author = TrainingText([c.text for c in chunks])
    row = next(r for r in continue_rows(data, "train") if matched_cut(r["completion"][0]["content"], zhu_prose(),
                                                                      cfg.length_tolerance)[0])
    real = row["completion"][0]["content"]
    pair, reason = make_pair(row, Reply(zhu_prose(), True), author, "adapter", cfg)
    assert reason == "kept" and check_pair(pair, "train")
    chosen, rejected = pair["chosen"][0]["content"], pair["rejected"][0]["content"]
    assert real.startswith(chosen) and zhu_prose().startswith(rejected) and chosen != rejected
    assert pair["prompt"] == row["prompt"] and pair["meta"]["chosen_chars"] == len(chosen)
    # The author's own words are never the rejected text: an echoed opening, the real continuation itself,
    # another of the author's chunks (a model reciting the author from memory).
    other_chunk = next(c.text for c in chunks if c.article_id != row["meta"]["article_id"])
    for own in (row["meta"]["prefix"], real, other_chunk):
        assert make_pair(row, Reply(own, True), author, "adapter", cfg) == (None, "rejected_copies_author")
    assert make_pair(row, Reply("这是一段没有说完的话", False), author, "adapter", cfg) == (None, "rejected_unfinished")
    assert make_pair(row, Reply("好。", True), author, "adapter", cfg)[1] in ("too_short", "no_common_cut")


def test_rows_are_chosen_by_seed_within_their_split(data):
    val_articles = {c.article_id for c in read_chunks(data) if c.split == "val"}
    train = chosen_rows(data, "train", 100, seed=1)
    val = chosen_rows(data, "val", 100, seed=1)
    assert train and val
    assert not {r["meta"]["article_id"] for r in train} & val_articles
    assert {r["meta"]["article_id"] for r in val} <= val_articles
    assert chosen_rows(data, "train", 5, seed=1) == train[:5]
    assert [r["meta"]["chunk_id"] for r in chosen_rows(data, "train", 100, seed=2)] != [
        r["meta"]["chunk_id"] for r in train]   # control: the seed decides the choice


def test_pair_contract_refuses_what_dpo_must_not_train_on(data):
    made = (make_pair(row, Reply(zhu_prose(), True), TrainingText([]), "adapter", PairsConfig())[0]
            for row in continue_rows(data, "train"))
    pair = next(pair for pair in made if pair)
    assert check_pair(pair, "train")
    assert not check_pair(pair, "val")
    assert not check_pair({**pair, "rejected": pair["chosen"]}, "train")
    assert not check_pair({**pair, "chosen": [{"role": "assistant", "content": ""}]}, "train")
    assert not check_pair({**pair, "extra": 1}, "train")


def test_style_score_ranks_real_prose_above_loops_and_echoes(data):
    from train.selection import WORST_SCORE, StyleProbe

    probe = StyleProbe.from_data(data, prompts=2, seed=3)
    held_out = [c.text for c in read_chunks(data) if c.split == "val"][:2]
    real = probe.score(held_out)
    assert real["eval_style_failing"] == 0 and real["eval_style_score"] < WORST_SCORE
    assert probe.score([LOOP, LOOP])["eval_style_score"] >= WORST_SCORE
    echoes = [conversation[-1]["content"] for conversation in probe.conversations]
    assert probe.score(echoes)["eval_style_reasons"] == {"echoes_prompt": 2}
    # One failing text of two is over the guard's limit; fewer failures rank first among failing steps.
    assert WORST_SCORE <= probe.score([held_out[0], LOOP])["eval_style_score"] < probe.score([LOOP, LOOP])["eval_style_score"]


def test_checkpoint_selection_keeps_the_step_the_score_says(data, tmp_path, monkeypatch):
    """A real (tiny, unquantised) training run whose style score is scripted per evaluation: the adapter left in
    the run is the one of the best-scoring step, although save_total_limit=2 would have rotated it away."""
    from safetensors.torch import load_file

    from train import selection, sft

    scores = iter([0.31, 2.4, 0.77])
    monkeypatch.setattr(selection.StyleProbe, "score", lambda self, outputs: {
        "eval_style_score": next(scores), "eval_style_failing": 0, "eval_style_reasons": {}})
    run = tmp_path / "run"
    args = sft.parse_args(["--data", str(data), "--run", str(run), "--set", *TINY, "max_steps=3", "eval_steps=1",
                           "save_steps=1", "save_total_limit=2", "load_in_4bit=false", "select_checkpoint=style",
                           "style_prompts=1", "style_max_new_tokens=8"])
    cfg, model_dir = sft.prepare(args)
    manifest = sft.train(cfg, model_dir, args)
    assert manifest["selection"]["chosen_step"] == 1 and manifest["selection"]["by"] == "style"
    assert [e["eval_style_score"] for e in manifest["selection"]["evaluated"]] == [0.31, 2.4, 0.77]
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-3"]
    adapter = load_file(run / "adapter" / "adapter_model.safetensors")
    best = load_file(run / "checkpoints" / "checkpoint-1" / "adapter_model.safetensors")
    last = load_file(run / "checkpoints" / "checkpoint-3" / "adapter_model.safetensors")
    assert all((adapter[k] == best[k]).all() for k in best)
    assert any((adapter[k] != last[k]).any() for k in last)   # control: the last step is another adapter
    assert [r["eval_style_score"] for r in read_jsonl(run / "train_log.jsonl") if "eval_style_score" in r] == [
        0.31, 2.4, 0.77]
    # Killed after its final checkpoint, before adapter/ was written: the same command finishes the run with
    # the best step's adapter, scoring and training nothing (the scripted scores are used up).
    shutil.rmtree(run / "adapter")
    assert sft.train(cfg, model_dir, args)["selection"]["chosen_step"] == 1
    finished = load_file(run / "adapter" / "adapter_model.safetensors")
    assert all((finished[k] == adapter[k]).all() for k in adapter)
    # Scoring generates with the model mid-training; it must not change what is trained: the style run's last
    # step is the adapter a run without selection ends with.
    plain = tmp_path / "plain"
    args = sft.parse_args(["--data", str(data), "--run", str(plain), "--set", *TINY, "max_steps=3", "eval_steps=1",
                           "save_steps=1", "load_in_4bit=false"])
    sft.train(*sft.prepare(args), args)
    plain_adapter = load_file(plain / "adapter" / "adapter_model.safetensors")
    assert all((plain_adapter[k] == last[k]).all() for k in last)


def test_cpt_learns_every_token_of_the_raw_text_without_a_chat_template(data, tmp_path):
    from train import sft

    args = sft.parse_args(["--config", "train/lora_cpt.yaml", "--data", str(data), "--run", str(tmp_path / "run"),
                           "--set", *TINY, "max_length=1024", "load_in_4bit=false"])
    cfg, model_dir = sft.prepare(args)
    trainer = sft.build_trainer(cfg, model_dir, args)
    tokenizer = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    labels, ids = batch["labels"], batch["input_ids"]
    learned = labels != -100
    # Every token is learned but the first of each packed text, which has nothing before it to predict it from.
    assert int((~learned).sum()) == sum(1 for c in read_chunks(data) if c.split == "train")
    assert bool((labels[learned] == ids[learned]).all())
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") not in ids.tolist()[0]
    text = "".join(c.text for c in read_chunks(data) if c.split == "train")
    assert tokenizer.decode(ids[0][:20]) in text   # packed raw chunk text, as written


def dpo_pairs(data: Path, run: Path) -> Path:
    """Pairs in `make pairs`' format for `run`, without a generation: the author's continuation over Zhu
    Ziqing's prose."""
    out = run / "pairs"
    author = TrainingText([c.text for c in read_chunks(data)])
    for split in ("train", "val"):
        made = [make_pair(row, Reply(zhu_prose()[i * 40:], True), author, "test", PairsConfig(min_chars=10))
                for i, row in enumerate(continue_rows(data, split))]
        write_jsonl(out / f"pairs_{split}.jsonl", [pair for pair, _ in made if pair])
    write_json(out / "manifest.json", {"tokenizer": read_json(data / "manifest.json")["tokenizer"],
                                       "adapter_sha256": sha256_tree(run / "adapter"),
                                       "data": {"manifest_sha256": sha256_file(data / "manifest.json")}})
    return out


DPO = ["max_length=512", "per_device_batch_size=1", "gradient_accumulation_steps=1", "load_in_4bit=false"]


@pytest.mark.slow
def test_dpo_from_the_sft_adapter_reproducible_and_resumable(data, tmp_path):
    sft_run = tmp_path / "sft"
    run_train(data, sft_run, "max_steps=1", "load_in_4bit=false")
    pairs = dpo_pairs(data, sft_run)
    assert len(read_pairs(pairs, "train")) >= 4
    start = [f"init_adapter={sft_run / 'adapter'}", *DPO]
    from train import sft

    stale = sft.parse_args(["--config", "train/lora_dpo.yaml", "--data", str(data), "--run", str(tmp_path / "x"),
                            "--set", *TINY, *start])
    write_json(pairs / "manifest.json", {**read_json(pairs / "manifest.json"), "adapter_sha256": "0" * 64})
    with pytest.raises(Exception, match="another adapter"):   # pairs of an adapter retrained since are refused
        sft.prepare(stale)
    dpo_pairs(data, sft_run)

    # QLoRA: TRL rounds the trainable LoRA weights of a 4-bit model to bf16 after copying its reference; both
    # must still start as the SFT adapter's exact weights.
    from safetensors.torch import load_file

    quantised = sft.parse_args(["--config", "train/lora_dpo.yaml", "--data", str(data), "--run", str(tmp_path / "q"),
                                "--set", *TINY, f"init_adapter={sft_run / 'adapter'}", "load_in_4bit=true"])
    parameters = dict(sft.build_trainer(*sft.prepare(quantised), quantised).model.named_parameters())
    for name, weight in load_file(sft_run / "adapter" / "adapter_model.safetensors").items():
        for adapter in ("default", "ref"):
            assert bool((parameters[name.replace(".weight", f".{adapter}.weight")] == weight).all()), (name, adapter)
    runs = [tmp_path / "a", tmp_path / "b"]
    processes = [run_train(data, run, *start, wait=False, config="train/lora_dpo.yaml") for run in runs]
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
    assert sha256_tree(runs[0] / "adapter") == sha256_tree(runs[1] / "adapter")
    assert sha256_tree(runs[0] / "adapter") != sha256_tree(sft_run / "adapter")   # control: DPO moved it
    assert sorted(p.name for p in (runs[0] / "adapter").iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors"]   # not TRL's frozen "ref" copy
    manifest = read_json(runs[0] / "manifest.json")
    assert manifest["training_stage"] == "dpo" and manifest["pairs"]["dir"] == str(pairs)
    assert manifest["init_adapter"]["sha256"] == sha256_tree(sft_run / "adapter")
    first = read_jsonl(runs[0] / "train_log.jsonl")[0]
    # The reference is the starting adapter itself: at step 1 policy = reference, so the loss is log 2.
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-3)
    assert any("eval_rewards/accuracies" in r and "eval_perplexity" not in r for r in read_jsonl(
        runs[0] / "train_log.jsonl"))

    resumed = kill_after_first_checkpoint(data, tmp_path / "resumed", *start, config="train/lora_dpo.yaml")
    assert read_json(resumed / "manifest.json")["resumed_from_step"] == 1
    assert sha256_tree(resumed / "adapter") == sha256_tree(runs[0] / "adapter")


@pytest.mark.slow
def test_cpt_then_sft_reproducible_and_resumable(data, tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    processes = [run_train(data, run, "load_in_4bit=false", wait=False, config="train/lora_cpt.yaml")
                 for run in runs]
    for process in processes:
        output, _ = process.communicate(timeout=900)
        assert process.returncode == 0, output[-3000:]
    assert sha256_tree(runs[0] / "adapter") == sha256_tree(runs[1] / "adapter")
    assert read_json(runs[0] / "manifest.json")["training_stage"] == "cpt"
    resumed = kill_after_first_checkpoint(data, tmp_path / "resumed", "load_in_4bit=false",
                                          config="train/lora_cpt.yaml")
    assert sha256_tree(resumed / "adapter") == sha256_tree(runs[0] / "adapter")

    then_sft = tmp_path / "sft"
    run_train(data, then_sft, "load_in_4bit=false", f"init_adapter={runs[0] / 'adapter'}")
    manifest = read_json(then_sft / "manifest.json")
    assert manifest["training_stage"] == "sft" and manifest["init_adapter"]["dir"] == str(runs[0] / "adapter")
    fresh = tmp_path / "fresh"
    run_train(data, fresh, "load_in_4bit=false")
    assert sha256_tree(then_sft / "adapter") != sha256_tree(fresh / "adapter")   # it started from the CPT adapter


def kill_after_first_checkpoint(data: Path, run: Path, *overrides: str, config: str) -> Path:
    """Start a 2-step run that checkpoints every step, kill -9 it once checkpoint-1 is complete, then rerun the
    same command to the end."""
    from train.checkpoints import COMPLETE_MARKER

    steps = ["save_steps=1", "eval_steps=2"]
    process = run_train(data, run, *overrides, *steps, wait=False, config=config)
    deadline = time.time() + 600
    while not (run / "checkpoints" / "checkpoint-1" / COMPLETE_MARKER).exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    output = run_train(data, run, *overrides, *steps, config=config)
    assert re.search(r"resuming from .*checkpoint-1", output), output[-3000:]
    return run


@pytest.mark.slow
def test_make_pairs_end_to_end_then_from_the_cache(data, tmp_path):
    from run_fixtures import lora_run

    run = lora_run(tmp_path / "run", DEFAULT_MODEL_DIR)
    command = [sys.executable, "-m", "train.pairs", "--run", str(run), "--data", str(data), "--set",
               "max_train_pairs=4", "max_val_pairs=2", "max_new_tokens=64", "batch_size=4", "min_chars=10",
               "length_tolerance=0.5"]
    # This untrained adapter repeats the opening back (as the 4-step demo adapter does 25 times in 32): with
    # the default filter no pair survives, and the command says why instead of writing empty files.
    refused = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert refused.returncode != 0 and "no train pair survived" in refused.stderr, refused.stderr[-3000:]
    assert not (run / "pairs" / "pairs_train.jsonl").exists()
    # Keeping echoes as rejected texts (max_copy_share=1) exercises the rest: cuts, counts, contract, cache.
    command.append("max_copy_share=1.0")
    first = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    pairs, manifest = run / "pairs", read_json(run / "pairs" / "manifest.json")
    outputs = {name: (pairs / name).read_bytes() for name in ("pairs_train.jsonl", "pairs_val.jsonl")}
    assert manifest["generations"] == {"from_cache": 4, "generated": 2}   # the refused run stopped after train
    for split, count in manifest["counts"].items():
        kept = read_pairs(pairs, split)
        assert len(kept) == count["kept"] >= 1
        assert count["kept"] + sum(count["dropped"].values()) == count["rows"]
        real = {r["meta"]["chunk_id"]: r["completion"][0]["content"] for r in read_rows(data, split)}
        for pair in kept:
            assert real[pair["meta"]["chunk_id"]].startswith(pair["chosen"][0]["content"])
            assert pair["rejected"][0]["content"] != pair["chosen"][0]["content"]
    second = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert read_json(pairs / "manifest.json")["generations"] == {"from_cache": 6}
    assert {name: (pairs / name).read_bytes() for name in outputs} == outputs


def test_make_compare_runs_the_three_recipes_at_one_budget():
    plan = subprocess.run(["make", "-n", "-o", "setup", "-o", "data", "-o", "reference-data", "compare",
                           "COMPARE_DIR=/tmp/compare-plan", "COMPARE_STEPS=6"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout
    lines = [line for line in plan.splitlines() if " train " in line or " pairs " in line or " eval " in line]
    assert [re.sub(r"^.*?(train|pairs|eval) ", r"\1 ", line) for line in lines] == [
        'train STAGE=sft RUN=/tmp/compare-plan/sft SET="max_steps=6 "',
        'eval RUN=/tmp/compare-plan/sft SET=""',
        'train STAGE=sft RUN=/tmp/compare-plan/sft-half SET="max_steps=3 "',
        "pairs RUN=/tmp/compare-plan/sft-half SET=",
        'train STAGE=dpo FROM=/tmp/compare-plan/sft-half RUN=/tmp/compare-plan/sft-dpo SET="max_steps=3 "',
        'eval RUN=/tmp/compare-plan/sft-dpo SET=""',
        'train STAGE=cpt RUN=/tmp/compare-plan/cpt SET="max_steps=3 "',
        'train STAGE=sft FROM=/tmp/compare-plan/cpt RUN=/tmp/compare-plan/cpt-sft SET="max_steps=3 "',
        'eval RUN=/tmp/compare-plan/cpt-sft SET=""']
