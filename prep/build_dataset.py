"""`make data`: archive -> $(DATA)/chunks.jsonl, sft_train.jsonl, sft_val.jsonl, dataset_stats.json, manifest.json.

    python -m prep.build_dataset --archive corpora/luxun-archive --out data [--config prep/config.yaml] [--set k=v ...]

Steps: find and read articles (prep/ingest.py) -> Markdown to paragraphs (prep/clean.py) -> boilerplate,
in-article repeats, PII -> exact duplicate articles -> token-aware chunks (prep/chunk.py) -> near-duplicate
chunks across articles (MinHash) -> split by article (prep/split.py) -> continue/expand/rewrite rows
(prep/templates.py, prep/paraphrase.py) -> leak check on whole chunks -> atomic, byte-stable outputs
(chunks.jsonl: every chunk's exact text; the SFT rows; stats) + manifest.
Per-article work runs in worker processes; the result does not depend on how many.
"""
import argparse
import contextlib
import gc
import hashlib
import multiprocessing
import os
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core import offline
from core.chunks import ChunkRecord
from core.config import ConfigError, load, to_dict
from core.jsonio import dumps, sha256_file, write_json, write_jsonl
from core.manifest import environment
from core.model import ModelNotFound, model_files_sha256, resolve_model_dir, tokenizer_fingerprint
from core.seed import stable_unit
from core.text import detect_language
from prep import chunk, clean, ingest, pii, spans, split, templates, token_count
from prep.config import PrepConfig
from prep.paraphrase import INSTRUCTIONS, Limits, ParaphraseCache, max_new_tokens_for, paraphrase_chunks, rejection_reason

OUTPUTS = ("chunks.jsonl", "sft_train.jsonl", "sft_val.jsonl", "dataset_stats.json")
TEMPLATE_ORDER = {"continue": 0, "expand": 1, "rewrite": 2}
MINHASH_SEED = 20240601
TOKEN_BIN = 100


class NothingUsable(RuntimeError):
    pass


@dataclass
class Article:
    raw: ingest.RawArticle
    paragraphs: list[str]
    lang: str = "zh"


# ---- worker side (one process per core; module globals hold the state, set in the main process first) -----
_WORKER: dict = {}


def _init_worker(cfg: PrepConfig, model_dir: str, root: str) -> None:
    """Set in the main process; the worker processes are forked afterwards and inherit it."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"   # the processes already use every core
    _WORKER.update(cfg=cfg, model_dir=model_dir, root=Path(root), tokenizer=None)
    rng = np.random.default_rng(MINHASH_SEED)
    _WORKER["perm"] = (rng.integers(1, 2**63, cfg.dedup.num_perm, dtype=np.uint64) | np.uint64(1),
                       rng.integers(0, 2**63, cfg.dedup.num_perm, dtype=np.uint64))


def _tokenizer():
    """A private copy of the chat tokenizer's backend counts every token (articles, chunks, rendered prompts):
    it knows every special token the template uses, and no wrapper state (padding) can reach it."""
    if _WORKER["tokenizer"] is None:
        from tokenizers import Tokenizer

        from core.model import load_tokenizer
        chat = load_tokenizer(_WORKER["model_dir"])
        counter = Tokenizer.from_str(chat.backend_tokenizer.to_str())
        counter.no_padding()
        counter.no_truncation()
        frame = _chat_frame(chat, _WORKER["cfg"].templates.system_prompt)
        byte_level = token_count.splits_like_byte_level(counter)
        special = [token.content for token in counter.get_added_tokens_decoder().values()]
        _WORKER.update(tokenizer=counter, chat_tokenizer=chat, byte_level=byte_level, chat_frame=frame,
                       special_after_user=bool(frame) and any(frame[1].startswith(t) for t in special),
                       head_tokens={})
    return _WORKER["tokenizer"]


def _render_prompt(tokenizer, system: str, user: str) -> str:
    """The [system, user] prompt as the model's chat template renders it, with the generation prompt: what
    the trainer feeds before the completion."""
    return tokenizer.apply_chat_template([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                         add_generation_prompt=True, tokenize=False)


def _chat_frame(tokenizer, system: str) -> tuple[str, str] | None:
    """The rendered prompt before and after the user text, when the template inserts that text verbatim;
    None when it does not (it trims it, say)."""
    probe, other = "\x00user\x00", " \n另一段 text. \n "
    before, found, after = _render_prompt(tokenizer, system, probe).partition(probe)
    return (before, after) if found and _render_prompt(tokenizer, system, other) == before + other + after else None


def _prompt_tokens(users: list[str]) -> list[int]:
    """Tokens of each rendered prompt (see _render_prompt)."""
    counter, system = _tokenizer(), _WORKER["cfg"].templates.system_prompt
    frame = _WORKER["chat_frame"]   # the same text as the template gives, without running it once per prompt
    rendered = ([frame[0] + user + frame[1] for user in users] if frame
                else [_render_prompt(_WORKER["chat_tokenizer"], system, user) for user in users])
    return [len(e.ids) for e in counter.encode_batch_fast(rendered, add_special_tokens=False)]


def _prompt_tokens_from_article(user: str, piece: str, count: token_count.ArticleTokenCounter) -> int | None:
    """Tokens of the rendered prompt whose user text ends with `piece` of the article, from the article's count
    of the piece: a byte-level pre-tokenizer cuts after a line break that comes before a non-space character,
    and the template puts a special token right after the user text, so the piece is encoded as on its own.
    The rest of the prompt is counted once per instruction wording. None when those conditions do not hold."""
    head = user[:len(user) - len(piece)]
    if not (_WORKER["byte_level"] and _WORKER["special_after_user"] and piece and user.endswith(piece)
            and head.endswith("\n") and not piece[0].isspace()):
        return None
    if head not in _WORKER["head_tokens"]:   # the wording's tokens: a rendered probe prompt less the probe
        probe = "x"
        probe_tokens = len(_tokenizer().encode(probe, add_special_tokens=False))
        _WORKER["head_tokens"][head] = _prompt_tokens([head + probe])[0] - probe_tokens
    return _WORKER["head_tokens"][head] + count([piece])[0]


def _read_and_clean(path: str):
    result = ingest.read_article(Path(path), _WORKER["root"])
    if isinstance(result, ingest.Problem):
        return result
    cleaned = clean.markdown_to_paragraphs(result.text)
    result.text = ""   # the paragraphs carry on; no need to ship the raw Markdown back
    return result, cleaned


def _chunk_article(job: tuple[str, list[str], str]) -> tuple[list[dict], Counter]:
    """Chunks of one article with everything per-chunk the rows need: signature, continue cut, outline, and
    the user prompts with their token counts (counted here, in parallel, rather than in the main process)."""
    article_id, paragraphs, lang = job
    cfg: PrepConfig = _WORKER["cfg"]
    counts: Counter = Counter()
    # Chunks and continue targets are pieces of the joined article: one encoding counts them all.
    count = token_count.ArticleTokenCounter(_tokenizer(), chunk.PARAGRAPH_JOINER.join(paragraphs),
                                            _WORKER["byte_level"])
    chunks = chunk.chunk_paragraphs(paragraphs, cfg.chunk.min_tokens, cfg.chunk.max_tokens, count, counts)
    out, prompts = [], []
    for index, piece in enumerate(chunks):
        chunk_id = f"{article_id}#{index}"
        record = {"chunk_id": chunk_id, "chunk_index": index, "text": piece.text, "tokens": piece.tokens,
                  "short": piece.short, "lang": lang,
                  "signature": spans.minhash_signature(piece.text, cfg.dedup.shingle_chars, *_WORKER["perm"])}
        if "continue" in cfg.templates.enabled:
            cut = templates.continue_cut(piece.text, cfg.templates.continue_min_fraction,
                                         cfg.templates.continue_max_fraction, cfg.seed, chunk_id)
            if cut is None:
                counts["continue_no_sentence_boundary_in_range"] += 1
            else:
                prefix, target = piece.text[:cut].rstrip(), piece.text[cut:].lstrip()
                user = templates.user_prompt(cfg.seed, "continue", lang, chunk_id, prefix=prefix)
                record["continue"] = {"prefix": prefix, "target": target, "target_tokens": count([target])[0],
                                      "user": user, "prompt_tokens": _prompt_tokens_from_article(user, prefix, count)}
                if record["continue"]["prompt_tokens"] is None:
                    prompts.append(record["continue"])
        if "expand" in cfg.templates.enabled:
            outline = templates.outline(piece.text, lang, cfg.templates.expand_keywords)
            record["expand"] = {"user": templates.user_prompt(cfg.seed, "expand", lang, chunk_id, **outline)}
            prompts.append(record["expand"])
        out.append(record)
    for prompt, tokens in zip(prompts, _prompt_tokens([p["user"] for p in prompts])):
        prompt["prompt_tokens"] = tokens
    return out, counts


@contextlib.contextmanager
def _workers(count: int):
    """A pool of `count` forked processes (None for one): they inherit _WORKER as it is when this opens."""
    gc.freeze()   # objects made so far stay out of the workers' garbage collections: no copy-on-write of them
    try:
        pool = multiprocessing.get_context("fork").Pool(count) if count > 1 else None
    finally:
        gc.unfreeze()
    try:
        yield pool
    finally:
        if pool:
            pool.close()
            pool.join()


def _map(pool, fn, items, desc: str, meanwhile=None):
    """fn over items, in order, in the pool; `meanwhile` runs in the main process while the pool works."""
    iterator = pool.imap(fn, items, chunksize=8) if pool else map(fn, items)
    if meanwhile:
        meanwhile()
    return list(tqdm(iterator, total=len(items), desc=desc, unit="article", leave=False))


# ---- main process ----------------------------------------------------------------------------------------
def _filter_articles(loaded: list, cfg: PrepConfig, problems: list, counts: Counter) -> tuple[list[Article], list[dict]]:
    """Index pages, image-only/empty pages, boilerplate, repeats, PII, too-short and duplicate articles."""
    candidates: list[Article] = []
    for item in loaded:
        if isinstance(item, ingest.Problem):
            problems.append(item)
            continue
        raw, cleaned = item
        counts.update(cleaned.counts)
        text_chars = sum(len(p) for p in cleaned.paragraphs)
        if cleaned.counts["links_kept_as_text"] >= 5 and cleaned.link_chars >= cfg.clean.index_link_share * text_chars:
            problems.append(ingest.Problem(raw.path, "index_page", "mostly link text"))
        elif not cleaned.paragraphs:
            reason = "image_only" if cleaned.counts["images_dropped"] else "no_text_after_cleaning"
            problems.append(ingest.Problem(raw.path, reason))
        else:
            candidates.append(Article(raw, cleaned.paragraphs))
    boilerplate, threshold = clean.find_boilerplate(
        [a.paragraphs for a in candidates], cfg.clean.boilerplate_min_articles, cfg.clean.boilerplate_min_share,
        cfg.clean.boilerplate_min_chars)
    counts["boilerplate_threshold_articles"] = threshold
    kept: list[Article] = []
    first_by_text: dict[str, str] = {}
    for article in candidates:
        paragraphs = clean.remove_boilerplate(article.paragraphs, boilerplate, cfg.clean.repeat_min_chars, counts)
        if cfg.pii.enabled:
            paragraphs = [pii.scrub(p, cfg.pii.kinds, counts) for p in paragraphs]
        text = "\n\n".join(paragraphs)
        if len(text.replace("\n", "")) < cfg.clean.min_article_chars:
            problems.append(ingest.Problem(article.raw.path, "too_short_after_cleaning",
                                           f"{len(text)} characters left (clean.min_article_chars={cfg.clean.min_article_chars})"))
            continue
        key = hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()
        if key in first_by_text:
            problems.append(ingest.Problem(article.raw.path, "duplicate_article", f"same text as {first_by_text[key]}"))
            continue
        first_by_text[key] = article.raw.article_id
        article.paragraphs, article.lang = paragraphs, detect_language(text)
        kept.append(article)
    # The report quotes the recurring text, so it gets the same scrub as the articles (footers carry e-mails).
    quote = (lambda text: pii.scrub(text, cfg.pii.kinds, Counter())) if cfg.pii.enabled else (lambda text: text)
    return kept, [{"articles": n, "text": quote(k)[:80]}
                  for k, n in sorted(boilerplate.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]


def _drop_near_duplicates(chunks: list[dict], cfg: PrepConfig, counts: Counter) -> tuple[list[dict], list[dict]]:
    """Keep the first of each group of near-identical chunks from different articles (sorted order)."""
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=cfg.dedup.near_duplicate_jaccard, num_perm=cfg.dedup.num_perm)
    kept: dict[str, tuple[dict, LeanMinHash]] = {}
    pairs = []
    for record in tqdm(chunks, desc="near-duplicates", unit="chunk", leave=False):
        signature = LeanMinHash(seed=MINHASH_SEED, hashvalues=record.pop("signature"), scheme="affine64")
        match = next((other_id for other_id in sorted(lsh.query(signature))
                      if kept[other_id][0]["article_id"] != record["article_id"]
                      and signature.jaccard(kept[other_id][1]) >= cfg.dedup.near_duplicate_jaccard), None)
        if match:
            counts["near_duplicate_chunks_removed"] += 1
            pairs.append({"kept": match, "removed": record["chunk_id"]})
            continue
        kept[record["chunk_id"]] = (record, signature)
        lsh.insert(record["chunk_id"], signature)
    return [record for record, _ in kept.values()], pairs


def _drop_leaking_chunks(chunks: list[dict], span: int) -> tuple[list[dict], list[str], dict]:
    """Validation chunks that share a `span`-character window with a training chunk (or sit inside one) are
    dropped whole, prefix and all; returns the kept chunks, the dropped ids and the check on what is kept."""
    train_spans = split.TrainSpans([c["text"] for c in chunks if c["split"] == "train"], span)
    val = [c for c in chunks if c["split"] == "val"]
    dropped = {val[i]["chunk_id"] for i in split.leaking(train_spans, [c["text"] for c in val])}
    kept = [c for c in chunks if c["chunk_id"] not in dropped]
    checked = train_spans.check([c["text"] for c in kept if c["split"] == "val"])
    return kept, sorted(dropped), {"val_chunks_in_train": sum(inside for _, inside in checked),
                                   "val_chunks_sharing_span_with_train": sum(shares for shares, _ in checked)}


def _chunk_rows(chunks: list[dict], by_id: dict[str, Article]) -> list[dict]:
    """chunks.jsonl: every kept chunk's exact text once; rows point into it by chunk_id (core/chunks.py)."""
    return [ChunkRecord(article_id=c["article_id"], chunk_id=c["chunk_id"], chunk_index=c["chunk_index"],
                        split=c["split"], text=c["text"], tokens=c["tokens"], lang=c["lang"],
                        title=by_id[c["article_id"]].raw.title).as_json()
            for c in sorted(chunks, key=lambda c: (c["article_id"], c["chunk_index"]))]


def _rewrite_inputs(chunks: list[dict], cfg: PrepConfig, model_dir: Path, out: Path, counts: Counter) -> dict[str, str]:
    """Accepted paraphrases by chunk id, for a seeded selection of at most paraphrase.max_chunks chunks."""
    if "rewrite" not in cfg.templates.enabled or cfg.paraphrase.max_chunks == 0:
        return {}
    settings = cfg.paraphrase
    chosen = sorted(chunks, key=lambda c: (stable_unit(cfg.seed, "paraphrase", c["chunk_id"]), c["chunk_id"]))
    chosen = chosen[:settings.max_chunks]
    generation = {"seed": cfg.seed, "batch_size": settings.batch_size, "do_sample": settings.do_sample,
                  "temperature": settings.temperature, "top_p": settings.top_p,
                  "repetition_penalty": settings.repetition_penalty, "max_new_tokens_ratio": settings.max_new_tokens_ratio}
    # Everything a paraphrase depends on: the weights and tokenizer, the instruction, every generation setting.
    salt = dumps({"model": model_files_sha256(model_dir), "instructions": INSTRUCTIONS, "generation": generation})
    cache = ParaphraseCache(out / "cache" / "paraphrases.json", salt)
    budgets = [max_new_tokens_for(c["tokens"], settings.max_new_tokens_ratio) for c in chosen]
    replies = paraphrase_chunks([c["text"] for c in chosen], budgets, model_dir, cache, generation, counts)
    limits = Limits(settings.min_length_ratio, settings.max_length_ratio, settings.min_keyword_recall,
                    settings.max_jaccard)
    accepted = {}
    for record, reply in zip(chosen, replies):
        reason = rejection_reason(record["text"], reply["text"], reply["ended"],
                                  templates.keywords(record["text"], settings.keywords), limits)
        if reason:
            counts[f"rejected_{reason}"] += 1
        else:
            accepted[record["chunk_id"]] = reply["text"]
    counts["requested"], counts["accepted"] = len(chosen), len(accepted)
    return accepted


def _rows_for_chunk(record: dict, article: Article, paraphrase: str | None, cfg: PrepConfig, counts: Counter) -> list[dict]:
    system = cfg.templates.system_prompt
    meta = {"article_id": article.raw.article_id, "chunk_id": record["chunk_id"],
            "chunk_index": record["chunk_index"], "chunk_tokens": record["tokens"], "date": article.raw.date,
            "lang": record["lang"], "short_chunk": record["short"], "split": record["split"],
            "title": article.raw.title, "year": article.raw.year}
    rows = []
    if "continue" in record:
        part = record["continue"]
        if part["target"] in part["user"]:   # the chunk repeats itself: the answer would sit in the question
            counts["continue_target_inside_prompt_skipped"] += 1
        else:
            rows.append(templates.message_rows(system, part["user"], part["target"]) | {"meta": meta | {
                "template": "continue", "prefix": part["prefix"], "completion_tokens": part["target_tokens"],
                "prompt_tokens": part["prompt_tokens"]}})
    if "expand" in record:
        rows.append(templates.message_rows(system, record["expand"]["user"], record["text"]) | {"meta": meta | {
            "template": "expand", "completion_tokens": record["tokens"],
            "prompt_tokens": record["expand"]["prompt_tokens"]}})
    if paraphrase is not None:
        user = templates.user_prompt(cfg.seed, "rewrite", record["lang"], record["chunk_id"], paraphrase=paraphrase)
        rows.append(templates.message_rows(system, user, record["text"]) | {"meta": meta | {
            "template": "rewrite", "completion_tokens": record["tokens"],
            "prompt_tokens": _prompt_tokens([user])[0]}})
    return rows


def _problem_stats(problems: list[ingest.Problem]) -> dict:
    return {"by_reason": dict(Counter(p.reason for p in problems)),
            "list": [{"path": p.path, "reason": p.reason, "detail": p.detail}
                     for p in sorted(problems, key=lambda p: (p.path, p.reason))]}


def build(archive: Path, out: Path, cfg: PrepConfig, config_path: str | None = None) -> dict:
    """Run the whole data stage; returns dataset_stats. Raises NothingUsable when no article survives."""
    if not archive.is_dir():
        raise NothingUsable(f"archive {archive} is not a folder: point ARCHIVE= at the root of your article backup")
    model_dir = resolve_model_dir(cfg.base_model)
    if not (model_dir / "tokenizer.json").is_file():
        raise NothingUsable(f"{model_dir} has no tokenizer.json (a fast tokenizer is needed to count tokens)")
    counts: Counter = Counter()
    files, problems = ingest.find_markdown(archive)
    workers = cfg.workers or os.cpu_count() or 1
    _init_worker(cfg, str(model_dir), str(archive))
    with _workers(workers) as pool:
        # The tokenizer loads (~6 s, mostly imports) while the workers read; the chunking workers, forked
        # later, inherit it. The main process also counts the rewrite prompts with it.
        loaded = _map(pool, _read_and_clean, [str(f) for f in files], "reading", meanwhile=_tokenizer)
    articles, boilerplate_top = _filter_articles(loaded, cfg, problems, counts)
    if not articles:
        found = Counter(p.reason for p in problems)
        raise NothingUsable(f"no usable article in {archive}: found {len(files)} Markdown file(s); skipped "
                            + (", ".join(f"{n} {r}" for r, n in sorted(found.items())) or "none"))
    with _workers(workers) as pool:
        chunked = _map(pool, _chunk_article, [(a.raw.article_id, a.paragraphs, a.lang) for a in articles], "chunking")
    by_id = {a.raw.article_id: a for a in articles}
    chunks = []
    for article, (records, chunk_counts) in zip(articles, chunked):
        counts.update(chunk_counts)
        chunks.extend(r | {"article_id": article.raw.article_id} for r in records)
    all_chunk_tokens = [c["tokens"] for c in chunks]
    chunks, near_pairs = _drop_near_duplicates(chunks, cfg, counts)

    val_ids = split.validation_articles([(a.raw.article_id, a.raw.date) for a in articles], cfg.split.mode,
                                        cfg.split.val_fraction, cfg.split.val_min_articles, cfg.seed)
    for c in chunks:
        c["split"] = "val" if c["article_id"] in val_ids else "train"
    chunks, dropped_ids, leak = _drop_leaking_chunks(chunks, cfg.split.overlap_chars)
    paraphrase_counts: Counter = Counter()
    accepted = _rewrite_inputs(chunks, cfg, model_dir, out, paraphrase_counts)
    rows = [row for c in chunks
            for row in _rows_for_chunk(c, by_id[c["article_id"]], accepted.get(c["chunk_id"]), cfg, counts)]
    rows.sort(key=lambda r: (r["meta"]["article_id"], r["meta"]["chunk_index"], TEMPLATE_ORDER[r["meta"]["template"]]))
    train = [r for r in rows if r["meta"]["split"] == "train"]
    val = [r for r in rows if r["meta"]["split"] == "val"]
    # Cache hits depend on what an earlier run left in $(DATA)/cache, so they go to the manifest: the stats
    # file stays byte-identical between a first run and a rerun.
    cache_use = {key: paraphrase_counts.pop(key, 0) for key in ("generated", "from_cache")}
    stats = _stats(archive, files, problems, articles, loaded, counts, boilerplate_top, all_chunk_tokens, chunks,
                   near_pairs, paraphrase_counts, train, val, val_ids, dropped_ids, leak, cfg)
    _write_outputs(out, _chunk_rows(chunks, by_id), train, val, stats, archive, articles, cfg, config_path,
                   model_dir, cache_use)
    return stats


def _stats(archive, files, problems, articles, loaded, counts, boilerplate_top, all_chunk_tokens, chunks, near_pairs,
           paraphrase_counts, train, val, val_ids, dropped_ids, leak, cfg) -> dict:
    repairs = sorted((item[0].path, r) for item in loaded if not isinstance(item, ingest.Problem) for r in item[0].repairs)
    per_template = {name: {t: sum(r["meta"]["template"] == t for r in rows) for t in TEMPLATE_ORDER}
                    for name, rows in (("train", train), ("val", val))}
    years: dict = defaultdict(lambda: {"articles": 0, "rows_train": 0, "rows_val": 0})
    for article in articles:
        years[article.raw.year or "unknown"]["articles"] += 1
    for name, rows in (("train", train), ("val", val)):
        for row in rows:
            years[row["meta"]["year"] or "unknown"][f"rows_{name}"] += 1
    skipped = _problem_stats(problems)
    return {
        "articles": {"markdown_files_found": len(files), "used": len(articles), "skipped": len(problems),
                     "skipped_by_reason": skipped["by_reason"], "skipped_list": skipped["list"],
                     "repaired_by_reason": dict(Counter(r.split(" (")[0] for _, r in repairs)),
                     "repaired_list": [{"path": p, "repair": r} for p, r in repairs]},
        "cleaning": {k: counts[k] for k in ("front_matter_dropped", "code_blocks_dropped", "html_tags_dropped",
                                            "images_dropped", "urls_dropped", "links_kept_as_text")},
        "boilerplate": {"paragraphs_removed": counts["boilerplate_paragraphs_removed"],
                        "lines_removed": counts["boilerplate_lines_removed"],
                        "threshold_articles": counts["boilerplate_threshold_articles"], "most_common": boilerplate_top},
        "repeated_paragraphs_removed": counts["repeated_paragraphs_removed"],
        "pii": {"enabled": cfg.pii.enabled, "replaced": {k: counts[k] for k in cfg.pii.kinds} if cfg.pii.enabled else {}},
        "chunks": {"built": len(all_chunk_tokens), "kept": len(chunks), "short_flagged": sum(c["short"] for c in chunks),
                   "long_sentences_split": counts["long_sentences_split"],
                   "resplit_after_exact_count": counts["chunks_resplit_after_exact_count"],
                   "near_duplicates_removed": counts["near_duplicate_chunks_removed"], "near_duplicate_pairs": near_pairs,
                   "token_histogram": split.histogram(all_chunk_tokens, TOKEN_BIN),
                   "min_tokens": min(all_chunk_tokens), "max_tokens": max(all_chunk_tokens)},
        "templates": {"continue_no_sentence_boundary_in_range": counts["continue_no_sentence_boundary_in_range"],
                      "continue_target_inside_prompt_skipped": counts["continue_target_inside_prompt_skipped"],
                      "rewrite_enabled": "rewrite" in cfg.templates.enabled,
                      "paraphrase": _paraphrase_report(paraphrase_counts)},
        "split": {"mode": cfg.split.mode, "val_fraction": cfg.split.val_fraction,
                  "val_min_articles": cfg.split.val_min_articles,
                  "articles_val": len(val_ids), "articles_train": len(articles) - len(val_ids),
                  "val_article_ids": sorted(val_ids)},
        "rows": {"train": len(train), "val": len(val), "per_template": per_template},
        "by_year": {y: years[y] for y in sorted(years)},
        "tokens": {name: {"completion_histogram": split.histogram([r["meta"]["completion_tokens"] for r in rows], TOKEN_BIN),
                          "prompt_histogram": split.histogram([r["meta"]["prompt_tokens"] for r in rows], TOKEN_BIN),
                          "completion_total": sum(r["meta"]["completion_tokens"] for r in rows),
                          "prompt_total": sum(r["meta"]["prompt_tokens"] for r in rows)}
                   for name, rows in (("train", train), ("val", val))},
        "leak_check": {"span_chars": cfg.split.overlap_chars, "val_chunks_dropped_for_overlap": len(dropped_ids),
                       "dropped": dropped_ids, **leak},
    }


def _write_outputs(out: Path, chunk_rows: list[dict], train, val, stats, archive: Path, articles, cfg, config_path, model_dir: Path,
                   paraphrase_cache: dict) -> None:
    """Outputs first (each atomic), manifest last: a manifest whose hashes match means a complete run."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for stale in out.glob(".*.tmp"):   # what a run killed mid-write leaves; never a finished output
        stale.unlink()
    write_jsonl(out / "chunks.jsonl", chunk_rows)
    write_jsonl(out / "sft_train.jsonl", train)
    write_jsonl(out / "sft_val.jsonl", val)
    write_json(out / "dataset_stats.json", stats)
    inputs = {p.relative_to(archive).as_posix(): sha256_file(p)
              for p in ingest.input_files(archive, [a.raw for a in articles])}
    write_json(out / "manifest.json", {
        "stage": "data", "archive": str(archive), "config_file": config_path, "config": to_dict(cfg),
        "seed": cfg.seed, "inputs": inputs, "outputs": {name: sha256_file(out / name) for name in OUTPUTS},
        "tokenizer": {"model_dir": cfg.base_model, "fingerprint": tokenizer_fingerprint(model_dir)},
        "paraphrase_cache": paraphrase_cache, "environment": environment()})


def _paraphrase_report(counts: Counter) -> dict:
    report = dict(sorted(counts.items()))
    if counts["requested"]:
        report["acceptance_rate"] = round(counts["accepted"] / counts["requested"], 4)
    return report


REWRITE_OFF = ("rewrite: off (templates.enabled). It is off in the CPU default because the bundled model's "
               "paraphrases copy the chunk or lose its content (docs/benchmarks.md); the GPU data profiles "
               "(prep/profiles/) turn it on with a model that paraphrases.")


def summary(stats: dict, out: Path) -> str:
    a, r = stats["articles"], stats["rows"]
    lines = [f"articles: {a['used']} used, {a['skipped']} skipped "
             + (f"({', '.join(f'{n} {k}' for k, n in sorted(a['skipped_by_reason'].items()))})" if a["skipped"] else ""),
             f"chunks: {stats['chunks']['kept']} kept ({stats['chunks']['short_flagged']} short, "
             f"{stats['chunks']['near_duplicates_removed']} near-duplicates removed)"]
    for name in ("train", "val"):
        per = ", ".join(f"{t} {n}" for t, n in r["per_template"][name].items())
        lines.append(f"{name}: {r[name]} rows ({per})")
    paraphrase = stats["templates"]["paraphrase"]
    if not stats["templates"]["rewrite_enabled"]:
        lines.append(REWRITE_OFF)
    elif paraphrase.get("requested"):
        rejected = ", ".join(f"{n} {k.removeprefix('rejected_')}" for k, n in paraphrase.items() if k.startswith("rejected_"))
        lines.append(f"rewrite: {paraphrase['accepted']} of {paraphrase['requested']} paraphrases accepted "
                     f"({paraphrase['acceptance_rate']:.0%})" + (f"; rejected: {rejected}" if rejected else ""))
    leak = stats["leak_check"]
    lines.append(f"leak check: {leak['val_chunks_in_train']} val chunks in train, "
                 f"{leak['val_chunks_sharing_span_with_train']} sharing a {leak['span_chars']}-char span "
                 f"({leak['val_chunks_dropped_for_overlap']} val chunks dropped whole to get there)")
    lines.append(f"outputs: {out}/ ({', '.join(OUTPUTS)}, manifest.json)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", required=True, help="root of the article archive (or a folder of .md files)")
    parser.add_argument("--out", default="data", help="output folder")
    parser.add_argument("--config", default="prep/config.yaml", help="YAML settings (see docs/configuration.md)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override settings, e.g. chunk.max_tokens=600")
    args = parser.parse_args(argv)
    offline.enable()
    try:
        cfg = load(PrepConfig, args.config, args.set)
        stats = build(Path(args.archive), Path(args.out), cfg, args.config)
    except (ConfigError, ModelNotFound, NothingUsable) as exc:
        print(f"make data: {exc}", file=sys.stderr)
        return 2
    print(summary(stats, Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
