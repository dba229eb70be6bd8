"""`make pairs`: preference pairs from the author's own archive, for `make train STAGE=dpo`.

    python -m train.pairs --run outputs/demo --data data --out outputs/demo/pairs [--config train/pairs.yaml]

For a seeded choice of the continue rows of each split: chosen = the author's real continuation of the
opening, rejected = the run's adapter's (source=base: its base model's) continuation of the same opening,
sampled with a fixed seed. Both are cut at sentence ends to the same length (within length_tolerance), so
length cannot decide the preference. A pair is dropped, and counted under its reason, when the rejected text
finished no sentence, when it copies the author (an echoed opening, or the author recited from the model's
memory, is the author's real text, not a rejected one), when no common cut exists, when it is shorter than
min_chars, or when both texts are the same. Generations are cached by content
hash (core/generation_cache.py): a rerun generates nothing. Validation pairs come only from validation rows.
Outputs: pairs_train.jsonl, pairs_val.jsonl (core/pairs.py), manifest.json, cache/.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

from core import offline

offline.enable()

from core.chunks import ChunkFileError, read_chunks  # noqa: E402
from core.config import ConfigError, to_dict  # noqa: E402
from core.copying import TrainingText  # noqa: E402
from core.generate import Reply  # noqa: E402
from core.generation_cache import GenerationCache  # noqa: E402
from core.jsonio import dumps, sha256_file, sha256_tree, write_json, write_jsonl  # noqa: E402
from core.manifest import environment  # noqa: E402
from core.model import ModelNotFound, TokenizerMismatch, check_data_tokenizer, model_files_sha256  # noqa: E402
from core.pairs import PAIR_FILES  # noqa: E402
from core.rows import RowFileError, read_rows  # noqa: E402
from core.runs import QUANTISATION_KEYS, RunNotFound, base_model_dir, load_run_model, read_run  # noqa: E402
from core.seed import stable_unit  # noqa: E402
from core.text import complete_sentences, sentence_prefixes  # noqa: E402
from train.config import PairsConfig, load_pairs_config  # noqa: E402

# The settings a rejected text depends on (the cut and the filters apply after the cache).
GENERATION_KEYS = ("source", "max_new_tokens", "batch_size", "temperature", "top_p", "repetition_penalty", "seed")
PAIRS_CONFIG_HINT = "the pairs config (train/pairs.yaml, or SET=)"
REASONS = ("rejected_unfinished", "rejected_copies_author", "no_common_cut", "too_short", "rejected_equals_chosen")


def matched_cut(chosen: str, rejected: str, tolerance: float) -> tuple[str, str]:
    """The longest starts of both texts that end at sentence ends and differ in length by at most `tolerance`
    of the shorter one (ties: the longer pair); ("", "") when no such pair exists."""
    best, best_key = ("", ""), (0, 0)
    for a in sentence_prefixes(chosen):
        for b in sentence_prefixes(rejected):
            key = (min(len(a), len(b)), len(a) + len(b))
            if abs(len(a) - len(b)) <= tolerance * key[0] and key > best_key:
                best, best_key = (a, b), key
    return best


def make_pair(row: dict, reply: Reply, author: TrainingText, source: str, cfg: PairsConfig) -> tuple[dict | None, str]:
    """(the pair, "kept") or (None, the reason it was dropped). `author`: every chunk of the archive, so that a
    rejected text that repeats the opening back, or recites the author from the model's memory, is caught:
    it is the author's real text, not a rejected one."""
    rejected = reply.text.strip() if reply.ended else complete_sentences(reply.text)
    if not rejected:
        return None, "rejected_unfinished"
    if author.ngram_share(rejected) > cfg.max_copy_share:
        return None, "rejected_copies_author"
    chosen, rejected = matched_cut(row["completion"][0]["content"].strip(), rejected, cfg.length_tolerance)
    if not chosen or not rejected:
        return None, "no_common_cut"
    if min(len(chosen), len(rejected)) < cfg.min_chars:
        return None, "too_short"
    if chosen == rejected:
        return None, "rejected_equals_chosen"
    meta = row["meta"]
    return {"prompt": row["prompt"], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "meta": {"article_id": meta["article_id"], "chunk_id": meta["chunk_id"], "split": meta["split"],
                     "source": source, "chosen_chars": len(chosen), "rejected_chars": len(rejected)}}, "kept"


def chosen_rows(data_dir: Path, split: str, count: int, seed: int) -> list[dict]:
    """A seeded choice of at most `count` continue rows of the split (by chunk id, so it does not depend on
    file order)."""
    rows = [r for r in read_rows(data_dir, split) if r["meta"]["template"] == "continue"]
    rows.sort(key=lambda r: (stable_unit(seed, "pairs", r["meta"]["chunk_id"]), r["meta"]["chunk_id"]))
    return rows[:count]


class RejectedWriter:
    """The model's continuations of the chosen rows' openings, batch by batch through the cache; the model is
    loaded on the first batch the cache does not hold."""

    def __init__(self, run: Path, manifest: dict, cfg: PairsConfig, cache: GenerationCache):
        self.run, self.manifest, self.cfg, self.cache = run, manifest, cfg, cache
        self.model = self.tokenizer = None
        self.counts = Counter()

    def _generate(self, conversations: list[list[dict]], seed: int, desc: str) -> list[Reply]:
        import contextlib

        from core.generate import generate_replies

        if self.model is None:
            self.model, self.tokenizer, _ = load_run_model(self.run, self.manifest)
        use_base = self.model.disable_adapter() if self.cfg.source == "base" else contextlib.nullcontext()
        with use_base:
            return generate_replies(self.model, self.tokenizer, conversations, self.cfg.max_new_tokens, seed,
                                    batch_size=len(conversations), do_sample=True, temperature=self.cfg.temperature,
                                    top_p=self.cfg.top_p, repetition_penalty=self.cfg.repetition_penalty, desc=desc)

    def replies(self, rows: list[dict], first_seed: int) -> list[Reply]:
        """One reply per row; batch i of the rows is sampled with seed first_seed + i."""
        size = self.cfg.batch_size
        replies = []
        for batch_no, start in enumerate(range(0, len(rows), size)):
            conversations = [r["prompt"] for r in rows[start:start + size]]
            keys, seed = [dumps(c, indent=None) for c in conversations], first_seed + batch_no
            found = self.cache.get(seed, keys)
            if found is None:
                generated = self._generate(conversations, seed, f"rejected texts, batch {batch_no + 1}")
                found = [{"text": reply.text, "ended": reply.ended} for reply in generated]
                self.cache.put(seed, keys, found)
                self.counts["generated"] += len(found)
            else:
                self.counts["from_cache"] += len(found)
            replies += [Reply(entry["text"], entry["ended"]) for entry in found]
        return replies


def build(run: Path, data_dir: Path, out: Path, cfg: PairsConfig) -> dict:
    """Write the pairs and their manifest into `out`; returns the manifest."""
    manifest = read_run(run)
    model_dir = base_model_dir(manifest)
    data_manifest = check_data_tokenizer(data_dir, model_dir)
    author = TrainingText([c.text for c in read_chunks(data_dir)])
    generation = {key: getattr(cfg, key) for key in GENERATION_KEYS}
    # Everything a rejected text depends on besides its batch: weights, tokenizer, adapter, how they were loaded,
    # and every generation setting.
    salt = dumps({"model": model_files_sha256(model_dir),
                  "adapter": sha256_tree(run / "adapter") if cfg.source == "adapter" else None,
                  "quantisation": {key: manifest["config"].get(key) for key in QUANTISATION_KEYS},
                  "generation": generation})
    writer = RejectedWriter(run, manifest, cfg, GenerationCache(out / "cache" / "rejected.json", salt))
    counts, outputs, seed = {}, {}, cfg.seed
    for split, limit in (("train", cfg.max_train_pairs), ("val", cfg.max_val_pairs)):
        rows = chosen_rows(data_dir, split, limit, cfg.seed)
        replies = writer.replies(rows, seed)
        seed += -(-len(rows) // cfg.batch_size)   # the next split's batches get seeds of their own
        made = [make_pair(row, reply, author, cfg.source, cfg) for row, reply in zip(rows, replies)]
        reasons = Counter(reason for _, reason in made)
        pairs = [pair for pair, _ in made if pair is not None]
        counts[split] = {"rows": len(rows), "kept": len(pairs), "dropped": {r: reasons[r] for r in REASONS}}
        if not pairs:
            raise ConfigError(f"no {split} pair survived ({dict(reasons)}): raise max_new_tokens or "
                              f"max_{split}_pairs in {PAIRS_CONFIG_HINT}, or lower min_chars")
        write_jsonl(out / PAIR_FILES[split], pairs)
        outputs[PAIR_FILES[split]] = sha256_file(out / PAIR_FILES[split])
    result = {"stage": "pairs", "run": str(run), "adapter_sha256": sha256_tree(run / "adapter"),
              "data": {"dir": str(data_dir), "manifest_sha256": sha256_file(data_dir / "manifest.json")},
              "tokenizer": data_manifest.get("tokenizer"),   # stage dpo checks it as it checks $(DATA)'s
              "config": to_dict(cfg), "counts": counts, "generations": dict(writer.counts),
              "environment": environment(), "outputs": outputs}
    write_json(out / "manifest.json", result)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="the SFT run whose adapter writes the rejected texts")
    parser.add_argument("--data", required=True, type=Path, help="the data folder that run was trained on")
    parser.add_argument("--out", type=Path, help="output folder (default: RUN/pairs)")
    parser.add_argument("--config", default="train/pairs.yaml")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        cfg = load_pairs_config(args.config, args.overrides)
        result = build(args.run, args.data, args.out or args.run / "pairs", cfg)
    except (ConfigError, RunNotFound, ModelNotFound, TokenizerMismatch, RowFileError, ChunkFileError) as exc:
        sys.exit(f"pairs: {exc}")
    for split, count in result["counts"].items():
        dropped = ", ".join(f"{reason} {n}" for reason, n in count["dropped"].items() if n) or "none"
        print(f"{split}: {count['kept']} pairs of {count['rows']} rows (dropped: {dropped})")
    print(f"pairs: {args.out or args.run / 'pairs'} ({result['generations']})")


if __name__ == "__main__":
    main()
