"""`make bench`: speed/memory comparisons, each measured in one run against its named baseline.

    python -m bench.run [--only data,train,selection,eval]
"""
import argparse
import importlib

SECTIONS = {"data": "bench.bench_data", "train": "bench.bench_train", "selection": "bench.bench_selection",
            "eval": "bench.bench_eval"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    for name in parser.parse_args().only.split(","):
        print(f"\n=== bench: {name} ===", flush=True)
        importlib.import_module(SECTIONS[name]).main()


if __name__ == "__main__":
    main()
