"""Generation prompts from held-out articles and the outputs of the three systems compared: the base model,
the adapter, and a few-shot baseline (the base model shown k author passages from the train split).
All three use the same prompts, the same seed and the same sampling settings."""
from dataclasses import dataclass

from core.generate import generate_chat
from core.seed import stable_unit
from core.text import cut_at_sentence
from core.chunks import ChunkRecord

SYSTEMS = ("base", "adapter", "fewshot")


@dataclass(frozen=True)
class Prompt:
    item_id: str
    template: str
    article_id: str
    chunk_id: str
    messages: list  # system + user, as in the data
    task: str  # what a human rater is shown: the prefix (continue) or the user message (expand)
    real: str  # the author's own answer to the prompt


def select_prompts(val_rows: list[dict], templates: list[str], count: int, seed: int) -> list[Prompt]:
    """`count` held-out rows, alternating over templates, each template's rows in seeded order."""
    queues = {t: sorted((r for r in val_rows if r["meta"]["template"] == t),
                        key=lambda r: (stable_unit(seed, "prompt", t, r["meta"]["chunk_id"]), r["meta"]["chunk_id"]))
              for t in sorted(set(templates))}
    chosen: list[dict] = []
    while len(chosen) < count and any(queues.values()):
        for template in sorted(queues):
            if queues[template] and len(chosen) < count:
                chosen.append(queues[template].pop(0))
    return [Prompt(item_id=f"item{i + 1:03d}", template=r["meta"]["template"], article_id=r["meta"]["article_id"],
                   chunk_id=r["meta"]["chunk_id"], messages=r["prompt"],
                   task=r["meta"]["prefix"] if r["meta"]["template"] == "continue" else r["prompt"][-1]["content"],
                   real=r["completion"][0]["content"])
            for i, r in enumerate(chosen)]


def fewshot_passages(train_chunks: list[ChunkRecord], k: int, chars: int, seed: int) -> list[str]:
    """k passages from k different train articles, chosen by seed."""
    ordered = sorted(train_chunks, key=lambda c: (stable_unit(seed, "fewshot", c.chunk_id), c.chunk_id))
    passages, articles = [], set()
    for chunk in ordered:
        if chunk.article_id not in articles and len(passages) < k:
            passages.append(cut_at_sentence(chunk.text, chars))
            articles.add(chunk.article_id)
    return passages


def fewshot_messages(messages: list, passages: list[str], instruction: str) -> list:
    examples = "\n\n".join(f"[{i + 1}]\n{p}" for i, p in enumerate(passages))
    *head, user = messages
    return head + [{"role": "user", "content": f"{instruction}\n\n{examples}\n\n{user['content']}"}]


def generate_all(model, tokenizer, prompts: list[Prompt], passages: list[str], instruction: str, gen,
                 seed: int) -> dict[str, list[str]]:
    """Outputs per system, aligned with `prompts`. `model` is the PEFT model; base and few-shot run with the
    adapter disabled, so all three share one set of base weights loaded once."""
    settings = dict(max_new_tokens=gen.max_new_tokens, seed=seed, batch_size=gen.batch_size,
                    do_sample=gen.do_sample, temperature=gen.temperature, top_p=gen.top_p,
                    repetition_penalty=gen.repetition_penalty)
    conversations = [p.messages for p in prompts]
    outputs = {"adapter": generate_chat(model, tokenizer, conversations, desc="generating: adapter", **settings)}
    with model.disable_adapter():
        outputs["base"] = generate_chat(model, tokenizer, conversations, desc="generating: base", **settings)
        outputs["fewshot"] = generate_chat(
            model, tokenizer, [fewshot_messages(c, passages, instruction) for c in conversations],
            desc="generating: few-shot", **settings)
    return {name: outputs[name] for name in SYSTEMS}


def blind_items(prompts: list[Prompt], outputs: dict[str, list[str]]) -> tuple[list[dict], list[dict]]:
    """A/B items (adapter vs base, same prompt) and real-or-generated items (continue prompts: the author's
    real continuation, cut to the generated length at a sentence end, vs the adapter's continuation)."""
    ab = [{"item_id": p.item_id, "prompt": p.task, "adapter": outputs["adapter"][i], "base": outputs["base"][i]}
          for i, p in enumerate(prompts)]
    rog = [{"item_id": p.item_id, "prompt": p.task, "generated": outputs["adapter"][i],
            "real": cut_at_sentence(p.real, max(len(outputs["adapter"][i]), 1))}
           for i, p in enumerate(prompts) if p.template == "continue"]
    return ab, rog
