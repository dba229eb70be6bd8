"""`make bench` data section: `make data` (no paraphrasing) on a synthetic archive of 10,000 articles
(~20 M characters) and on one twice that size; prints seconds, articles/s and the time ratio for 2x input.
Targets on 2 cores: <= 120 s for 10,000 articles and <= 2.2x the time for 2x the input.

The synthetic articles are seeded shuffles of the bundled archive's sentences laid out as a WeChat backup
(meta.json, front matter, a signature line under every post), so every stage does its real work.
"""
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from core import offline
from core.config import load
from core.manifest import REPO_ROOT
from core.text import split_sentences
from prep.build_dataset import build
from prep.clean import markdown_to_paragraphs
from prep.config import PrepConfig

ARTICLES = 10_000
CHARS_PER_ARTICLE = 2_000
SIGNATURE = "—— 本文首发于公众号，转载请联系作者 ——"


def _sentences() -> list[str]:
    sentences = []
    for path in sorted((REPO_ROOT / "corpora" / "luxun-archive").rglob("*.md")):
        for paragraph in markdown_to_paragraphs(path.read_text(encoding="utf-8")).paragraphs:
            sentences.extend(s for s in split_sentences(paragraph) if len(s) > 4)
    return sentences


def make_archive(root: Path, count: int, sentences: list[str], seed: int = 0) -> int:
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        date = f"{2000 + i % 20}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        folder = root / "作者" / date[:4] / f"{date}_文章{i:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        paragraphs, size = [], 0
        while size < CHARS_PER_ARTICLE:
            paragraph = "".join(rng.choice(sentences) for _ in range(rng.randint(2, 6)))
            paragraphs.append(paragraph)
            size += len(paragraph)
        text = f"---\ntitle: 文章{i}\n---\n\n" + "\n\n".join(paragraphs) + f"\n\n{SIGNATURE}\n"
        (folder / f"{date}_文章{i:05d}.md").write_text(text, encoding="utf-8")
        (folder / "meta.json").write_text(json.dumps({"title": f"文章{i}", "date": date}), encoding="utf-8")
        total += len(text)
    return total


def time_build(count: int, sentences: list[str], scratch: Path) -> tuple[float, int, dict]:
    archive = scratch / f"archive{count}"
    chars = make_archive(archive, count, sentences)
    cfg = load(PrepConfig, None, ["paraphrase.max_chunks=0"])
    start = time.perf_counter()
    stats = build(archive, scratch / f"out{count}", cfg)
    elapsed = time.perf_counter() - start
    shutil.rmtree(archive)
    return elapsed, chars, stats


def main() -> None:
    offline.enable()
    sentences = _sentences()
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        results = {}
        for count in (ARTICLES, 2 * ARTICLES):
            seconds, chars, stats = time_build(count, sentences, Path(tmp))
            results[count] = seconds
            print(f"make data, {count} articles ({chars / 1e6:.1f} M chars): {seconds:.1f} s, "
                  f"{count / seconds:.0f} articles/s, {stats['rows']['train'] + stats['rows']['val']} rows", flush=True)
    ratio = results[2 * ARTICLES] / results[ARTICLES]
    print(f"time ratio for 2x input: {ratio:.2f}x (target <= 2.2x); 10k articles in {results[ARTICLES]:.0f} s "
          f"(target <= 120 s)")


if __name__ == "__main__":
    main()
