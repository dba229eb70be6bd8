"""`make merge`: base + adapter folded into one full model (safetensors) that plain transformers loads.

    python -m train.merge --run outputs/demo   ->   outputs/demo/merged/

The base is loaded unquantised for this: LoRA deltas cannot be folded into 4-bit weights without a lossy
re-quantisation, and a merged model is meant to be served as is. `make export` folds the same way
(`merged_model`) before writing a GGUF.
"""
import argparse
import sys
from pathlib import Path

from core import offline

offline.enable()

from core.jsonio import folder_replaced  # noqa: E402
from core.model import ModelNotFound  # noqa: E402
from core.runs import RunNotFound, load_run_model, read_run  # noqa: E402


def merged_model(run: Path, manifest: dict):
    """(the run's adapter folded into its float32 base, tokenizer, base model folder), in memory."""
    model, tokenizer, model_dir = load_run_model(run, manifest, as_trained=False)
    return model.merge_and_unload(), tokenizer, model_dir


def merge(run: Path, out: Path) -> Path:
    merged, tokenizer, _ = merged_model(run, read_run(run))
    with folder_replaced(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--out", default=None, help="default: RUN/merged")
    args = parser.parse_args(argv)
    run = Path(args.run)
    try:
        out = merge(run, Path(args.out) if args.out else run / "merged")
    except (RunNotFound, ModelNotFound) as exc:
        sys.exit(f"error: {exc}")
    print(f"merged model written to {out} (load it with AutoModelForCausalLM.from_pretrained)")


if __name__ == "__main__":
    main()
