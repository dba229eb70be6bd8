"""`make merge`: base + adapter folded into one full model (safetensors) that plain transformers loads.

    python -m train.merge --run outputs/demo   ->   outputs/demo/merged/

The base is loaded unquantised for this: LoRA deltas cannot be folded into 4-bit weights without a lossy
re-quantisation, and a merged model is meant to be served as is.
"""
import argparse
import shutil
import sys
from pathlib import Path

from core import offline

offline.enable()

from core.model import ModelNotFound  # noqa: E402
from core.run_model import load_run_model  # noqa: E402


def merge(run: Path, out: Path) -> Path:
    model, tokenizer, _ = load_run_model(run, quantised=False)
    merged = model.merge_and_unload()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", default=None, help="default: RUN/merged")
    args = parser.parse_args(argv)
    run = Path(args.run)
    if not (run / "adapter" / "adapter_config.json").is_file() or not (run / "manifest.json").is_file():
        sys.exit(f"error: {run} has no finished adapter; train one with `make train RUN={run}`")
    try:
        out = merge(run, Path(args.out) if args.out else run / "merged")
    except ModelNotFound as exc:
        sys.exit(f"error: {exc}")
    print(f"merged model written to {out} (load it with AutoModelForCausalLM.from_pretrained)")


if __name__ == "__main__":
    main()
