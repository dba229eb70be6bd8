"""`make eval` end to end on a tiny config: the CLI runs with every socket blocked (and missing CJK glyphs
as errors), writes the documented outputs, and a second run with the same seed gives byte-identical
generations.jsonl and metrics.json."""
import shutil
import subprocess
import sys

from core.jsonio import read_json, read_jsonl
from conftest import attempted_connections, guarded_env
from core.manifest import REPO_ROOT
from test_eval_fixtures import reference_data, tiny_data, tiny_run  # noqa: F401 (fixtures)

TINY = ["seed=7", "bootstrap_resamples=200", "perplexity.max_articles=1", "perplexity.window=384",
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
    assert ppl["author_heldout"]["articles"] == 1 and ppl["reference"]["articles"] == 1
    assert ppl["author_heldout"]["base"]["perplexity"] != ppl["author_heldout"]["adapter"]["perplexity"]
    assert set(metrics["stylometry"]["groups"]) == {"author_heldout", "base", "adapter", "fewshot"}
    assert metrics["attribution"]["heldout_author"]["n"] > 0
    assert metrics["ab"]["sheets"]["ab"]["n_items"] == 4
    rows = read_jsonl(out / "generations.jsonl")
    assert [set(r["outputs"]) for r in rows if "outputs" in r] == [{"base", "adapter", "fewshot"}] * 4
    tex = (out / "tables.tex").read_text(encoding="utf-8")
    assert "\\toprule" in tex and "\\bottomrule" in tex
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and 'alt="training curves"' in html
    assert (out / "figures" / "training_curves.png").is_file()
    manifest = read_json(out / "manifest.json")
    assert manifest["stage"] == "eval" and "adapter/adapter_model.safetensors" in manifest["inputs"]
    assert manifest["outputs"]["metrics.json"]
    assert (out / "ab" / "key.json").is_file()
