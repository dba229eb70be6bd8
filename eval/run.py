"""`make eval`: score a trained run against its base model on held-out author text.

    python -m eval.run --run outputs/demo --data data --config eval/eval.yaml [--reference DIR] [--set k=v ...]

Writes $(RUN)/eval/: metrics.json (every number; docs/metrics-format.md), generations.jsonl, report.md,
report.html, tables.tex, figures/, ab/ (blind sheets + key) and manifest.json.
"""
import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from core import offline
from core.config import ConfigError, load, to_dict
from core.figures import training_curves, use_cjk_font
from core.jsonio import read_jsonl, sha256_file, sha256_tree, write_json, write_jsonl
from core.manifest import environment
from core.model import load_causal_lm, load_tokenizer
from core.seed import seed_everything, stable_unit
from eval import attribution, figures, report, stats, stylometry
from eval.ab_sheets import write_sheets
from eval.config import EvalConfig
from eval.data import (Chunk, EvalInputError, base_model_of, check_tokenizer, chunks, load_rows, reference_chunks,
                       system_prompt)
from eval.generations import SYSTEMS, cut_at_sentence, fewshot_passages, generate_all, select_prompts
from eval.perplexity import encode, score

METRICS_SCHEMA_VERSION = 1
PROFILE_MEASURES = ("mattr", "mean_sentence_length")  # closeness = |value − author's mean|; others are distances


def _bootstrap(cfg: EvalConfig, rng: np.random.Generator):
    def run(samples, statistic, paired=False):
        return stats.bootstrap_ci(samples, statistic, paired, cfg.bootstrap_resamples, cfg.confidence_level,
                                  cfg.bootstrap_method, rng)
    return run


def score_articles(model, tokenizer, system: str, text_chunks: list[Chunk], cfg: EvalConfig, label: str) -> list[dict]:
    """Summed NLL of base and adapter per article (chunks scored separately, then added)."""
    by_article: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in text_chunks:
        by_article[chunk.article_id].append(chunk)
    chosen = sorted(by_article, key=lambda a: (stable_unit(cfg.seed, "perplexity", a), a))
    chosen = sorted(chosen[:cfg.perplexity.max_articles] if cfg.perplexity.max_articles else chosen)
    flat = [c for a in chosen for c in by_article[a]]
    pp = cfg.perplexity
    encoded = [encode(tokenizer, system, pp.instruction, c.text) for c in flat]
    adapter = score(model, tokenizer, encoded, pp.window, pp.stride, pp.batch_size, desc=f"scoring {label}: adapter")
    with model.disable_adapter():
        base = score(model, tokenizer, encoded, pp.window, pp.stride, pp.batch_size, desc=f"scoring {label}: base")
    totals = {a: {"article_id": a, "tokens": 0, "base_nll": 0.0, "adapter_nll": 0.0} for a in chosen}
    for chunk, (base_nll, count), (adapter_nll, _) in zip(flat, base, adapter):
        row = totals[chunk.article_id]
        row["tokens"] += count
        row["base_nll"] += base_nll
        row["adapter_nll"] += adapter_nll
    return [totals[a] for a in chosen if totals[a]["tokens"]]


def compare_perplexity(rows: list[dict], bootstrap) -> dict:
    tokens = np.array([r["tokens"] for r in rows], dtype=float)
    base = np.array([r["base_nll"] for r in rows])
    adapter = np.array([r["adapter_nll"] for r in rows])
    for r in rows:
        r["base_perplexity"] = float(np.exp(r["base_nll"] / r["tokens"]))
        r["adapter_perplexity"] = float(np.exp(r["adapter_nll"] / r["tokens"]))
    return {
        "articles": len(rows), "tokens": int(tokens.sum()),
        "base": {"nll_per_token": float(base.sum() / tokens.sum()), "perplexity": float(np.exp(base.sum() / tokens.sum()))},
        "adapter": {"nll_per_token": float(adapter.sum() / tokens.sum()),
                    "perplexity": float(np.exp(adapter.sum() / tokens.sum()))},
        "relative_change": bootstrap((adapter, base, tokens),
                                     lambda a, b, t: float(np.exp((a.sum() - b.sum()) / t.sum()) - 1), paired=True),
        "wilcoxon": stats.wilcoxon(adapter / tokens, base / tokens),
        "per_article": rows,
    }


def stylometry_section(train: list[str], heldout: list[str], reference: list[str], outputs: dict[str, list[str]],
                       cfg: EvalConfig, bootstrap) -> tuple[dict, dict]:
    """Metrics and the raw distributions the figures draw."""
    so = cfg.stylometry

    def profiles(texts: list[str]) -> list[stylometry.Profile]:
        return [stylometry.profile(t, so.ngram_order) for t in texts]

    train_p, target, reference_p = profiles(train), profiles(heldout), profiles(reference)
    groups = {"author_heldout": target, **{name: profiles(outputs[name]) for name in SYSTEMS}}
    mfw = stylometry.most_frequent_words(train_p, so.mfw_count)
    zscore = stylometry.ZScorer.fit(stylometry.mfw_frequencies(train_p + reference_p, mfw))
    target_z = zscore(stylometry.mfw_frequencies(target, mfw))
    measures = {name: stylometry.text_measures(p, zscore(stylometry.mfw_frequencies(p, mfw)), target_z, target,
                                               so.mattr_window, leave_one_out=name == "author_heldout")
                for name, p in groups.items()}
    author_mean = {m: float(np.mean(v)) for m, v in measures["author_heldout"].items()}

    def distance(group: str, measure: str) -> np.ndarray:
        values = np.asarray(measures[group][measure])
        return np.abs(values - author_mean[measure]) if measure in PROFILE_MEASURES else values

    comparisons = {}
    for x, y in (("adapter", "base"), ("adapter", "fewshot")):
        comparisons[f"{x}_vs_{y}"] = {}
        for measure in measures[x]:
            difference = bootstrap((distance(x, measure), distance(y, measure)), stats.mean_difference, paired=True)
            closer = x if difference["estimate"] < 0 else y if difference["estimate"] > 0 else "tie"
            certain = (difference["ci_high"] is not None and difference["ci_high"] < 0) or \
                      (difference["ci_low"] is not None and difference["ci_low"] > 0)
            comparisons[f"{x}_vs_{y}"][measure] = {
                "difference": difference, "closer": closer, "ci_excludes_zero": certain,
                "wilcoxon": stats.wilcoxon(distance(x, measure), distance(y, measure))}
    sentence_lengths = {g: [n for p in ps for n in p.sentence_lengths] for g, ps in groups.items()}
    paragraph_lengths = {g: [n for p in ps for n in p.paragraph_lengths] for g, ps in groups.items()}
    frequencies = {g: stylometry.mfw_frequencies(ps, mfw).mean(axis=0).tolist() if ps else [0.0] * len(mfw)
                   for g, ps in groups.items()}
    punctuation = {g: stylometry.punctuation_rates(ps) for g, ps in groups.items()}
    metrics = {
        "mfw": mfw,
        "texts": {g: len(ps) for g, ps in groups.items()},
        "groups": {g: {m: bootstrap((v,), stats.mean) for m, v in ms.items()} for g, ms in measures.items()},
        "comparisons": comparisons,
        "sentence_length_tests": {g: stats.two_sample(sentence_lengths[g], sentence_lengths["author_heldout"])
                                  for g in SYSTEMS},
        "paragraph_length_tests": {g: stats.two_sample(paragraph_lengths[g], paragraph_lengths["author_heldout"])
                                   for g in SYSTEMS},
        "sentence_length_summary": {g: _summary(v) for g, v in sentence_lengths.items()},
        "paragraph_length_summary": {g: _summary(v) for g, v in paragraph_lengths.items()},
        "punctuation_per_1000_chars": punctuation,
        "mfw_frequency": frequencies,
    }
    return metrics, {"sentence_lengths": sentence_lengths, "punctuation": punctuation, "mfw": mfw,
                     "frequencies": frequencies}


def _summary(values: list[int]) -> dict:
    if not values:
        return {"n": 0, "mean": None, "median": None, "sd": None}
    return {"n": len(values), "mean": float(np.mean(values)), "median": float(np.median(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def blind_items(prompts, outputs: dict[str, list[str]]) -> tuple[list[dict], list[dict]]:
    """A/B items (adapter vs base, same prompt) and real-or-generated items (continue prompts: the author's
    real continuation, cut to the generated length at a sentence end, vs the adapter's continuation)."""
    ab = [{"item_id": p.item_id, "prompt": p.task, "adapter": outputs["adapter"][i], "base": outputs["base"][i]}
          for i, p in enumerate(prompts)]
    rog = [{"item_id": p.item_id, "prompt": p.task, "generated": outputs["adapter"][i],
            "real": cut_at_sentence(p.real, max(len(outputs["adapter"][i]), 1))}
           for i, p in enumerate(prompts) if p.template == "continue"]
    return ab, rog


def draw_figures(out: Path, run_dir: Path, metrics: dict, style_data: dict, cfg: EvalConfig) -> dict[str, Path]:
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    use_cjk_font()
    drawn = {
        "perplexity": figures.perplexity_per_article(metrics["perplexity"]["author_heldout"]["per_article"],
                                                     folder / "perplexity_per_article.png"),
        "sentence lengths": figures.sentence_lengths(style_data["sentence_lengths"], folder / "sentence_lengths.png"),
        "punctuation": figures.punctuation_profile(style_data["punctuation"], cfg.stylometry.top_punctuation,
                                                   folder / "punctuation.png"),
        "most frequent words": figures.mfw_heatmap(style_data["mfw"], style_data["frequencies"], 20,
                                                   folder / "mfw.png"),
        "attribution": figures.attribution_shares(metrics["attribution"]["systems"], folder / "attribution.png"),
    }
    log = run_dir / "train_log.jsonl"
    log_rows = read_jsonl(log) if log.is_file() else []
    if any("loss" in r or "eval_loss" in r for r in log_rows):
        drawn["training curves"] = training_curves(log_rows, folder / "training_curves.png", "训练曲线 Training curves")
    return drawn


def evaluate(run_dir: Path, data_dir: Path, cfg: EvalConfig, reference: Path | None = None) -> Path:
    """The whole evaluation; returns $(RUN)/eval."""
    offline.enable()
    started = time.perf_counter()
    timings = {}
    out = run_dir / "eval"
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    bootstrap = _bootstrap(cfg, rng)

    train_rows, val_rows = load_rows(data_dir, "train"), load_rows(data_dir, "val")
    model_dir, quantisation = base_model_of(run_dir)
    fingerprint = check_tokenizer(data_dir, model_dir)
    ref_chunks = reference_chunks(reference, out) if reference else []
    train_chunks, val_chunks = chunks(train_rows), chunks(val_rows)
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, adapter=run_dir / "adapter", **quantisation)
    system = system_prompt(train_rows)

    tick = time.perf_counter()
    perplexity = {"author_heldout": compare_perplexity(
        score_articles(model, tokenizer, system, val_chunks, cfg, "author held-out"), bootstrap),
        "reference": compare_perplexity(score_articles(model, tokenizer, system, ref_chunks, cfg, "reference"),
                                        bootstrap) if ref_chunks else None}
    timings["perplexity_s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    prompts = select_prompts(val_rows, cfg.generation.templates, cfg.generation.num_prompts, cfg.seed)
    passages = fewshot_passages(train_chunks, cfg.fewshot.k, cfg.fewshot.passage_chars, cfg.seed)
    outputs = generate_all(model, tokenizer, prompts, passages, cfg.fewshot.instruction, cfg.generation, cfg.seed)
    timings["generation_s"] = time.perf_counter() - tick
    write_jsonl(out / "generations.jsonl", [
        {"item_id": p.item_id, "template": p.template, "article_id": p.article_id, "chunk_id": p.chunk_id,
         "prompt": p.messages, "real": p.real, "outputs": {name: outputs[name][i] for name in SYSTEMS}}
        for i, p in enumerate(prompts)] + [{"item_id": "fewshot_passages", "passages": passages}])

    tick = time.perf_counter()
    train_texts, heldout_texts = [c.text for c in train_chunks], [c.text for c in val_chunks]
    ref_texts = [c.text for c in ref_chunks]
    style, style_data = stylometry_section(train_texts, heldout_texts, ref_texts, outputs, cfg, bootstrap)
    at = cfg.attribution
    attributed = attribution.attribute(train_texts, heldout_texts, ref_texts, outputs, at.passage_chars,
                                       at.ngram_max, at.folds, at.regularization, cfg.confidence_level, cfg.seed)
    ab_items, rog_items = blind_items(prompts, outputs)
    ab_summary = write_sheets(out / "ab", ab_items, rog_items, cfg.seed)
    timings["analysis_s"] = time.perf_counter() - tick

    metrics = {
        "schema_version": METRICS_SCHEMA_VERSION, "seed": cfg.seed, "config": to_dict(cfg),
        "data": {"train_articles": len({c.article_id for c in train_chunks}), "train_chunks": len(train_chunks),
                 "heldout_articles": len({c.article_id for c in val_chunks}), "heldout_chunks": len(val_chunks),
                 "reference_articles": len({c.article_id for c in ref_chunks}), "reference_chunks": len(ref_chunks)},
        "perplexity": perplexity,
        "generation": {"prompts": len(prompts), "max_new_tokens": cfg.generation.max_new_tokens,
                       "templates": {t: sum(p.template == t for p in prompts) for t in cfg.generation.templates},
                       "output_chars": {n: _summary([len(o) for o in outputs[n]]) for n in SYSTEMS}},
        "stylometry": style, "attribution": attributed, "ab": ab_summary,
    }
    write_json(out / "metrics.json", metrics)
    report.write(out, metrics, draw_figures(out, run_dir, metrics, style_data, cfg))
    timings["total_s"] = time.perf_counter() - started

    inputs = {f"data/{name}": sha256_file(data_dir / name)
              for name in ("manifest.json", "sft_train.jsonl", "sft_val.jsonl")}
    inputs.update({f"adapter/{name}": digest for name, digest in sha256_tree(run_dir / "adapter").items()})
    for name in ("manifest.json", "train_log.jsonl"):
        if (run_dir / name).is_file():
            inputs[f"run/{name}"] = sha256_file(run_dir / name)
    outputs_hashes = {name: digest for name, digest in sha256_tree(out).items()
                      if name != "manifest.json" and not name.startswith("reference_data/")}
    write_json(out / "manifest.json", {
        "stage": "eval", "run": str(run_dir), "data": str(data_dir), "reference": str(reference) if reference else None,
        "seed": cfg.seed, "config": to_dict(cfg), "environment": environment(), "inputs": inputs,
        "base_model": {"dir": str(model_dir), "quantisation": quantisation, "tokenizer_fingerprint": fingerprint},
        "outputs": outputs_hashes, "timings_s": timings})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="run folder holding adapter/ (from `make train`)")
    parser.add_argument("--data", required=True, type=Path, help="data folder from `make data`")
    parser.add_argument("--config", default="eval/eval.yaml", help="eval settings (YAML)")
    parser.add_argument("--reference", type=Path, help="another author's archive or built data folder")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        cfg = load(EvalConfig, args.config, args.overrides)
        out = evaluate(args.run, args.data, cfg, args.reference)
    except (ConfigError, EvalInputError, FileNotFoundError) as exc:
        sys.exit(f"eval: {exc}")
    print(f"report: {out / 'report.html'}\nmetrics: {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
