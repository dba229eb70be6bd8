"""`make chat`: talk to your style model in the terminal, and compare it with the base model it came from.

    python -m train.chat --run outputs/demo

The adapter sits on its base loaded as in training (as `make sample` loads it), the system prompt is the one it
was trained with, and replies are sampled with the generation settings of eval/eval.yaml and streamed as they
are generated. Each reply says which model wrote it. Commands: /base switches the adapter off (the base model
answers) and on again, /reset forgets the conversation, Ctrl-D (end of input) quits. Every reply is seeded
(eval's seed + its number in the session), so the same session gives the same replies on CPU.
"""
import argparse
import sys
from pathlib import Path

from core import offline

offline.enable()

from core.config import ConfigError  # noqa: E402
from core.model import ModelNotFound  # noqa: E402
from core.runs import RunNotFound, load_run_model, read_run, training_system_prompt  # noqa: E402
from core.sampling import load_sampling  # noqa: E402

PROMPT = "you> "
HELP = "/base: adapter off/on   /reset: forget the conversation   Ctrl-D: quit"


def reply(model, tokenizer, messages: list[dict], sampling, max_new_tokens: int, seed: int) -> str:
    """One assistant reply to `messages`, printed token by token as it is generated; returns its text."""
    import torch
    from transformers import TextStreamer

    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"].to(model.device)
    streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=sampling.do_sample, temperature=sampling.temperature if sampling.do_sample else None,
                             top_p=sampling.top_p if sampling.do_sample else None,
                             repetition_penalty=sampling.repetition_penalty, pad_token_id=tokenizer.pad_token_id,
                             streamer=streamer)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def converse(model, tokenizer, system: list[dict], sampling, max_new_tokens: int, seed: int) -> None:
    """The read-reply loop on stdin/stdout, until end of input."""
    history: list[dict] = []
    adapter_on, turn = True, 0
    while True:
        try:
            line = input(PROMPT).strip()
        except EOFError:
            print("\nbye")
            return
        if line == "/reset":
            history = []
            print("(conversation forgotten; the system prompt stays)")
        elif line == "/base":
            adapter_on = not adapter_on
            print("(adapter on: your style model answers)" if adapter_on else
                  "(adapter off: the base model answers; /base again to switch back)")
        elif line.startswith("/"):
            print(f"(unknown command {line}; {HELP})")
        elif line:
            history.append({"role": "user", "content": line})
            print("[adapter] " if adapter_on else "[base] ", end="", flush=True)
            turn += 1
            if adapter_on:
                text = reply(model, tokenizer, system + history, sampling, max_new_tokens, seed + turn)
            else:
                with model.disable_adapter():
                    text = reply(model, tokenizer, system + history, sampling, max_new_tokens, seed + turn)
            history.append({"role": "assistant", "content": text})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--eval-config", default="eval/eval.yaml", help="sampling settings (its generation: section)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the eval config's")
    args = parser.parse_args(argv)
    run = Path(args.run)
    try:
        manifest = read_run(run)
        eval_config = load_sampling(args.eval_config)
        model, tokenizer, model_dir = load_run_model(run, manifest)
    except (RunNotFound, ModelNotFound, ConfigError) as exc:
        sys.exit(f"error: {exc}")
    sampling = eval_config.generation
    max_new_tokens = args.max_new_tokens or sampling.max_new_tokens
    system = training_system_prompt(manifest)
    print(f"chat with {run / 'adapter'} on {model_dir.name}")
    print(f"system prompt: {system[0]['content']}" if system else
          "system prompt: none (the run's data folder is gone; the adapter was trained with one)")
    print(f"sampling ({args.eval_config}): temperature {sampling.temperature:g}, top_p {sampling.top_p:g}, "
          f"repetition penalty {sampling.repetition_penalty:g}, up to {max_new_tokens} new tokens"
          + ("" if sampling.do_sample else " (greedy: do_sample is false)"))
    print(HELP)
    try:
        converse(model, tokenizer, system, sampling, max_new_tokens, eval_config.seed)
    except KeyboardInterrupt:
        print("\nbye")


if __name__ == "__main__":
    main()
