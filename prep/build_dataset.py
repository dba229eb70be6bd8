"""`make data`: archive -> $(DATA)/chunks.jsonl, sft_train.jsonl, sft_val.jsonl, dataset_stats.json, manifest.json.

    python -m prep.build_dataset --archive corpora/luxun-archive --out data [--config prep/config.yaml] [--set k=v ...]

`build` is the whole stage, one step per module, in the README's order: find and read the articles
(prep/ingest.py) -> Markdown to paragraphs (prep/clean.py) -> boilerplate, in-article repeats, PII, too-short
and duplicate articles (prep/filter.py) -> token-aware chunks (prep/chunk.py) -> near-duplicate chunks across
articles (prep/dedup.py) -> split by article and leak check on whole chunks (prep/split.py) -> continue /
expand / rewrite rows (prep/rows.py, prep/paraphrase.py) -> report (prep/report.py) -> atomic outputs and the
manifest. The per-article steps run in worker processes (prep/workers.py); the result does not depend on how many.
"""
import argparse
import sys
from collections import Counter
from functools import partial
from pathlib import Path

from core import offline
from core.chunks import ChunkRecord
from core.config import ConfigError, load, to_dict
from core.jsonio import sha256_file, write_json, write_jsonl
from core.manifest import environment
from core.model import ModelNotFound, resolve_model_dir, tokenizer_fingerprint
from core.rows import SPLIT_FILES, SftRow
from prep import chunk, clean, dedup, ingest, paraphrase, rows, split
from prep.config import PrepConfig
from prep.filter import filter_articles
from prep.report import Report, dataset_stats, summary
from prep.workers import Workers

OUTPUTS = ("chunks.jsonl", SPLIT_FILES["train"], SPLIT_FILES["val"], "dataset_stats.json")


class NothingUsable(RuntimeError):
    pass


def read_and_clean(path: Path, root: Path) -> tuple[ingest.ArticleInfo, clean.CleanArticle] | ingest.Problem:
    """One Markdown file read (or the reason it cannot be) and cleaned to paragraphs."""
    raw = ingest.read_article(path, root)
    return raw if isinstance(raw, ingest.Problem) else (raw.info, clean.markdown_to_paragraphs(raw.text))


def build(archive: Path, out: Path, cfg: PrepConfig, config_path: str | None = None) -> dict:
    """Run the whole data stage; returns dataset_stats. Raises NothingUsable when no article survives."""
    model_dir = _tokenizer_folder(archive, cfg)
    report = Report()
    with Workers(cfg.workers, model_dir) as workers:
        # ingest + clean: every Markdown file read and turned into paragraphs (or skipped, with its reason)
        files, report.problems = ingest.find_markdown(archive)
        report.files_found = len(files)
        loaded = workers.map("reading", partial(read_and_clean, root=archive), files)
        report.problems += [item for item in loaded if isinstance(item, ingest.Problem)]
        cleaned = [item for item in loaded if not isinstance(item, ingest.Problem)]
        report.repairs = [(info.path, repair) for info, _ in cleaned for repair in info.repairs]

        # filter: boilerplate, repeats and PII out; too-short, picture-only and duplicate articles skipped
        articles, skipped, report.boilerplate_most_common = filter_articles(cleaned, cfg.clean, cfg.pii, report.counts)
        report.problems += skipped
        report.articles = articles
        if not articles:
            raise NothingUsable(_nothing_usable(archive, len(files), report.problems))

        # chunk: token-aware chunks of each article
        chunked = workers.map("chunking", partial(chunk.chunk_article, settings=cfg.chunk), articles)
        chunks = [c for article_chunks, _ in chunked for c in article_chunks]
        for _, counts in chunked:
            report.counts.update(counts)
        report.chunk_tokens_built = [c.tokens for c in chunks]

        # dedup: near-duplicate chunks across articles
        signatures = workers.map("signatures", partial(dedup.signature, settings=cfg.dedup), [c.text for c in chunks])
        chunks, report.near_duplicate_pairs = dedup.drop_near_duplicates(chunks, signatures, cfg.dedup, report.counts)

        # split by article, then drop validation chunks that leak into training
        report.val_article_ids = split.assign(chunks, [(a.info.article_id, a.info.date) for a in articles],
                                              cfg.split, cfg.seed)
        chunks, report.leak_dropped, report.leak_recheck = split.drop_leaking(chunks, cfg.split.overlap_chars)

        # rows: continue / expand (and rewrite, from accepted paraphrases) rows of the kept chunks
        paraphrases = paraphrase.rewrite_inputs(chunks, cfg, model_dir, out, report.paraphrase)
        info = {a.info.article_id: a.info for a in articles}
        made = workers.map("rows", partial(rows.rows_for_chunk, settings=cfg.templates, seed=cfg.seed), chunks,
                           [info[c.article_id] for c in chunks], [paraphrases.get(c.chunk_id) for c in chunks])
    all_rows = [row for chunk_rows, _ in made for row in chunk_rows]
    for _, counts in made:
        report.counts.update(counts)
    all_rows.sort(key=lambda r: (r.meta.article_id, r.meta.chunk_index, rows.TEMPLATE_ORDER.index(r.meta.template)))
    train = [r for r in all_rows if r.meta.split == "train"]
    val = [r for r in all_rows if r.meta.split == "val"]

    # report and outputs. Cache hits depend on what an earlier run left in $(DATA)/cache, so they go to the
    # manifest: the stats file stays byte-identical between a first run and a rerun.
    cache_use = {key: report.paraphrase.pop(key, 0) for key in ("generated", "from_cache")}
    stats = dataset_stats(report, chunks, train, val, cfg)
    _write_outputs(out, chunks, info, train, val, stats)
    _write_manifest(out, archive, list(info.values()), cfg, config_path, model_dir, cache_use)
    return stats


def _tokenizer_folder(archive: Path, cfg: PrepConfig) -> Path:
    """The base model folder whose tokenizer counts tokens, after checking the inputs exist."""
    if not archive.is_dir():
        raise NothingUsable(f"archive {archive} is not a folder: point ARCHIVE= at the root of your article backup")
    model_dir = resolve_model_dir(cfg.base_model)
    if not (model_dir / "tokenizer.json").is_file():
        raise NothingUsable(f"{model_dir} has no tokenizer.json (a fast tokenizer is needed to count tokens)")
    return model_dir


def _nothing_usable(archive: Path, files: int, problems: list[ingest.Problem]) -> str:
    found = Counter(p.reason for p in problems)
    return (f"no usable article in {archive}: found {files} Markdown file(s); skipped "
            + (", ".join(f"{n} {r}" for r, n in sorted(found.items())) or "none"))


def _write_outputs(out: Path, chunks: list[chunk.Chunk], info: dict[str, ingest.ArticleInfo], train: list[SftRow],
                   val: list[SftRow], stats: dict) -> None:
    """Each output atomically; a stale manifest goes first, so none can vouch for half-written outputs."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for stale in out.glob(".*.tmp"):   # what a run killed mid-write leaves; never a finished output
        stale.unlink()
    write_jsonl(out / "chunks.jsonl", (
        ChunkRecord(article_id=c.article_id, chunk_id=c.chunk_id, chunk_index=c.index, split=c.split, text=c.text,
                    tokens=c.tokens, lang=c.lang, title=info[c.article_id].title).as_json()
        for c in sorted(chunks, key=lambda c: (c.article_id, c.index))))
    write_jsonl(out / SPLIT_FILES["train"], (row.as_json() for row in train))
    write_jsonl(out / SPLIT_FILES["val"], (row.as_json() for row in val))
    write_json(out / "dataset_stats.json", stats)


def _write_manifest(out: Path, archive: Path, articles: list[ingest.ArticleInfo], cfg: PrepConfig,
                    config_path: str | None, model_dir: Path, paraphrase_cache: dict) -> None:
    """Last: a manifest whose hashes match means a complete run."""
    inputs = {p.relative_to(archive).as_posix(): sha256_file(p) for p in ingest.input_files(archive, articles)}
    write_json(out / "manifest.json", {
        "stage": "data", "archive": str(archive), "config_file": config_path, "config": to_dict(cfg),
        "seed": cfg.seed, "inputs": inputs, "outputs": {name: sha256_file(out / name) for name in OUTPUTS},
        "tokenizer": {"model_dir": cfg.base_model, "fingerprint": tokenizer_fingerprint(model_dir)},
        "paraphrase_cache": paraphrase_cache, "environment": environment()})


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
    print(summary(stats, Path(args.out), OUTPUTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
