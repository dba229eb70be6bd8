"""Run manifests: what went in, what came out, with which code, packages and settings."""
import importlib.metadata
import platform
import subprocess
from pathlib import Path

TRACKED_PACKAGES = [
    "torch", "transformers", "tokenizers", "peft", "trl", "bitsandbytes", "accelerate", "datasets",
    "jieba", "rjieba", "markdown-it-py", "mdit-py-plugins", "numpy", "scipy", "statsmodels", "scikit-learn",
    "datasketch", "OpenCC", "seaborn", "matplotlib",
]
REPO_ROOT = Path(__file__).resolve().parent.parent


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    versions = {}
    for name in [*TRACKED_PACKAGES, *extra]:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_state() -> dict:
    """Commit of the code that ran, and whether the work tree had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (subprocess.CalledProcessError, FileNotFoundError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    """The CPU's marketing name (floating-point kernels, hence low bits of trained weights, depend on it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(extra_packages: tuple[str, ...] = ()) -> dict:
    """Python, platform, CPU, git state and the versions of TRACKED_PACKAGES plus a stage's own `extra_packages`."""
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "cpu": cpu_model(),
            "packages": package_versions(extra_packages), "git": git_state()}
