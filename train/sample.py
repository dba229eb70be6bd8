"""`make sample`: one prompt through the base model and through base + adapter, printed side by side.

    python -m train.sample --run outputs/demo --prompt "请写一段关于读书的随笔。"

Same seed and sampling settings for both, so the difference is the adapter's.
"""
import argparse
import json
import sys
import textwrap
from pathlib import Path

from core import offline

offline.enable()

from core.generate import generate_chat  # noqa: E402
from core.jsonio import read_json  # noqa: E402
from core.model import ModelNotFound  # noqa: E402
from core.run_model import load_run_model  # noqa: E402

COLUMN = 38  # characters per column; CJK glyphs are two cells wide, so two columns fit 160 cells


def side_by_side(left: str, right: str, width: int = COLUMN) -> str:
    wrap = lambda text: [line for para in text.splitlines() or [""] for line in textwrap.wrap(para, width) or [""]]  # noqa: E731
    a, b = wrap(left), wrap(right)
    a += [""] * (len(b) - len(a))
    b += [""] * (len(a) - len(b))
    # Pad by display cells (full-width characters take two), so the right column lines up.
    cells = lambda s: sum(2 if ord(c) > 0x2E7F else 1 for c in s)  # noqa: E731
    return "\n".join(f"{x}{' ' * (2 * width - cells(x))} | {y}" for x, y in zip(a, b))


def training_system_prompt(data_dir: Path) -> list[dict]:
    """The system message the adapter was trained with (first train row), so the prompt looks like training;
    none when the data folder is gone."""
    path = data_dir / "sft_train.jsonl"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as fh:
        first = json.loads(fh.readline() or '{"prompt": []}')
    return [m for m in first["prompt"] if m["role"] == "system"][:1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--seed", type=int, default=None, help="default: the run's training seed")
    args = parser.parse_args(argv)

    run = Path(args.run)
    if not (run / "adapter" / "adapter_config.json").is_file() or not (run / "manifest.json").is_file():
        sys.exit(f"error: {run} has no finished adapter (adapter/ and manifest.json); train one with "
                 f"`make train RUN={run}`")
    manifest = read_json(run / "manifest.json")
    cfg = manifest["config"]
    seed = cfg["seed"] if args.seed is None else args.seed
    try:
        model, tokenizer, _ = load_run_model(run)
    except ModelNotFound as exc:
        sys.exit(f"error: {exc}")
    conversation = [training_system_prompt(Path(manifest["data"]["dir"])) + [{"role": "user", "content": args.prompt}]]
    generate = lambda: generate_chat(model, tokenizer, conversation, args.max_new_tokens, seed=seed,  # noqa: E731
                                     batch_size=1)[0]
    tuned = generate()
    with model.disable_adapter():
        base = generate()
    print(f"prompt: {args.prompt}   (seed {seed}, {args.max_new_tokens} new tokens at most)\n")
    print(side_by_side(f"[base] {cfg['base_model']}", f"[adapter] {run / 'adapter'}"))
    print("-" * (4 * COLUMN + 3))
    print(side_by_side(base, tuned))


if __name__ == "__main__":
    main()
