"""Token-level negative log-likelihood of author text under a model. Every text sits in the same chat
template (system prompt, fixed instruction, text as the assistant reply) and only the text's own tokens are
scored. Long texts are scored with a sliding window: each window scores `stride` new tokens with up to
`window - stride` earlier tokens as context; windows from all texts are batched together."""
from dataclasses import dataclass

from tqdm import tqdm


@dataclass(frozen=True)
class Window:
    text_index: int
    begin: int  # first token fed to the model
    end: int  # one past the last token fed
    first_scored: int  # tokens [first_scored, end) are scored in this window


def encode(tokenizer, system: str, instruction: str, text: str) -> tuple[list[int], int]:
    """Token ids of the templated text and the index of the text's first token. Prompt and text are
    tokenised separately, as in prompt/completion training, so the scored tokens are exactly the text's."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": instruction}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    text_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return prompt_ids + text_ids, len(prompt_ids)


def windows(text_index: int, n_tokens: int, score_from: int, window: int, stride: int) -> list[Window]:
    """Windows covering tokens [score_from, n_tokens): ends advance by `stride`, each window scores the
    tokens past the previous end. A token is never scored as the first of its window (it has no logit)."""
    result, scored_to = [], max(score_from, 1)
    end = min(max(window, scored_to + stride), n_tokens)
    while scored_to < n_tokens:
        begin = max(0, end - window)
        result.append(Window(text_index, begin, end, max(scored_to, begin + 1)))
        scored_to = end
        end = min(end + stride, n_tokens)
    return result


def score(model, tokenizer, encoded: list[tuple[list[int], int]], window: int, stride: int, batch_size: int,
          desc: str = "scoring") -> list[tuple[float, int]]:
    """(summed NLL in nats, scored tokens) per encoded text."""
    import torch

    plan = [w for i, (ids, start) in enumerate(encoded) for w in windows(i, len(ids), start, window, stride)]
    plan.sort(key=lambda w: (-(w.end - w.begin), w.text_index, w.begin))  # similar lengths share a batch
    totals = [[0.0, 0] for _ in encoded]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    batches = [plan[i:i + batch_size] for i in range(0, len(plan), batch_size)]
    for batch in tqdm(batches, desc=desc, unit="batch", disable=not batches):
        width = max(w.end - w.begin for w in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, w in enumerate(batch):
            ids = torch.tensor(encoded[w.text_index][0][w.begin:w.end])
            input_ids[row, :len(ids)] = ids
            attention[row, :len(ids)] = 1
            labels[row, w.first_scored - w.begin:len(ids)] = ids[w.first_scored - w.begin:]
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(model.device), attention_mask=attention.to(model.device)).logits
        targets = labels[:, 1:].to(logits.device)
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
            reduction="none").view(targets.shape)
        for row, w in enumerate(batch):
            totals[w.text_index][0] += float(nll[row].double().sum())
            totals[w.text_index][1] += w.end - w.first_scored
    return [(nll_sum, count) for nll_sum, count in totals]
