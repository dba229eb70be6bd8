"""What `make data` did, for the user: dataset_stats.json (every skip, repair, removal and count, by reason)
and the summary printed at the end. The pipeline fills a `Report` step by step; nothing here changes data.
"""
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from core.rows import SftRow
from prep.chunk import Chunk
from prep.config import PrepConfig
from prep.filter import Article
from prep.ingest import Problem
from prep.rows import TEMPLATE_ORDER

TOKEN_BIN = 100
CLEANING_COUNTS = ("front_matter_dropped", "code_blocks_dropped", "html_tags_dropped", "images_dropped",
                   "urls_dropped", "links_kept_as_text")
REWRITE_OFF = ("rewrite: off (templates.enabled). It is off in the CPU default because the bundled model's "
               "paraphrases copy the chunk or lose its content (docs/benchmarks.md); the GPU data profiles "
               "(prep/profiles/) turn it on with a model that paraphrases.")


@dataclass
class Report:
    files_found: int = 0
    problems: list[Problem] = field(default_factory=list)       # every file or article skipped, with its reason
    repairs: list[tuple[str, str]] = field(default_factory=list)  # (path, repair) of every article read
    counts: Counter = field(default_factory=Counter)             # removals and fixes, by kind
    boilerplate_most_common: list[dict] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)        # the articles used
    chunk_tokens_built: list[int] = field(default_factory=list)  # every chunk, before any was removed
    near_duplicate_pairs: list[dict] = field(default_factory=list)
    val_article_ids: set[str] = field(default_factory=set)
    leak_dropped: list[str] = field(default_factory=list)
    leak_recheck: dict = field(default_factory=dict)
    paraphrase: Counter = field(default_factory=Counter)


def histogram(values: list[int], bin_width: int = TOKEN_BIN) -> dict[str, int]:
    """Counts per bin, keyed by the bin's lower edge (stable JSON keys)."""
    counts: dict[str, int] = {}
    for value in sorted(values):
        edge = f"{math.floor(value / bin_width) * bin_width:05d}"
        counts[edge] = counts.get(edge, 0) + 1
    return counts


def _paraphrase_report(counts: Counter) -> dict:
    report = dict(sorted(counts.items()))
    if counts["requested"]:
        report["acceptance_rate"] = round(counts["accepted"] / counts["requested"], 4)
    return report


def _token_report(rows: list[SftRow]) -> dict:
    completion = [row.meta.completion_tokens for row in rows]
    prompt = [row.meta.prompt_tokens for row in rows]
    return {"completion_histogram": histogram(completion), "prompt_histogram": histogram(prompt),
            "completion_total": sum(completion), "prompt_total": sum(prompt)}


def dataset_stats(report: Report, chunks: list[Chunk], train: list[SftRow], val: list[SftRow], cfg: PrepConfig) -> dict:
    counts, built = report.counts, report.chunk_tokens_built
    repairs = sorted(report.repairs)
    years: dict = defaultdict(lambda: {"articles": 0, "rows_train": 0, "rows_val": 0})
    for article in report.articles:
        years[article.info.year or "unknown"]["articles"] += 1
    for name, rows in (("train", train), ("val", val)):
        for row in rows:
            years[row.meta.year or "unknown"][f"rows_{name}"] += 1
    return {
        "articles": {"markdown_files_found": report.files_found, "used": len(report.articles),
                     "skipped": len(report.problems),
                     "skipped_by_reason": dict(Counter(p.reason for p in report.problems)),
                     "skipped_list": [{"path": p.path, "reason": p.reason, "detail": p.detail}
                                      for p in sorted(report.problems, key=lambda p: (p.path, p.reason))],
                     "repaired_by_reason": dict(Counter(r.split(" (")[0] for _, r in repairs)),
                     "repaired_list": [{"path": p, "repair": r} for p, r in repairs]},
        "cleaning": {k: counts[k] for k in CLEANING_COUNTS},
        "boilerplate": {"paragraphs_removed": counts["boilerplate_paragraphs_removed"],
                        "lines_removed": counts["boilerplate_lines_removed"],
                        "threshold_articles": counts["boilerplate_threshold_articles"],
                        "most_common": report.boilerplate_most_common},
        "repeated_paragraphs_removed": counts["repeated_paragraphs_removed"],
        "pii": {"enabled": cfg.pii.enabled, "replaced": {k: counts[k] for k in cfg.pii.kinds} if cfg.pii.enabled else {}},
        "chunks": {"built": len(built), "kept": len(chunks), "short_flagged": sum(c.short for c in chunks),
                   "long_sentences_split": counts["long_sentences_split"],
                   "resplit_after_exact_count": counts["chunks_resplit_after_exact_count"],
                   "near_duplicates_removed": counts["near_duplicate_chunks_removed"],
                   "near_duplicate_pairs": report.near_duplicate_pairs,
                   "token_histogram": histogram(built), "min_tokens": min(built), "max_tokens": max(built)},
        "templates": {"continue_no_sentence_boundary_in_range": counts["continue_no_sentence_boundary_in_range"],
                      "continue_target_inside_prompt_skipped": counts["continue_target_inside_prompt_skipped"],
                      "rewrite_enabled": "rewrite" in cfg.templates.enabled,
                      "paraphrase": _paraphrase_report(report.paraphrase)},
        "split": {"mode": cfg.split.mode, "val_fraction": cfg.split.val_fraction,
                  "val_min_articles": cfg.split.val_min_articles, "articles_val": len(report.val_article_ids),
                  "articles_train": len(report.articles) - len(report.val_article_ids),
                  "val_article_ids": sorted(report.val_article_ids)},
        "rows": {"train": len(train), "val": len(val),
                 "per_template": {name: {t: sum(r.meta.template == t for r in rows) for t in TEMPLATE_ORDER}
                                  for name, rows in (("train", train), ("val", val))}},
        "by_year": {y: years[y] for y in sorted(years)},
        "tokens": {"train": _token_report(train), "val": _token_report(val)},
        "leak_check": {"span_chars": cfg.split.overlap_chars, "val_chunks_dropped_for_overlap": len(report.leak_dropped),
                       "dropped": report.leak_dropped, **report.leak_recheck},
    }


def summary(stats: dict, out: Path, outputs: tuple[str, ...]) -> str:
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
    lines.append(f"outputs: {out}/ ({', '.join(outputs)}, manifest.json)")
    return "\n".join(lines)
