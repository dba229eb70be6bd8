"""The rewrite template end to end with the bundled model: paraphrases are generated, checked, turned into
rewrite rows whose prompt holds the paraphrase and whose target is the original chunk, and cached, so a
rerun generates nothing and gives the same bytes."""
import pytest

from conftest import REPO, copy_archive
from core.config import load
from core.jsonio import read_json, read_jsonl
from prep.build_dataset import OUTPUTS, build
from prep.config import PrepConfig

SETTINGS = ["paraphrase.max_chunks=2", "paraphrase.max_new_tokens=32", "paraphrase.min_length_ratio=0.01",
            "workers=1"]


@pytest.mark.slow
def test_paraphrases_become_rewrite_rows_and_are_cached(tmp_path):
    archive = copy_archive(REPO / "corpora" / "luxun-archive" / "鲁迅" / "1934", tmp_path / "archive" / "鲁迅" / "1934")
    out = tmp_path / "out"
    cfg = load(PrepConfig, None, SETTINGS)
    first = build(archive.parent.parent, out, cfg)["templates"]["paraphrase"]
    assert first["requested"] == 2
    assert first["accepted"] + sum(n for k, n in first.items() if k.startswith("rejected_")) == 2
    assert read_json(out / "manifest.json")["paraphrase_cache"] == {"generated": 2, "from_cache": 0}

    cache = read_json(out / "cache" / "paraphrases.json")
    assert len(cache) == 2
    rows = read_jsonl(out / "sft_train.jsonl") + read_jsonl(out / "sft_val.jsonl")
    rewrites = [r for r in rows if r["meta"]["template"] == "rewrite"]
    assert len(rewrites) == first["accepted"]
    paraphrases = set(cache.values())
    for row in rewrites:
        assert any(p in row["prompt"][1]["content"] for p in paraphrases)   # the question holds a paraphrase
        assert row["completion"][0]["content"] not in row["prompt"][1]["content"]  # never the answer itself

    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    build(archive.parent.parent, out, cfg)
    assert read_json(out / "manifest.json")["paraphrase_cache"] == {"generated": 0, "from_cache": 2}
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == before
