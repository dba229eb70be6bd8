"""`make eval`: score a trained run against its base model on held-out author text. This file only orchestrates;
every metric lives in its module (perplexity, stylometry, attribution; the two guards, core/degeneracy.py and
core/copying.py, are shared with training's checkpoint selection).

    python -m eval.run --run outputs/demo --data data --reference data-reference --config eval/eval.yaml [--set k=v ...]

Order: perplexity (author held-out and a reference author, and their difference) -> generations of base,
adapter and few-shot -> the degenerate-text guard and the copying guard (before any style number) ->
stylometry -> attribution -> blind sheets -> metrics.json, report, figures. Writes $(RUN)/eval/: metrics.json
(docs/metrics-format.md), generations.jsonl, report.md, report.html, tables.tex, figures/, ab/ and manifest.json.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from core import copying, degeneracy, offline
from core.config import ConfigError, load, to_dict
from core.figures import training_curves, use_cjk_font
from core.jsonio import read_jsonl, sha256_file, sha256_tree, write_json, write_jsonl
from core.manifest import environment
from core.runs import QUANTISATION_KEYS, base_model_dir, load_run_model, read_run
from core.seed import seed_everything, stable_unit
from eval import attribution, figures, perplexity, report, stats, stylometry
from eval.ab_sheets import write_sheets
from eval.config import EvalConfig
from eval.data import EvalInputError, check_tokenizer, load_chunks, load_rows, reference_chunks, system_prompt
from eval.generations import SYSTEMS, blind_items, fewshot_passages, generate_all, select_prompts

METRICS_SCHEMA_VERSION = 2
CONTROLS = ("author_heldout", "shuffled_author")  # real held-out passages (must pass), shuffled (must fail)


def _bootstrap(cfg: EvalConfig, rng: np.random.Generator):
    def run(samples, statistic, paired=False):
        return stats.bootstrap_ci(samples, statistic, paired, cfg.bootstrap_resamples, cfg.confidence_level,
                                  cfg.bootstrap_method, rng, min_n_bca=cfg.min_articles_for_intervals)
    return run


def control_texts(heldout: list[str], chars: int, count: int, seed: int) -> dict[str, list[str]]:
    """A seeded sample of the author's held-out passages, cut to the generations' length, and the same passages
    with their characters shuffled within each sentence."""
    cut = attribution.passages(heldout, chars)
    real = sorted(cut, key=lambda p: (stable_unit(seed, "control", p), p))[:count]
    return {"author_heldout": real,
            "shuffled_author": [degeneracy.shuffle_within_sentences(t, seed) for t in real]}


def guard_section(model, tokenizer, system: str, texts: dict[str, list[str]], prompts: list[str],
                  inventory_texts: list[str], cfg: EvalConfig) -> tuple[dict, dict[str, list[dict]]]:
    """Every text's checks and each group's verdict. Fluency is the base model's (adapter off) per-character
    perplexity, judged against the author's real held-out passages; a system's outputs are also looked up in
    their own prompt (the user message), which the controls have none of."""
    names = sorted(texts)
    flat = [t for name in names for t in texts[name]]
    pp = cfg.perplexity
    with model.disable_adapter():
        fluency = perplexity.perplexity_per_char(model, tokenizer, system, pp.instruction, flat, pp.window, pp.stride,
                                                 pp.batch_size, desc="fluency (base model)")
    per_group, at = {}, 0
    for name in names:
        per_group[name] = fluency[at:at + len(texts[name])]
        at += len(texts[name])
    baseline = float(np.median([f for f in per_group["author_heldout"] if f is not None]))
    inventory = degeneracy.script_inventory(inventory_texts)
    g = cfg.guard
    limits = degeneracy.GuardLimits(g.min_distinct_2, g.max_repeat_share, g.max_foreign_script_share,
                                    g.max_fluency_ratio, g.max_prompt_echo_share, g.max_failing_share)
    lookups = [copying.TrainingText([prompt]) for prompt in prompts]
    echo = {name: [lookup.ngram_share(t) for lookup, t in zip(lookups, texts[name])] if name in SYSTEMS
            else [None] * len(texts[name]) for name in names}
    checks = {name: [degeneracy.check_text(t, inventory, limits, f, baseline, e)
                     for t, f, e in zip(texts[name], per_group[name], echo[name])] for name in names}
    verdicts = {name: degeneracy.system_verdict(checks[name], g.max_failing_share) for name in names}
    return {"limits": to_dict(g), "script_inventory": sorted(inventory),
            "fluency_baseline_per_char_perplexity": baseline,
            "systems": {name: verdicts[name] for name in SYSTEMS},
            "controls": {name: verdicts[name] for name in CONTROLS}}, checks


def copying_section(train_texts: list[str], texts: dict[str, list[str]]) -> tuple[dict, dict]:
    """Each system's copying from the training text beside the author's own held-out rate."""
    training = copying.TrainingText(train_texts)
    rows = {name: copying.copy_rows(training, texts[name]) for name in (*SYSTEMS, "author_heldout")}
    return {"ngram_chars": copying.COPY_NGRAM,
            "systems": {name: copying.compare_with_author(rows[name], rows["author_heldout"]) for name in SYSTEMS}}, rows


def draw_figures(out: Path, run_dir: Path, metrics: dict, style_data: dict, cfg: EvalConfig) -> dict[str, Path]:
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    use_cjk_font()
    documents = style_data["documents"]
    drawn = {
        "perplexity": figures.perplexity_per_article(metrics["perplexity"]["author_heldout"]["per_article"],
                                                     folder / "perplexity_per_article.png"),
        "MFW PCA": figures.mfw_pca(documents["z"], documents["groups"], folder / "mfw_pca.png"),
        "Cosine Delta dendrogram": figures.delta_dendrogram(documents["z"], documents["labels"], documents["groups"],
                                                            folder / "delta_dendrogram.png"),
        "sentence lengths": figures.sentence_lengths(style_data["sentence_lengths"], folder / "sentence_lengths.png"),
        "punctuation": figures.punctuation_profile(style_data["punctuation"], cfg.stylometry.top_punctuation,
                                                   folder / "punctuation.png"),
        "most frequent words": figures.mfw_heatmap(style_data["mfw"], style_data["frequencies"], 20,
                                                   folder / "mfw.png"),
        "attribution": figures.attribution_shares(
            metrics["attribution"]["classifiers"]["char_ngram"]["systems"], folder / "attribution.png"),
    }
    log = run_dir / "train_log.jsonl"
    log_rows = read_jsonl(log) if log.is_file() else []
    if any("loss" in r or "eval_loss" in r for r in log_rows):
        drawn["training curves"] = training_curves(log_rows, folder / "training_curves.png", "训练曲线 Training curves")
    return drawn


def evaluate(run_dir: Path, data_dir: Path, reference_dir: Path, cfg: EvalConfig) -> Path:
    """The whole evaluation; returns $(RUN)/eval."""
    offline.enable()
    started = time.perf_counter()
    timings = {}
    out = run_dir / "eval"
    seed_everything(cfg.seed)
    bootstrap = _bootstrap(cfg, np.random.default_rng(cfg.seed))

    train_rows, val_rows = load_rows(data_dir, "train"), load_rows(data_dir, "val")
    train_chunks, val_chunks = load_chunks(data_dir)
    manifest = read_run(run_dir)
    model_dir = base_model_dir(manifest)
    fingerprint = check_tokenizer(data_dir, model_dir)
    ref_chunks = reference_chunks(reference_dir, model_dir)
    model, tokenizer, _ = load_run_model(run_dir, manifest)
    system = system_prompt(train_rows)
    train_texts, heldout_texts = [c.text for c in train_chunks], [c.text for c in val_chunks]
    ref_texts = [c.text for c in ref_chunks]

    tick = time.perf_counter()
    pp = cfg.perplexity
    author_rows = perplexity.score_articles(
        model, tokenizer, system, val_chunks, perplexity.sample_articles(val_chunks, pp.max_articles, cfg.seed,
                                                                         "perplexity"), pp, "author held-out")
    reference_rows = perplexity.score_articles(
        model, tokenizer, system, ref_chunks, perplexity.sample_articles(ref_chunks, pp.reference_max_articles,
                                                                         cfg.seed, "reference-perplexity"),
        pp, "reference")
    perplexity_metrics = {"author_heldout": perplexity.compare(author_rows, bootstrap),
                          "reference": perplexity.compare(reference_rows, bootstrap),
                          "author_specific_gain": perplexity.author_specific_gain(author_rows, reference_rows,
                                                                                  bootstrap)}
    timings["perplexity_s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    prompts = select_prompts(val_rows, cfg.generation.templates, cfg.generation.num_prompts, cfg.seed)
    passages = fewshot_passages(train_chunks, cfg.fewshot.k, cfg.fewshot.passage_chars, cfg.seed)
    outputs = generate_all(model, tokenizer, prompts, passages, cfg.fewshot.instruction, cfg.generation, cfg.seed)
    timings["generation_s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    match_chars = cfg.attribution.passage_chars or max(20, int(np.median([len(o) for n in SYSTEMS for o in outputs[n]])))
    controls = control_texts(heldout_texts, match_chars, cfg.guard.control_passages, cfg.seed)
    guard, checks = guard_section(model, tokenizer, system, outputs | controls,
                                  [p.messages[-1]["content"] for p in prompts], train_texts + ref_texts, cfg)
    copy_metrics, copy_rows = copying_section(train_texts, outputs | controls)
    timings["guards_s"] = time.perf_counter() - tick
    write_jsonl(out / "generations.jsonl", [
        {"item_id": p.item_id, "template": p.template, "article_id": p.article_id, "chunk_id": p.chunk_id,
         "prompt": p.messages, "real": p.real, "outputs": {name: outputs[name][i] for name in SYSTEMS},
         "guard": {name: checks[name][i] for name in SYSTEMS}, "copying": {name: copy_rows[name][i] for name in SYSTEMS}}
        for i, p in enumerate(prompts)] + [{"item_id": "fewshot_passages", "passages": passages}]
        + [{"item_id": f"control_{name}", "texts": controls[name], "guard": checks[name]} for name in CONTROLS])

    tick = time.perf_counter()
    flagged = {name: guard["systems"][name]["flagged"] for name in SYSTEMS}
    copies = {name: copy_metrics["systems"][name]["above_author_rate"] for name in SYSTEMS}
    style, style_data = stylometry.section(train_chunks, val_chunks, ref_chunks, outputs, cfg.stylometry, bootstrap,
                                           flagged, copies, cfg.seed)
    at = cfg.attribution
    valid = {name: [c["passes"] for c in checks[name]] for name in (*SYSTEMS, *CONTROLS)}
    attributed = attribution.attribute(
        train_texts, heldout_texts, _by_article(ref_chunks), outputs, controls, passage_chars=match_chars,
        ngram_max=at.ngram_max, folds=at.folds, regularization=at.regularization, level=cfg.confidence_level,
        seed=cfg.seed, valid=valid)
    ab_items, rog_items = blind_items(prompts, outputs)
    ab_summary = write_sheets(out / "ab", ab_items, rog_items, cfg.seed)
    timings["analysis_s"] = time.perf_counter() - tick

    metrics = {
        "schema_version": METRICS_SCHEMA_VERSION, "seed": cfg.seed, "config": to_dict(cfg),
        "data": {"train_articles": len({c.article_id for c in train_chunks}), "train_chunks": len(train_chunks),
                 "heldout_articles": len({c.article_id for c in val_chunks}), "heldout_chunks": len(val_chunks),
                 "reference_articles": len({c.article_id for c in ref_chunks}), "reference_chunks": len(ref_chunks),
                 "reference_articles_scored": [r["article_id"] for r in reference_rows]},
        "statistics": {"confidence_level": cfg.confidence_level, "bootstrap_method": cfg.bootstrap_method,
                       "bootstrap_resamples": cfg.bootstrap_resamples,
                       "min_articles_for_intervals": cfg.min_articles_for_intervals},
        "perplexity": perplexity_metrics,
        "generation": {"prompts": len(prompts), "max_new_tokens": cfg.generation.max_new_tokens,
                       "templates": {t: sum(p.template == t for p in prompts) for t in cfg.generation.templates},
                       "output_chars": {n: stats.summary([len(o) for o in outputs[n]]) for n in SYSTEMS},
                       "length_matched_chars": match_chars},
        "guard": guard, "copying": copy_metrics, "stylometry": style, "attribution": attributed, "ab": ab_summary,
    }
    write_json(out / "metrics.json", metrics)
    samples = [{"item_id": p.item_id, "template": p.template, "task": p.task, "real": p.real,
                "outputs": {name: outputs[name][i] for name in SYSTEMS},
                "guard": {name: checks[name][i] for name in SYSTEMS}} for i, p in enumerate(prompts[:cfg.samples])]
    report.write(out, metrics, samples, draw_figures(out, run_dir, metrics, style_data, cfg))
    timings["total_s"] = time.perf_counter() - started

    inputs = {f"data/{name}": sha256_file(data_dir / name)
              for name in ("manifest.json", "chunks.jsonl", "sft_train.jsonl", "sft_val.jsonl")}
    inputs.update({f"reference/{name}": sha256_file(reference_dir / name) for name in ("manifest.json", "chunks.jsonl")})
    inputs.update({f"adapter/{name}": digest for name, digest in sha256_tree(run_dir / "adapter").items()})
    for name in ("manifest.json", "train_log.jsonl"):
        if (run_dir / name).is_file():
            inputs[f"run/{name}"] = sha256_file(run_dir / name)
    write_json(out / "manifest.json", {
        "stage": "eval", "run": str(run_dir), "data": str(data_dir), "reference": str(reference_dir),
        "seed": cfg.seed, "config": to_dict(cfg), "environment": environment(), "inputs": inputs,
        "base_model": {"dir": str(model_dir), "tokenizer_fingerprint": fingerprint,
                       "quantisation": {key: manifest["config"].get(key) for key in QUANTISATION_KEYS}},
        "outputs": {name: digest for name, digest in sha256_tree(out).items() if name != "manifest.json"},
        "timings_s": timings})
    return out


def _by_article(chunks) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for c in chunks:
        grouped.setdefault(c.article_id, []).append(c.text)
    return grouped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="run folder holding adapter/ (from `make train`)")
    parser.add_argument("--data", required=True, type=Path, help="data folder from `make data`")
    parser.add_argument("--reference", required=True, type=Path,
                        help="data folder `make data` built from another author's archive (`make reference-data`)")
    parser.add_argument("--config", default="eval/eval.yaml", help="eval settings (YAML)")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args()
    try:
        cfg = load(EvalConfig, args.config, args.overrides)
        out = evaluate(args.run, args.data, args.reference, cfg)
    except (ConfigError, EvalInputError, FileNotFoundError) as exc:
        sys.exit(f"eval: {exc}")
    print(f"report: {out / 'report.html'}\nmetrics: {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
