"""Stable, atomic file output: the same data always gives the same bytes, and a crash never leaves a
file that looks complete."""
import hashlib
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

FLOAT_DIGITS = 6


_LEAVES = {str, int, bool, type(None)}   # exact types that pass through unchanged (subclasses go the long way)


def _stable(value: Any) -> Any:
    """Round floats to a fixed number of significant digits so tiny platform noise cannot change bytes."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return float(f"{value:.{FLOAT_DIGITS}g}")
    # Leaves are tested inline: one call per string or int would cost more than the JSON encoding itself.
    if isinstance(value, dict):
        return {str(k): v if type(v) in _LEAVES else _stable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _LEAVES else _stable(v) for v in value]
    return value


_COMPACT = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON with sorted keys, fixed float format, real Unicode (Chinese stays readable)."""
    if indent is None:
        return _COMPACT.encode(_stable(obj))
    return json.dumps(_stable(obj), sort_keys=True, ensure_ascii=False, indent=indent, separators=(",", ": "))


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600 files; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    write_atomic(path, dumps(obj) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> None:
    write_atomic(path, "".join(dumps(row, indent=None) + "\n" for row in rows))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def read_jsonl(path: str | Path) -> list:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(folder: str | Path) -> dict[str, str]:
    """sha256 of every file under a folder, keyed by sorted relative POSIX path."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextmanager
def folder_replaced(out: str | Path):
    """A fresh `<out>.partial` folder to fill in the `with` block; when the block ends it replaces `out` as a
    whole (the old folder is moved aside until the new one is in place), so `out` is always either the old
    folder or the complete new one. On an error the partial folder is deleted and `out` left as it was."""
    out = Path(out)
    tmp, old = out.with_name(out.name + ".partial"), out.with_name(out.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
