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


def minhash_signature(text: str, width: int, multipliers: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """MinHash over the text's character shingles; permutations a*x + b mod 2**64 with odd a (datasketch's
    "affine64" scheme)."""
    shingles = window_hashes(text, width)   # repeated shingles do not change a minimum: no np.unique needed
    if shingles.size == 0:
        shingles = np.array([0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        permuted = shingles[None, :] * multipliers[:, None] + offsets[:, None]
    return permuted.min(axis=1)
