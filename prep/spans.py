"""Vectorised hashes of every fixed-width character window of a text (polynomial rolling hash mod 2**64).

Used twice: char shingles for near-duplicate MinHash signatures, and 50-character spans for the
train/validation leak check. numpy's uint64 arithmetic wraps, which is exactly arithmetic mod 2**64.
"""
import numpy as np

_BASE = np.uint64(0x100000001B3)                 # odd, so it has an inverse mod 2**64
_BASE_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _powers(base: np.uint64, n: int) -> np.ndarray:
    powers = np.full(n, base, dtype=np.uint64)
    powers[0] = 1
    return np.cumprod(powers, dtype=np.uint64)


def window_hashes(text: str, width: int) -> np.ndarray:
    """uint64 hash of text[i:i+width] for every i (empty when the text is shorter than width)."""
    n = len(text)
    if n < width:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum(codes * _powers(_BASE_INV, n), dtype=np.uint64, out=prefix[1:])
        # sum_{j=i}^{i+w-1} c_j B^(i+w-1-j) = B^(i+w-1) * (P[i+w] - P[i])
        hashes = _powers(_BASE, n)[width - 1:] * (prefix[width:] - prefix[:-width])
        return hashes * _MIX                       # spread the low-entropy bits before any modular use


def window_hashes_of(texts: list[str], width: int, block_chars: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """window_hashes of every text, concatenated in order, and how many windows each text has. Texts are
    hashed a block of about `block_chars` at a time, joined: per-text calls cost more than the hashing."""
    all_lengths = [len(t) for t in texts]
    parts, begin = [], 0
    while begin < len(texts):
        end, size = begin, 0
        while end < len(texts) and (end == begin or size + all_lengths[end] <= block_chars):
            size += all_lengths[end]
            end += 1
        lengths = np.array(all_lengths[begin:end], dtype=np.int64)
        hashes = window_hashes("".join(texts[begin:end]), width)
        # Keep the windows that start and end inside one text: those are the hashes the texts give alone.
        starts = np.cumsum(lengths) - lengths
        inside = np.zeros(hashes.size + 1, dtype=np.int64)
        whole = lengths >= width
        np.add.at(inside, starts[whole], 1)
        np.add.at(inside, starts[whole] + lengths[whole] - width + 1, -1)
        parts.append(hashes[np.cumsum(inside[:-1]) > 0])
        begin = end
    counts = np.maximum(np.array(all_lengths, dtype=np.int64) - width + 1, 0)
    return (np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)), counts


def minhash_signature(text: str, width: int, multipliers: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """MinHash over the text's character shingles; permutations a*x + b mod 2**64 with odd a (datasketch's
    "affine64" scheme)."""
    shingles = window_hashes(text, width)   # repeated shingles do not change a minimum: no np.unique needed
    if shingles.size == 0:
        shingles = np.array([0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        permuted = shingles[None, :] * multipliers[:, None] + offsets[:, None]
    return permuted.min(axis=1)
