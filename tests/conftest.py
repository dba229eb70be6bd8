"""Shared fixtures: the bundled sample archive, a data folder built from it once per session, and a
network guard for subprocesses."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE_ARCHIVE = REPO / "corpora" / "luxun-archive"
NETGUARD_DIR = Path(__file__).resolve().parent / "netguard"


@pytest.fixture(scope="session")
def sample_archive() -> Path:
    return SAMPLE_ARCHIVE


@pytest.fixture(scope="session")
def sft_data(tmp_path_factory) -> Path:
    """`make data` on the bundled archive (paraphrasing off, to keep the suite fast)."""
    out = tmp_path_factory.mktemp("sft_data")
    result = subprocess.run([sys.executable, "-m", "prep.build_dataset", "--archive", str(SAMPLE_ARCHIVE),
                             "--out", str(out), "--set", "paraphrase.max_chunks=0"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def guarded_env(log: Path, **extra: str) -> dict:
    """Environment for a subprocess whose every network connection is refused and recorded to `log`."""
    return dict(os.environ, NETGUARD_LOG=str(log),
                PYTHONPATH=os.pathsep.join([str(NETGUARD_DIR), str(REPO), os.environ.get("PYTHONPATH", "")]), **extra)


def attempted_connections(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def run_guarded(args: list[str], tmp_path: Path, timeout: int = 900, extra_env: dict | None = None):
    """Run `python args...` from the repo root under the network guard.
    Returns (CompletedProcess, list of attempted connections)."""
    log = tmp_path / "netguard.log"
    result = subprocess.run([sys.executable, *args], cwd=REPO, env=guarded_env(log, **(extra_env or {})),
                            capture_output=True, text=True, timeout=timeout)
    return result, attempted_connections(log)


def copy_archive(source: Path, dest: Path, reverse: bool = False) -> Path:
    """Copy an archive file by file, in sorted or reversed order (directory entry order follows creation)."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    for path in reversed(files) if reverse else files:
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest
