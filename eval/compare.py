"""`make compare`'s table: several evaluated runs side by side, from the files `make train` and `make eval`
left (each run's manifest.json, the manifests of the runs it started from, and eval/metrics.json).

    python -m eval.compare --out outputs/compare "SFT=outputs/compare/sft" "SFT → DPO=outputs/compare/sft-dpo"

Per run: its recipe (the stages and steps of the chain of runs behind its adapter), the held-out perplexity
change against the base model and the author-specific gain (each with its interval, method and n), the
degenerate-text guard's verdict on its generations, the share of its generations both attribution
classifiers give the author, its Cosine Delta to the author's held-out text, and whether it copies more than
the author repeats themself. Writes compare.md and compare.json."""
import argparse
import sys
from pathlib import Path

from core.jsonio import read_json, write_atomic, write_json


def recipe(run: Path) -> list[dict]:
    """The stages behind the run's adapter, first to last, following init_adapter back through run folders."""
    chain = []
    while True:
        manifest = read_json(run / "manifest.json")
        selection = manifest.get("selection") or {}
        chain.insert(0, {"run": str(run), "stage": manifest.get("training_stage", "sft"),
                         "steps": manifest["global_step"], "chosen_step": selection.get("chosen_step")})
        start = manifest.get("init_adapter")
        if not start:
            return chain
        run = Path(start["dir"]).parent


def _interval(block: dict, scale: float = 100.0, unit: str = "%", digits: str = "+.1f") -> str:
    return (f"{block['estimate'] * scale:{digits}}{unit} [{block['ci_low'] * scale:{digits}}, "
            f"{block['ci_high'] * scale:{digits}}] ({block['method']}, n={block['n']})")


def row(name: str, run: Path) -> dict:
    metrics = read_json(run / "eval" / "metrics.json")
    chain = recipe(run)
    perplexity, guard = metrics["perplexity"], metrics["guard"]["systems"]["adapter"]
    classifiers = metrics["attribution"]["classifiers"]
    cosine = metrics["stylometry"]["groups"]["adapter"]["cosine_delta"]
    reasons = ", ".join(f"{reason} {n}" for reason, n in guard["by_reason"].items() if n)
    return {
        "name": name, "run": str(run), "recipe": chain,
        "recipe_text": " → ".join(f"{step['stage'].upper()} {step['chosen_step'] or step['steps']}" for step in chain),
        "steps": sum(step["chosen_step"] or step["steps"] for step in chain),
        "perplexity_change": perplexity["author_heldout"]["relative_change"],
        "author_specific_gain": perplexity["author_specific_gain"]["difference_in_relative_change"],
        "guard": {"failing": guard["failing"], "n": guard["n"], "flagged": guard["flagged"], "reasons": reasons},
        "attribution": {label: {key: classifiers[label]["systems"]["adapter"][key]
                                for key in ("attributed_to_author", "n", "valid", "ci_low", "ci_high")}
                        for label in sorted(classifiers)},
        "cosine_delta": cosine,
        "copies_more_than_author": metrics["copying"]["systems"]["adapter"]["above_author_rate"],
    }


def markdown(rows: list[dict]) -> str:
    lines = ["| recipe | optimiser steps | held-out perplexity vs base | author-specific gain (points) | "
             "guard: failing outputs | attributed to the author (char n-gram / topic-masked) | "
             "Cosine Delta to the author | copies more than the author |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        guard = r["guard"]
        verdict = f"{guard['failing']}/{guard['n']}" + (f" ({guard['reasons']})" if guard["reasons"] else "")
        verdict += ", flagged" if guard["flagged"] else ""
        attributed = " / ".join(f"{a['attributed_to_author']}/{a['n']} [{a['ci_low']:.2f}, {a['ci_high']:.2f}]"
                                for a in r["attribution"].values())
        lines.append(f"| {r['name']} ({r['recipe_text']}) | {r['steps']} | {_interval(r['perplexity_change'])} | "
                     f"{_interval(r['author_specific_gain'], unit='')} | {verdict} | {attributed} | "
                     f"{_interval(r['cosine_delta'], scale=1.0, unit='', digits='.3f')} | "
                     f"{'yes' if r['copies_more_than_author'] else 'no'} |")
    notes = ["", "Perplexity change: the adapter's against its base model on the author's held-out articles "
             "(negative = better). Author-specific gain: that change minus the same change on the reference author "
             "(negative = the adapter learned this author more than the language). A system whose outputs fail the "
             "guard more often than the limit is flagged: its attribution and Delta are not interpretable. Cosine "
             "Delta: lower = closer (0 = the same MFW profile). Intervals as `make eval` computes them."]
    return "\n".join(lines + notes) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for compare.md and compare.json")
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN", help="a label and an evaluated run folder")
    args = parser.parse_args(argv)
    rows = []
    for item in args.runs:
        name, _, folder = item.partition("=")
        run = Path(folder)
        if not (run / "eval" / "metrics.json").is_file() or not (run / "manifest.json").is_file():
            sys.exit(f"compare: {run} has no manifest.json or eval/metrics.json; train and evaluate it first "
                     f"(`make train RUN={run}` then `make eval RUN={run}`)")
        rows.append(row(name, run))
    table = markdown(rows)
    write_atomic(args.out / "compare.md", table)
    write_json(args.out / "compare.json", {"runs": rows})
    print(table)


if __name__ == "__main__":
    main()
