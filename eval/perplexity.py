"""Token-level negative log-likelihood of author text under a model. Every text sits in the same chat
template (system prompt, fixed instruction, text as the assistant reply) and only the text's own tokens are
scored. Long texts are scored with a sliding window: each window scores `stride` new tokens with up to
`window - stride` earlier tokens as context; windows from all texts are batched together."""
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from core.chunks import ChunkRecord
from core.seed import stable_unit
from eval import stats


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


def sample_articles(chunks: list[ChunkRecord], limit: int, seed: int, purpose: str) -> list[str]:
    """Article ids, all of them or a seeded sample of `limit` (0 = all), sorted."""
    articles = sorted({c.article_id for c in chunks})
    chosen = sorted(articles, key=lambda a: (stable_unit(seed, purpose, a), a))
    return sorted(chosen[:limit] if limit else chosen)


def score_articles(model, tokenizer, system: str, chunks: list[ChunkRecord], articles: list[str], cfg,
                   label: str) -> list[dict]:
    """Summed NLL of base and adapter per article (its chunks scored separately, then added); `model` is the
    PEFT model, base scores run with the adapter disabled."""
    flat = [c for c in chunks if c.article_id in set(articles)]
    encoded = [encode(tokenizer, system, cfg.instruction, c.text) for c in flat]
    adapter = score(model, tokenizer, encoded, cfg.window, cfg.stride, cfg.batch_size, desc=f"scoring {label}: adapter")
    with model.disable_adapter():
        base = score(model, tokenizer, encoded, cfg.window, cfg.stride, cfg.batch_size, desc=f"scoring {label}: base")
    totals = {a: {"article_id": a, "tokens": 0, "chars": 0, "base_nll": 0.0, "adapter_nll": 0.0} for a in articles}
    for chunk, (base_nll, count), (adapter_nll, _) in zip(flat, base, adapter):
        row = totals[chunk.article_id]
        row["tokens"] += count
        row["chars"] += len(chunk.text)
        row["base_nll"] += base_nll
        row["adapter_nll"] += adapter_nll
    return [totals[a] for a in articles if totals[a]["tokens"]]


def relative_change(adapter: np.ndarray, base: np.ndarray, tokens: np.ndarray) -> float:
    """adapter perplexity / base perplexity − 1 over the pooled tokens (negative = the adapter predicts better)."""
    return float(np.exp((adapter.sum() - base.sum()) / tokens.sum()) - 1)


def compare(rows: list[dict], bootstrap) -> dict:
    """Pooled perplexities, the relative change with a bootstrap CI over articles, and a Wilcoxon test."""
    tokens = np.array([r["tokens"] for r in rows], dtype=float)
    base = np.array([r["base_nll"] for r in rows])
    adapter = np.array([r["adapter_nll"] for r in rows])
    chars = sum(r["chars"] for r in rows)
    for r in rows:
        r["base_perplexity"] = float(np.exp(r["base_nll"] / r["tokens"]))
        r["adapter_perplexity"] = float(np.exp(r["adapter_nll"] / r["tokens"]))
    return {
        "articles": len(rows), "tokens": int(tokens.sum()), "chars": chars,
        "base": {"nll_per_token": float(base.sum() / tokens.sum()), "perplexity": float(np.exp(base.sum() / tokens.sum())),
                 "perplexity_per_char": float(np.exp(base.sum() / chars))},
        "adapter": {"nll_per_token": float(adapter.sum() / tokens.sum()),
                    "perplexity": float(np.exp(adapter.sum() / tokens.sum())),
                    "perplexity_per_char": float(np.exp(adapter.sum() / chars))},
        "relative_change": bootstrap((adapter, base, tokens), relative_change, paired=True),
        "wilcoxon": stats.wilcoxon(adapter / tokens, base / tokens),
        "per_article": rows,
    }


def author_specific_gain(author_rows: list[dict], reference_rows: list[dict], bootstrap) -> dict:
    """The adapter's relative perplexity change on the author's held-out text minus its change on the reference
    author's text: a difference in differences. Near 0 means the adapter learned the language, not the author;
    negative means it predicts this author better than another. Bootstrap over the articles of both."""
    def change(rows: list[dict], picked: np.ndarray) -> float:
        chosen = [rows[int(i)] for i in picked]
        return relative_change(*(np.array([r[k] for r in chosen], dtype=float)
                                 for k in ("adapter_nll", "base_nll", "tokens")))

    def difference(author_index: np.ndarray, reference_index: np.ndarray) -> float:
        return change(author_rows, author_index) - change(reference_rows, reference_index)

    indices = (np.arange(len(author_rows)), np.arange(len(reference_rows)))
    result = bootstrap(indices, difference, paired=False)
    author, reference = change(author_rows, indices[0]), change(reference_rows, indices[1])
    return {"difference_in_relative_change": result, "author_relative_change": author,
            "reference_relative_change": reference,
            "author_share_of_gain": (author - reference) / author if author < 0 else None,
            "n_author_articles": len(author_rows), "n_reference_articles": len(reference_rows)}


def perplexity_per_char(model, tokenizer, system: str, instruction: str, texts: list[str], window: int, stride: int,
                        batch_size: int, desc: str) -> list[float | None]:
    """Fluency of each text under the model as it is called (the caller disables the adapter for the base
    model): exp(NLL / characters), so models with different tokenizers compare; None for an empty text."""
    encoded = [encode(tokenizer, system, instruction, t) for t in texts]
    scored = score(model, tokenizer, encoded, window, stride, batch_size, desc=desc)
    chars = [len("".join(t.split())) for t in texts]
    return [float(np.exp(nll / n)) if n else None for (nll, _), n in zip(scored, chars)]
