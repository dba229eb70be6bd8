"""`make reproduce` / `make reproduce-lock`: rerun data -> train -> eval into a fresh folder and compare the
sha256 of every output that should be bit-exact with a lock file.

    python -m core.reproduce lock  --lock reproduce.lock.json --dir outputs/reproduce --archive corpora/luxun-archive
    python -m core.reproduce check --lock reproduce.lock.json --dir outputs/reproduce

`lock` records the stage commands (archive, config files, overrides), the sha256 of each config file, the
environment, and the hashes of each stage's outputs. `check` reruns exactly the commands the lock records
and stops at the first stage whose outputs differ, naming the files: exit 1 on drift, 2 on a lock that
cannot be checked. Stages run as the Makefile's own targets (`make -o setup data ...`), so the commands
exist once, in the Makefile, and core imports no stage code.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from core.jsonio import read_json, sha256_file, sha256_tree, write_json
from core.manifest import REPO_ROOT, environment

LOCK_VERSION = 2
STAGES = ("data", "reference", "train", "eval")
# What each stage must reproduce byte for byte. Manifests are left out on purpose: they record wall time,
# paths and versions, which legitimately change between runs.
DATA_FILES = ("chunks.jsonl", "sft_train.jsonl", "sft_val.jsonl", "dataset_stats.json")
EVAL_FILES = ("eval/metrics.json", "eval/generations.jsonl")


class LockError(Exception):
    """The lock cannot be checked as it is (missing, other version, config changed since)."""


def stage_commands(setup: dict, folder: Path) -> dict[str, list[str]]:
    """The Makefile's own stage targets with the lock's inputs and this folder's outputs as make variables,
    so the commands are the ones `make data/reference-data/train/eval` runs, never a second copy of them.
    `-o` skips the targets a stage target depends on (setup, and for eval the reference data), which
    `make reproduce` has already made or this run makes as a stage of its own."""
    data, reference, run = folder / "data", folder / "data-reference", folder / "run"
    make = ["make", "--no-print-directory", "-o", "setup", f"PYTHON={sys.executable}"]
    common = {"data": [f"ARCHIVE={setup['archive']}", f"DATA={data}", f"PREP_CONFIG={setup['configs']['data']}"],
              "reference": [f"REFERENCE={setup['reference']}", f"REFERENCE_DATA={reference}",
                            f"PREP_CONFIG={setup['configs']['data']}"],
              "train": [f"CONFIG={setup['configs']['train']}", f"DATA={data}", f"RUN={run}", "NPROC=1"],
              "eval": ["-o", "reference-data", f"RUN={run}", f"DATA={data}", f"REFERENCE_DATA={reference}",
                       f"EVAL_CONFIG={setup['configs']['eval']}"]}
    targets = {"data": "data", "reference": "reference-data", "train": "train", "eval": "eval"}
    return {stage: make + [targets[stage], *common[stage], f"SET={' '.join(setup['set'].get(stage, []))}"]
            for stage in STAGES}


def stage_outputs(stage: str, folder: Path) -> dict[str, str]:
    """sha256 of the stage's bit-exact outputs, keyed by their path inside the stage's folder."""
    if stage in ("data", "reference"):
        root, names = folder / ("data" if stage == "data" else "data-reference"), DATA_FILES
    elif stage == "train":
        return {f"adapter/{name}": digest for name, digest in sha256_tree(folder / "run" / "adapter").items()}
    else:
        root, names = folder / "run", EVAL_FILES
    return {name: sha256_file(root / name) if (root / name).is_file() else "missing" for name in names}


def drift(stage: str, expected: dict[str, str], got: dict[str, str]) -> list[str]:
    """One line per file whose hash differs from the lock (or that is missing on either side)."""
    lines = []
    for name in sorted(set(expected) | set(got)):
        want, have = expected.get(name, "not in the lock"), got.get(name, "not produced")
        if want != have:
            lines.append(f"stage {stage}: {name}: locked {want[:16]}, got {have[:16]}")
    return lines


def config_hashes(configs: dict[str, str]) -> dict[str, str]:
    return {stage: sha256_file(REPO_ROOT / path) for stage, path in configs.items()}


def environment_differences(locked: dict, now: dict) -> list[str]:
    """Where this machine differs from the one that made the lock: the usual reason for drift in train/eval."""
    notes = [f"{key}: lock {locked.get(key)}, here {now.get(key)}" for key in ("python", "platform", "cpu")
             if locked.get(key) != now.get(key)]
    packages_locked, packages_now = locked.get("packages", {}), now.get("packages", {})
    notes += [f"{name}: lock {packages_locked.get(name)}, here {packages_now.get(name)}"
              for name in sorted(set(packages_locked) | set(packages_now))
              if packages_locked.get(name) != packages_now.get(name)]
    return notes


def run_stage(stage: str, command: list[str]) -> None:
    print(f"reproduce: stage {stage}: {' '.join(command)}", flush=True)
    done = subprocess.run(command, cwd=REPO_ROOT)
    if done.returncode != 0:
        sys.exit(f"reproduce: stage {stage} failed (exit {done.returncode}); its own message is above")


def fresh(folder: Path) -> None:
    # A fresh folder: nothing cached from an earlier run (paraphrases, checkpoints) may feed this one.
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def make_lock(setup: dict, lock_path: Path, folder: Path) -> None:
    fresh(folder)
    commands = stage_commands(setup, folder)
    outputs = {}
    for stage in STAGES:
        run_stage(stage, commands[stage])
        outputs[stage] = stage_outputs(stage, folder)
    write_json(lock_path, {"lock_version": LOCK_VERSION, "setup": setup, "config_sha256": config_hashes(setup["configs"]),
                           "environment": environment(), "outputs": outputs})
    print(f"reproduce: lock written to {lock_path} ({sum(map(len, outputs.values()))} files over {len(STAGES)} stages)")


def load_lock(lock_path: Path) -> dict:
    if not lock_path.is_file():
        raise LockError(f"{lock_path} does not exist: record one first with `make reproduce-lock`")
    lock = read_json(lock_path)
    if lock.get("lock_version") != LOCK_VERSION:
        raise LockError(f"{lock_path} has lock_version {lock.get('lock_version')}, this code reads {LOCK_VERSION}: "
                        "record it again with `make reproduce-lock`")
    changed = [f"{lock['setup']['configs'][stage]} ({stage})" for stage, digest in
               config_hashes(lock["setup"]["configs"]).items() if digest != lock["config_sha256"][stage]]
    if changed:
        raise LockError(f"config changed since {lock_path} was recorded: {', '.join(changed)}; the rerun would not be "
                        "the same experiment. Restore the file(s) or record a new lock with `make reproduce-lock`")
    return lock


def check(lock_path: Path, folder: Path) -> int:
    lock = load_lock(lock_path)
    fresh(folder)
    commands = stage_commands(lock["setup"], folder)
    for stage in STAGES:
        run_stage(stage, commands[stage])
        differences = drift(stage, lock["outputs"][stage], stage_outputs(stage, folder))
        if differences:
            print(f"reproduce: DRIFT in stage {stage} (outputs in {folder}):", *differences, sep="\n  ", file=sys.stderr)
            notes = environment_differences(lock["environment"], environment())
            if notes:
                print("this machine differs from the one that made the lock (floating-point kernels of another CPU "
                      "or library version change low bits of trained weights; see docs/reproducibility.md):",
                      *notes, sep="\n  ", file=sys.stderr)
            return 1
        print(f"reproduce: stage {stage}: {len(lock['outputs'][stage])} files identical to the lock", flush=True)
    print(f"reproduce: every locked file is bit-identical ({lock_path})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["lock", "check"])
    parser.add_argument("--lock", type=Path, default=Path("reproduce.lock.json"))
    parser.add_argument("--dir", type=Path, default=Path("outputs/reproduce"), help="fresh folder for the rerun")
    parser.add_argument("--archive", default="corpora/luxun-archive", help="lock: the archive to build from")
    parser.add_argument("--reference", default="corpora/zhuziqing-archive", help="lock: REFERENCE archive for eval")
    for stage, default in (("data", "prep/config.yaml"), ("train", "train/lora_sft.yaml"), ("eval", "eval/eval.yaml")):
        parser.add_argument(f"--{stage}-config", default=default, help=f"lock: {stage} settings")
        parser.add_argument(f"--{stage}-set", nargs="*", default=[], metavar="KEY=VALUE", help=f"lock: {stage} overrides")
    args = parser.parse_args(argv)
    try:
        if args.action == "check":
            return check(args.lock, args.dir)
        setup = {"archive": args.archive, "reference": args.reference,
                 "configs": {"data": args.data_config, "train": args.train_config, "eval": args.eval_config},
                 "set": {"data": args.data_set, "train": args.train_set, "eval": args.eval_set}}
        make_lock(setup, args.lock, args.dir)
        return 0
    except LockError as exc:
        print(f"reproduce: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
