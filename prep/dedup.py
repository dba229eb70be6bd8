"""Near-duplicate chunks across articles (MinHash, Broder 1997): the same passage reposted, a long quotation
shared by two articles. Each chunk gets a MinHash signature over its character shingles (prep/spans.py);
candidate pairs come from a datasketch MinHashLSH index; a chunk is removed when a chunk kept earlier (in
archive order), from another article, has an estimated Jaccard similarity of at least
`dedup.near_duplicate_jaccard`. The removed pairs are reported.
"""
from collections import Counter
from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHashLSH
from tqdm import tqdm

from prep.chunk import Chunk
from prep.config import DedupConfig
from prep.spans import minhash_signature

MINHASH_SEED = 20240601


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded a, b of the permutations a*x + b mod 2**64 (a odd): the same in every process and run."""
    rng = np.random.default_rng(MINHASH_SEED)
    return (rng.integers(1, 2**63, num_perm, dtype=np.uint64) | np.uint64(1),
            rng.integers(0, 2**63, num_perm, dtype=np.uint64))


def signature(text: str, settings: DedupConfig) -> np.ndarray:
    """The chunk's MinHash signature (runs in the worker processes)."""
    return minhash_signature(text, settings.shingle_chars, *_permutations(settings.num_perm))


def drop_near_duplicates(chunks: list[Chunk], signatures: list[np.ndarray], settings: DedupConfig,
                         counts: Counter) -> tuple[list[Chunk], list[dict]]:
    """The chunks kept (in order) and the removed pairs {"kept": chunk_id, "removed": chunk_id}."""
    lsh = MinHashLSH(threshold=settings.near_duplicate_jaccard, num_perm=settings.num_perm)
    kept: dict[str, tuple[Chunk, LeanMinHash]] = {}
    pairs = []
    for chunk, hashvalues in tqdm(list(zip(chunks, signatures)), desc="near-duplicates", unit="chunk", leave=False):
        minhash = LeanMinHash(seed=MINHASH_SEED, hashvalues=hashvalues, scheme="affine64")
        match = next((other_id for other_id in sorted(lsh.query(minhash))
                      if kept[other_id][0].article_id != chunk.article_id
                      and minhash.jaccard(kept[other_id][1]) >= settings.near_duplicate_jaccard), None)
        if match:
            counts["near_duplicate_chunks_removed"] += 1
            pairs.append({"kept": match, "removed": chunk.chunk_id})
            continue
        kept[chunk.chunk_id] = (chunk, minhash)
        lsh.insert(chunk.chunk_id, minhash)
    return [chunk for chunk, _ in kept.values()], pairs
