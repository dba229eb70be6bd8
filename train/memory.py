"""Host-memory policy of a training process: give large freed blocks back to the operating system.

glibc serves a block above M_MMAP_THRESHOLD with its own mmap, unmapped again on free. By default it raises
that threshold each time such a block is freed, so after the first steps the few-MB activations of every
layer come from the heap, and packed rows of varying length leave it fragmented: peak RSS grows step after
step. A fixed threshold of 1 MB stops that: measured on the default CPU run, 6 steps, peak RSS 5,196 MB ->
4,049 MB, for about 18 % fewer tokens/s (68.2 -> 55.9; page faults on the fresh mappings; docs/benchmarks.md).
Results do not change.
STYLEDISTILL_MMAP_THRESHOLD_MB=0 keeps glibc's default (faster, more memory); another number sets another
threshold.
"""
import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3   # glibc malloc.h
DEFAULT_MB = 1.0


def set_mmap_threshold() -> bool:
    """True when glibc took the setting; False when disabled, or on another C library or platform."""
    value = os.environ.get("STYLEDISTILL_MMAP_THRESHOLD_MB", str(DEFAULT_MB))
    try:
        megabytes = float(value)
    except ValueError:
        raise SystemExit(f"STYLEDISTILL_MMAP_THRESHOLD_MB={value!r}: expected a number of MB (0 = glibc's default)")
    if megabytes <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except AttributeError:   # musl and others have no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(megabytes * 1024 * 1024)))
