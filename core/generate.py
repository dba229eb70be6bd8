"""Batched chat generation with left padding and a fixed seed: the same inputs, seed and batch size give the
same outputs on CPU. (A different batch size changes which prompts share a batch and its random stream.)"""
from dataclasses import dataclass
from typing import Sequence

from tqdm import tqdm


@dataclass(frozen=True)
class Reply:
    text: str
    ended: bool  # the model closed its turn (an end-of-sequence token) before max_new_tokens ran out


def generate_chat(model, tokenizer, conversations: Sequence[list[dict]], max_new_tokens: int, seed: int,
                  **settings) -> list[str]:
    """The text of each reply of `generate_replies`."""
    return [reply.text for reply in generate_replies(model, tokenizer, conversations, max_new_tokens, seed, **settings)]


def end_token_ids(model, tokenizer) -> set[int]:
    """The tokens generate() stops at: the generation config's, else the tokenizer's end of sequence."""
    eos = model.generation_config.eos_token_id
    ids = set([eos] if isinstance(eos, int) else eos or [])
    return ids or ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())


def generate_replies(model, tokenizer, conversations: Sequence[list[dict]], max_new_tokens: int, seed: int,
                     batch_size: int = 8, do_sample: bool = True, temperature: float = 0.7, top_p: float = 0.9,
                     repetition_penalty: float = 1.1, desc: str = "generating") -> list[Reply]:
    """Generate one assistant reply per conversation (a list of chat messages). Batches are sorted by prompt
    length to keep padding small; the RNG is re-seeded per batch so no batch depends on the ones before it."""
    import torch

    prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    outputs: list[Reply] = [Reply("", False)] * len(prompts)
    stops = torch.tensor(sorted(end_token_ids(model, tokenizer)), dtype=torch.long, device=model.device)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        for batch_no, batch in enumerate(tqdm(batches, desc=desc, unit="batch", disable=not batches)):
            encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(model.device)
            torch.manual_seed(seed + batch_no)
            with torch.no_grad():
                generated = model.generate(
                    **encoded, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    temperature=temperature if do_sample else None, top_p=top_p if do_sample else None,
                    repetition_penalty=repetition_penalty, pad_token_id=tokenizer.pad_token_id)
            new_tokens = generated[:, encoded["input_ids"].shape[1]:]
            ended = torch.isin(new_tokens, stops).any(dim=1).tolist()
            for i, text, done in zip(batch, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), ended):
                outputs[i] = Reply(text.strip(), done)
    finally:
        tokenizer.padding_side = padding_side
    return outputs
