"""`make eval` end to end on a tiny config: the CLI runs with every socket blocked (and missing CJK glyphs
as errors), writes the documented outputs, and a second run with the same seed gives byte-identical
generations.jsonl and metrics.json."""
import shutil
import subprocess
import sys

import pytest

from core.jsonio import read_json, read_jsonl
from conftest import attempted_connections, guarded_env
from core.manifest import REPO_ROOT
from test_eval_fixtures import reference_data, tiny_data, tiny_run  # noqa: F401 (fixtures)

TINY = ["seed=7", "bootstrap_resamples=200", "perplexity.max_articles=1", "perplexity.reference_max_articles=2",
        "guard.control_passages=16", "perplexity.window=384",
        "perplexity.stride=192", "generation.num_prompts=4", "generation.max_new_tokens=8", "fewshot.k=1",
        "fewshot.passage_chars=60", "stylometry.mfw_count=20", "attribution.folds=2", "attribution.passage_chars=60"]
def run_eval(run, data, reference, home, socket_log):
    # A fresh HOME: no user cache or config can feed the run. Missing CJK glyphs in a figure fail it.
    env = guarded_env(socket_log, HOME=str(home), NETGUARD_WARNINGS_AS_ERRORS=".*missing from font")
    done = subprocess.run([sys.executable, "-m", "eval.run", "--run", str(run), "--data", str(data),
                           "--config", str(REPO_ROOT / "eval" / "eval.yaml"), "--reference", str(reference),
                           "--set", *TINY], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_eval_runs_offline_and_reproducibly(tiny_data, reference_data, tiny_run, tmp_path):
    socket_log = tmp_path / "netguard.log"
    out = tiny_run / "eval"
    run_eval(tiny_run, tiny_data, reference_data, tmp_path, socket_log)
    assert attempted_connections(socket_log) == []
    first = {name: (out / name).read_bytes() for name in ("generations.jsonl", "metrics.json")}
    shutil.rmtree(out)
    run_eval(tiny_run, tiny_data, reference_data, tmp_path, socket_log)
    assert {name: (out / name).read_bytes() for name in first} == first

    metrics = read_json(out / "metrics.json")
    assert list(metrics) == sorted(metrics)
    ppl = metrics["perplexity"]
    assert ppl["author_heldout"]["articles"] == 1 and ppl["reference"]["articles"] == 2
    assert ppl["author_heldout"]["base"]["perplexity"] != ppl["author_heldout"]["adapter"]["perplexity"]
    gain = ppl["author_specific_gain"]
    assert gain["difference_in_relative_change"]["estimate"] == pytest.approx(
        gain["author_relative_change"] - gain["reference_relative_change"], rel=1e-4)
    assert set(metrics["stylometry"]["groups"]) == {"author_heldout", "reference", "base", "adapter", "fewshot"}
    # The guard: the real held-out control passes, the shuffled one is flagged and never the author's; the
    # untrained adapter writes foreign-script gibberish and is flagged, so its comparisons are not interpretable.
    guard = metrics["guard"]
    assert not guard["controls"]["author_heldout"]["flagged"] and guard["controls"]["shuffled_author"]["flagged"]
    assert guard["systems"]["adapter"]["flagged"] and guard["systems"]["adapter"]["by_reason"]["foreign_script"]
    assert not metrics["stylometry"]["comparisons"]["adapter_vs_base"]["cosine_delta"]["interpretable"]
    for name, classifier in metrics["attribution"]["classifiers"].items():
        assert classifier["heldout_author"]["n"] > 0 and classifier["heldout_reference"]["n"] > 0, name
        assert classifier["controls"]["shuffled_author"]["attributed_to_author"] == 0, name
        assert classifier["systems"]["adapter"]["attributed_to_author"] == 0, name
    assert set(metrics["attribution"]["classifiers"]) == {"char_ngram", "topic_masked"}
    assert set(metrics["copying"]["systems"]) == {"base", "adapter", "fewshot"}
    assert metrics["ab"]["sheets"]["ab"]["n_items"] == 4
    rows = read_jsonl(out / "generations.jsonl")
    assert [set(r["outputs"]) for r in rows if "outputs" in r] == [{"base", "adapter", "fewshot"}] * 4
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    assert "\\toprule" in tex and "\\bottomrule" in tex
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and 'alt="training curves"' in html
    assert 'alt="Cosine Delta dendrogram"' in html and 'alt="MFW PCA"' in html
    assert html.index("Samples: read these first") < html.index("Perplexity of base")
    assert "adapter: its outputs fail the degenerate-text guard" in html and "not interpretable" in html
    assert all((out / "figures" / name).is_file() for name in ("training_curves.png", "mfw_pca.png", "delta_dendrogram.png"))
    manifest = read_json(out / "manifest.json")
    assert manifest["stage"] == "eval" and "adapter/adapter_model.safetensors" in manifest["inputs"]
    assert manifest["outputs"]["metrics.json"]
    assert (out / "ab" / "key.json").is_file()
