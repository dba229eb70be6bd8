"""Eval speed: batched generation vs one prompt at a time (the seed notebook's loop), and batched
sliding-window perplexity vs one text per forward pass. Same model, prompts and texts on both sides; run
for the model as `make eval` loads it (NF4 + adapter) and for a plain float32 model.

Targets: generation ≥ 3× and scoring ≥ 2× the tokens/s of the one-at-a-time baseline."""
import re
import time

from core import offline
from core.manifest import REPO_ROOT
from core.model import DEFAULT_MODEL_DIR

ARCHIVE = REPO_ROOT / "corpora" / "luxun-archive"
PROMPTS = 16
NEW_TOKENS = 32
TEXTS = 16
WINDOW, STRIDE = 512, 256


def archive_paragraphs(count: int) -> list[str]:
    """The first paragraphs of the bundled essays (front matter and HTML tags removed)."""
    paragraphs = []
    for path in sorted(ARCHIVE.glob("*/*/*/*.md")):
        text = re.sub(r"<[^>]+>", "", re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.S))
        paragraphs += [p.strip() for p in text.split("\n\n") if len(p.strip()) > 80][:1]
    return paragraphs[:count]


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def bench_generation(model, tokenizer) -> float:
    from core.generate import generate_chat

    conversations = [[{"role": "user", "content": f"请接着写下去：{p[:60]}"}] for p in archive_paragraphs(PROMPTS)]
    tokens = len(conversations) * NEW_TOKENS  # upper bound; eos is off below so every prompt gets all tokens
    eos = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = None
    try:
        rates = {}
        for label, batch in (("one prompt at a time", 1), ("batched (8, left padding)", 8)):
            _, seconds = timed(lambda: generate_chat(model, tokenizer, conversations, NEW_TOKENS, seed=0,
                                                     batch_size=batch, desc=label))
            rates[batch] = tokens / seconds
            print(f"generation, {label}: {rates[batch]:.1f} new tokens/s ({seconds:.1f} s)", flush=True)
    finally:
        model.generation_config.eos_token_id = eos
    ratio = rates[8] / rates[1]
    print(f"generation speed-up: {ratio:.2f}x (target >= 3x)")
    return ratio


def bench_perplexity(model, tokenizer) -> float:
    from eval.perplexity import encode, score

    encoded = [encode(tokenizer, "", "请写一段文字。", p) for p in archive_paragraphs(TEXTS)]
    tokens = sum(len(ids) - start for ids, start in encoded)
    rates = {}
    for label, batch in (("one text per forward", 1), ("batched windows (8)", 8)):
        _, seconds = timed(lambda: score(model, tokenizer, encoded, WINDOW, STRIDE, batch, desc=label))
        rates[batch] = tokens / seconds
        print(f"perplexity, {label}: {rates[batch]:.1f} scored tokens/s ({seconds:.1f} s)", flush=True)
    ratio = rates[8] / rates[1]
    print(f"perplexity speed-up: {ratio:.2f}x (target >= 2x)")
    return ratio


def eval_model(folder):
    """The model `make eval` scores and generates with after the default `make train`: the NF4 base (as
    train/lora_sft.yaml quantises it) with an r=16 all-linear LoRA adapter on top."""
    from peft import LoraConfig, get_peft_model

    from core.model import load_causal_lm

    model = load_causal_lm(folder, load_in_4bit=True)
    return get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear",
                                            task_type="CAUSAL_LM")).eval()


def main() -> None:
    offline.enable()
    from core.model import load_causal_lm, load_tokenizer

    folder = REPO_ROOT / DEFAULT_MODEL_DIR
    tokenizer = load_tokenizer(folder)
    for label, load in (("NF4 base + LoRA adapter, as make eval runs", eval_model),
                        ("float32 base, no adapter", load_causal_lm)):
        print(f"-- model: {label}", flush=True)
        model = load(folder)
        bench_generation(model, tokenizer)
        bench_perplexity(model, tokenizer)


if __name__ == "__main__":
    main()
