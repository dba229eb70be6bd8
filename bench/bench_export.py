"""Export fidelity and cost for a trained run: `make export` at f16 and q8_0 (timed; f16 twice, to check the
bytes repeat), each GGUF read back by transformers and compared with the run's model (base + adapter by PEFT,
float32) on the run's held-out rows: next-token logits where the reply starts, and, teacher-forced over every
token of the held-out replies, the top-1 agreement and the logit differences. Also: does the GGUF's tokenizer
encode and decode those replies exactly as the run's. For scale, the same comparison for the model as trained
and evaluated (the 4-bit base + adapter, when the run trained QLoRA) and for the base without the adapter.
The numbers in docs/export.md come from here.

    python -m bench.bench_export --run outputs/demo [--rows 6]
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core import offline
from core.jsonio import read_jsonl, sha256_file
from core.manifest import REPO_ROOT


def export(run: Path, out: Path, quant: str) -> tuple[Path, float]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "train.export", "--run", str(run), "--quant", quant, "--out", str(out)],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    return next(out.glob("*.gguf")), time.perf_counter() - start


def logits_over(model, rows: list[tuple]) -> list:
    """Per held-out row: logits at every reply position (the first predicts the reply's first token)."""
    import torch

    with torch.no_grad():
        return [model(ids).logits[0, start - 1:-1].float() for ids, start in rows]


def compare(label: str, got: list, reference: list) -> None:
    import torch

    first = torch.stack([(g[0] - r[0]).abs().max() for g, r in zip(got, reference)])
    first_agree = sum(int(g[0].argmax() == r[0].argmax()) for g, r in zip(got, reference))
    diffs = torch.cat([(g - r).abs().max(dim=-1).values for g, r in zip(got, reference)])
    agree = torch.cat([g.argmax(-1) == r.argmax(-1) for g, r in zip(got, reference)]).float()
    print(f"  {label}: first reply token max |Δlogit| {first.max():.4f}, top-1 {first_agree}/{len(reference)}; "
          f"all {len(agree)} reply tokens: top-1 agreement {agree.mean():.2%}, max |Δlogit| per token median "
          f"{diffs.median():.4f}, max {diffs.max():.4f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="outputs/demo")
    parser.add_argument("--rows", type=int, default=6, help="held-out rows compared")
    args = parser.parse_args(argv)
    offline.enable()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.runs import load_run_model, read_run

    run = Path(args.run)
    manifest = read_run(run)
    model, tokenizer, _ = load_run_model(run, manifest, as_trained=False)
    val = read_jsonl(Path(manifest["data"]["dir"]) / "sft_val.jsonl")[:args.rows]
    rows = []
    for row in val:
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        rows.append((tokenizer(full, return_tensors="pt", add_special_tokens=False).input_ids,
                     len(tokenizer(prompt, add_special_tokens=False).input_ids)))
    reference = logits_over(model, rows)
    with model.disable_adapter():
        without_adapter = logits_over(model, rows)
    del model
    replies = [row["completion"][0]["content"] for row in val]
    print(f"run {run}: {len(rows)} held-out rows, {sum(r.shape[0] for r in reference)} reply tokens; reference: "
          "float32 base + adapter (PEFT)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        for quant in ("f16", "q8_0"):
            path, seconds = export(run, Path(tmp) / quant, quant)
            line = f"{quant}: {path.stat().st_size / 1e6:.0f} MB, export {seconds:.1f} s"
            if quant == "f16":
                again, _ = export(run, Path(tmp) / "f16-again", quant)
                line += f", rerun byte-identical: {sha256_file(again) == sha256_file(path)}"
            print(line, flush=True)
            reread = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            same = sum(reread(t, add_special_tokens=False).input_ids == tokenizer(t, add_special_tokens=False).input_ids
                       and reread.decode(tokenizer(t, add_special_tokens=False).input_ids) == t for t in replies)
            print(f"  tokenizer round trip: {same}/{len(replies)} held-out replies identical ids and text", flush=True)
            gguf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
            compare(f"{quant} GGUF read by transformers", logits_over(gguf, rows), reference)
            del gguf
    if manifest["config"]["load_in_4bit"]:
        trained, _, _ = load_run_model(run, manifest, as_trained=True)
        compare("as trained and evaluated (4-bit base + adapter)", logits_over(trained, rows), reference)
        del trained
    compare("control: the base without the adapter", without_adapter, reference)


if __name__ == "__main__":
    main()
