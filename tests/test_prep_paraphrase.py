"""Paraphrases for the rewrite template: every rejection reason on constructed cases (with a faithful
paraphrase that must pass), and the whole path with the bundled model: generated, checked, turned into
rewrite rows whose prompt holds the paraphrase and whose target is the original chunk, and cached by batch,
so a rerun generates nothing and gives the same bytes."""
import pytest

from conftest import REPO, copy_archive
from core.config import load
from core.jsonio import read_json, read_jsonl
from prep.build_dataset import OUTPUTS, build
from prep.config import PrepConfig
from core.generation_cache import GenerationCache
from prep.paraphrase import Limits, keyword_recall, max_new_tokens_for, rejection_reason
from prep.templates import keywords

ORIGINAL = ("我家的后面有一个很大的园，相传叫作百草园。现在是早已并屋子一起卖给朱文公的子孙了，连那最末次的相见也已经隔了"
            "七八年，其中似乎确凿只有一些野草；但那时却是我的乐园。")
# Same content, other words: keeps 百草园, 朱文公, 子孙, 野草, 乐园 ...
FAITHFUL = ("我家屋后曾有一座很大的园子，人们都说它叫百草园。如今它连同房子早就卖给了朱文公的子孙，我最后一次见它也已是七八年前的事，"
            "那里好像只长着些野草；可在当年，那是我的乐园。")
LIMITS = Limits(min_length_ratio=0.6, max_length_ratio=1.4, min_keyword_recall=0.5, max_jaccard=0.5)


def reason(paraphrase: str, ended: bool = True) -> str | None:
    return rejection_reason(ORIGINAL, paraphrase, ended, keywords(ORIGINAL, 10), LIMITS)


def test_a_faithful_paraphrase_passes():
    assert keyword_recall(keywords(ORIGINAL, 10), FAITHFUL) >= 0.5
    assert reason(FAITHFUL) is None


def test_every_rejection_reason():
    assert reason("   ") == "empty"
    assert reason(FAITHFUL, ended=False) == "truncated"
    assert reason("Behind my house there was a large garden called the Hundred Grass Garden, now sold.") == "wrong_language"
    assert reason(FAITHFUL[:40]) == "too_short"
    assert reason(FAITHFUL + FAITHFUL) == "too_long"
    # fluent, the right length, but about something else
    assert reason("今天天气很好，我们一起去公园散步，看见湖边有很多人在钓鱼，孩子们在草地上放风筝，老人们坐在长椅上聊天，"
                  "远处传来了悠扬的歌声，大家都觉得这个周末过得非常愉快。") == "lost_content"
    assert reason(ORIGINAL.replace("很大", "巨大")) == "copies_original"


def test_generation_budget_follows_the_chunk():
    assert max_new_tokens_for(100, 1.5) == 166 and max_new_tokens_for(600, 1.5) == 916


@pytest.mark.slow
def test_paraphrases_become_rewrite_rows_and_are_cached(tmp_path):
    archive = copy_archive(REPO / "corpora" / "luxun-archive" / "鲁迅" / "1934", tmp_path / "archive" / "鲁迅" / "1934")
    out = tmp_path / "out"
    # Small chunks and budget keep generation short; loose filters let some paraphrases through to become rows.
    cfg = load(PrepConfig, None, ["templates.enabled=[continue,expand,rewrite]", "paraphrase.max_chunks=3",
                                  "paraphrase.batch_size=2", "paraphrase.max_new_tokens_ratio=1.0",
                                  "chunk.min_tokens=30", "chunk.max_tokens=48", "paraphrase.min_length_ratio=0.0",
                                  "paraphrase.min_keyword_recall=0.0", "paraphrase.max_jaccard=1.0", "workers=1"])
    first = build(archive.parent.parent, out, cfg)["templates"]["paraphrase"]
    assert first["requested"] == 3
    assert first["accepted"] + sum(n for k, n in first.items() if k.startswith("rejected_")) == 3
    assert first["acceptance_rate"] == round(first["accepted"] / 3, 4)
    assert read_json(out / "manifest.json")["paraphrase_cache"] == {"generated": 3, "from_cache": 0}

    cache = read_json(out / "cache" / "paraphrases.json")
    assert len(cache) == 3 and all(set(entry) == {"text", "ended"} for entry in cache.values())
    rows = read_jsonl(out / "sft_train.jsonl") + read_jsonl(out / "sft_val.jsonl")
    rewrites = [r for r in rows if r["meta"]["template"] == "rewrite"]
    assert len(rewrites) == first["accepted"]
    paraphrases = {entry["text"] for entry in cache.values()}
    for row in rewrites:
        assert any(p in row["prompt"][1]["content"] for p in paraphrases)   # the question holds a paraphrase
        assert row["completion"][0]["content"] not in row["prompt"][1]["content"]  # never the answer itself

    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    build(archive.parent.parent, out, cfg)
    assert read_json(out / "manifest.json")["paraphrase_cache"] == {"generated": 0, "from_cache": 3}
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before


def test_cache_key_covers_the_batch_and_the_salt(tmp_path):
    cache = GenerationCache(tmp_path / "cache.json", salt="weights-a")
    replies = [{"text": "一", "ended": True}, {"text": "二", "ended": False}]
    cache.put(7, ["甲", "甲"], replies)      # the same text twice keeps both replies, by position
    assert cache.get(7, ["甲", "甲"]) == replies
    assert cache.get(7, ["甲"]) is None and cache.get(7, ["乙", "甲"]) is None       # other companions
    assert cache.get(8, ["甲", "甲"]) is None                                        # another seed (position)
    assert GenerationCache(tmp_path / "cache.json", salt="weights-b").get(7, ["甲", "甲"]) is None
    assert GenerationCache(tmp_path / "cache.json", salt="weights-a").get(7, ["甲", "甲"]) == replies  # reloaded


def test_cpu_default_leaves_rewrite_off_and_gpu_data_profiles_turn_it_on():
    from core.manifest import REPO_ROOT

    assert "rewrite" not in load(PrepConfig, REPO_ROOT / "prep" / "config.yaml", []).templates.enabled
    profiles = sorted((REPO_ROOT / "prep" / "profiles").glob("*.yaml"))
    assert profiles
    for path in profiles:
        cfg = load(PrepConfig, path, [])
        assert "rewrite" in cfg.templates.enabled and cfg.paraphrase.max_chunks > 0
        # the data profile counts tokens with the tokenizer of the train profile of the same name
        train = (REPO_ROOT / "train" / "profiles" / path.name).read_text(encoding="utf-8")
        assert f"base_model: {cfg.base_model}" in train
