"""`make ab-score RUN=... SHEETS="r1.json r2.csv"`: unblind raters' answers with the sheet key and test them.

    python -m eval.ab_score --run outputs/demo --sheets r1.json r2.csv

Reads the exports of the rating pages (JSON or CSV; a filled-in printable CSV sheet works too) for either
sheet, checks each against `$(RUN)/eval/ab/key.json` (sheet id, item ids, answers), and writes
`$(RUN)/eval/ab/ab_scores.json`. docs/ab-rating.md explains every number and its assumptions.
"""
import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import krippendorff
import numpy as np
from scipy.stats import binomtest
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa
from statsmodels.stats.proportion import proportion_confint

from core.jsonio import read_json, sha256_file, write_json
from eval.ab_sheets import EXPORT_FORMAT, KEY_FILE, SHEET_KINDS, SheetKind, choices

CONFIDENCE = 0.95
SCORES_FILE = "ab_scores.json"
CSV_COLUMNS = ("sheet", "sheet_id", "rater", "item", "choice")


class RatingError(ValueError):
    """A problem with a rater file or the key, worded for the user."""


@dataclass
class RaterFile:
    path: Path
    sheet: str
    sheet_id: str
    rater: str
    choices: dict[str, str | None]  # shown item id -> "A" | "B" | neutral | None (not rated)
    comments: dict[str, str]


def _read_export_json(path: Path) -> tuple[dict, list[dict]]:
    try:
        record = read_json(path)
    except (OSError, ValueError) as exc:
        raise RatingError(f"{path}: cannot read as JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != EXPORT_FORMAT:
        raise RatingError(f"{path}: not a rating export (expected \"format\": \"{EXPORT_FORMAT}\"); "
                          "download the answers with the rating page's JSON button")
    answers = record.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) and "item" in a for a in answers):
        raise RatingError(f"{path}: 'answers' must be a list of {{\"item\", \"choice\", \"comment\"}} objects")
    return {k: record.get(k) for k in ("sheet", "sheet_id", "rater")}, answers


def _read_export_csv(path: Path) -> tuple[dict, list[dict]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RatingError(f"{path}: cannot read as CSV ({exc})") from None
    missing = [c for c in CSV_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise RatingError(f"{path}: no rows or missing columns {missing}; expected a CSV downloaded from the "
                          f"rating page or the printable CSV sheet (columns {', '.join(CSV_COLUMNS)})")
    header = {}
    for column in ("sheet", "sheet_id", "rater"):
        values = sorted({row[column] or "" for row in rows})
        if len(values) != 1:
            raise RatingError(f"{path}: column '{column}' must hold one value for the whole file, found {values}")
        header[column] = values[0]
    answers = [{"item": row["item"], "choice": row["choice"], "comment": row.get("comment") or ""} for row in rows]
    return header, answers


def read_rater_file(path: Path) -> RaterFile:
    """One rater's answers for one sheet, from the page's JSON or CSV export (told apart by the suffix)."""
    path = Path(path)
    if not path.is_file():
        raise RatingError(f"rater file {path} not found")
    header, answers = (_read_export_csv if path.suffix.lower() == ".csv" else _read_export_json)(path)
    if header["sheet"] not in SHEET_KINDS:
        raise RatingError(f"{path}: unknown sheet {header['sheet']!r} (expected one of {sorted(SHEET_KINDS)})")
    picked, comments = {}, {}
    for answer in answers:
        item = str(answer["item"])
        if item in picked:
            raise RatingError(f"{path}: item {item} is answered twice")
        picked[item] = answer.get("choice") or None
        if answer.get("comment"):
            comments[item] = str(answer["comment"])
    rater = str(header["rater"] or "").strip() or path.stem  # one file = one rater, even without a name
    return RaterFile(path, header["sheet"], str(header["sheet_id"] or ""), rater, picked, comments)


def _check_against_key(rater_file: RaterFile, key: dict, key_path: Path) -> None:
    """Sheet, sheet id, item ids, then answers: the first mismatch is the most telling message."""
    sheet_key = key["sheets"].get(rater_file.sheet)
    if sheet_key is None:
        raise RatingError(f"{rater_file.path}: answers for sheet '{rater_file.sheet}', but {key_path} has no such "
                          f"sheet (it has {sorted(key['sheets'])})")
    if rater_file.sheet_id != sheet_key["sheet_id"]:
        raise RatingError(f"{rater_file.path}: exported from sheet id {rater_file.sheet_id or '(none)'}, but "
                          f"{key_path} belongs to sheet id {sheet_key['sheet_id']}: the file comes from another run "
                          "or an older version of the sheet; score it with that run's key")
    unknown = sorted(set(rater_file.choices) - set(sheet_key["items"]))
    if unknown:
        raise RatingError(f"{rater_file.path}: item ids not on sheet '{rater_file.sheet}': {', '.join(unknown[:5])}"
                          + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    allowed = choices(SHEET_KINDS[rater_file.sheet])
    for item, choice in sorted(rater_file.choices.items()):
        if choice is not None and choice not in allowed:
            raise RatingError(f"{rater_file.path}: item {item} has answer {choice!r}; "
                              f"allowed: {', '.join(allowed)} or empty")


def proportion(successes: int, trials: int) -> dict:
    """Share with its Wilson CI and the two-sided exact binomial test against 1/2."""
    if trials == 0:
        return {"successes": 0, "n": 0, "estimate": None, "ci_low": None, "ci_high": None, "p_value": None}
    low, high = proportion_confint(successes, trials, alpha=1 - CONFIDENCE, method="wilson")
    p_value = binomtest(successes, trials, 0.5, alternative="two-sided").pvalue
    return {"successes": successes, "n": trials, "estimate": successes / trials, "ci_low": float(low),
            "ci_high": float(high), "p_value": float(p_value)}


def _defined(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def agreement(outcomes: dict[str, dict[str, str]], raters: list[str], items: list[str], categories: list[str]) -> dict:
    """Fleiss' kappa over the items every rater answered; Krippendorff's alpha (nominal) over all answers."""
    code = {category: index for index, category in enumerate(categories)}
    matrix = np.array([[code[outcomes[r][i]] if outcomes[r].get(i) else np.nan for i in items] for r in raters])
    complete = matrix[:, ~np.isnan(matrix).any(axis=0)].T.astype(int)  # items x raters
    result = {"n_raters": len(raters), "n_items_all_raters": int(complete.shape[0]),
              "fleiss_kappa": None, "krippendorff_alpha": None}
    # Both statistics are undefined (0/0) when every answer falls in one category; they stay null then.
    with np.errstate(invalid="ignore", divide="ignore"):
        if complete.shape[0] > 0:
            table, _ = aggregate_raters(complete, n_cat=len(categories))
            result["fleiss_kappa"] = _defined(fleiss_kappa(table, method="fleiss"))
        if ((~np.isnan(matrix)).sum(axis=0) >= 2).any():  # alpha needs at least one item with two answers
            result["krippendorff_alpha"] = _defined(krippendorff.alpha(
                reliability_data=matrix, level_of_measurement="nominal", value_domain=list(range(len(categories)))))
    return result


def score_sheet(kind: SheetKind, sheet_key: dict, rater_files: list[RaterFile]) -> dict:
    """Unblind one sheet's answers and compute the judgement-level, item-level, position and agreement numbers."""
    target, other, neutral = kind.target, kind.other, kind.neutral
    items = sorted(sheet_key["items"])
    raters = sorted(f.rater for f in rater_files)
    # outcome per rater and item, in system terms: target / other / neutral
    outcomes = {f.rater: {item: (sheet_key["items"][item][choice] if choice in ("A", "B") else choice)
                          for item, choice in f.choices.items() if choice}
                for f in rater_files}
    picks_a = sum(choice == "A" for f in rater_files for choice in f.choices.values())
    picks_b = sum(choice == "B" for f in rater_files for choice in f.choices.values())
    counts = {c: sum(o == c for per_rater in outcomes.values() for o in per_rater.values())
              for c in (target, other, neutral)}
    answered = sum(counts.values())

    per_item, verdicts = [], {target: 0, other: 0, neutral: 0}
    for item in items:
        votes = {c: sum(outcomes[r].get(item) == c for r in raters) for c in (target, other, neutral)}
        if not any(votes.values()):
            continue
        # Majority between the two texts; neutral answers abstain, an even split is a neutral verdict.
        verdict = target if votes[target] > votes[other] else other if votes[other] > votes[target] else neutral
        verdicts[verdict] += 1
        per_item.append({"item": item, "item_id": sheet_key["items"][item]["item_id"], "votes": votes,
                         "verdict": verdict})

    comments = [{"item": item, "item_id": sheet_key["items"][item]["item_id"], "rater": f.rater, "comment": text}
                for f in sorted(rater_files, key=lambda f: f.rater) for item, text in sorted(f.comments.items())]
    return {
        "sheet": kind.name, "sheet_id": sheet_key["sheet_id"], "target": target, "other": other,
        "neutral": neutral, "raters": raters, "n_items": len(items),
        "judgements": {**counts, "answered": answered, "unanswered": len(items) * len(raters) - answered},
        kind.headline: proportion(counts[target], counts[target] + counts[other]),
        "per_item": {"verdicts": verdicts,
                     kind.headline: proportion(verdicts[target], verdicts[target] + verdicts[other]),
                     "items": per_item},
        "position_A_share": proportion(picks_a, picks_a + picks_b),
        "agreement": agreement(outcomes, raters, items, [target, other, neutral]) if len(raters) >= 2 else None,
        "comments": comments,
    }


def score(run: Path, sheet_paths: list[Path]) -> dict:
    """Read the key and every rater file, score each sheet that has answers, write ab_scores.json."""
    key_path = Path(run) / "eval" / "ab" / KEY_FILE
    if not key_path.is_file():
        raise RatingError(f"no answer key at {key_path}; run `make eval RUN={run}` first (it writes the sheets "
                          "and their key), or pass the RUN whose sheets the raters used")
    if not sheet_paths:
        raise RatingError("no rater files given; pass them as SHEETS=\"r1.json r2.csv\"")
    key = read_json(key_path)
    by_sheet: dict[str, list[RaterFile]] = {}
    for path in sheet_paths:
        rater_file = read_rater_file(path)
        _check_against_key(rater_file, key, key_path)
        same_sheet = by_sheet.setdefault(rater_file.sheet, [])
        twin = next((f for f in same_sheet if f.rater == rater_file.rater), None)
        if twin:
            raise RatingError(f"{path} and {twin.path} are both rater '{rater_file.rater}' on sheet "
                              f"'{rater_file.sheet}'; keep one file per rater (the latest export)")
        same_sheet.append(rater_file)
    scores = {
        "confidence": CONFIDENCE,
        "inputs": {str(p): sha256_file(p) for p in sorted(map(str, sheet_paths))},
        "key_sha256": sha256_file(key_path),
        "sheets": {name: score_sheet(SHEET_KINDS[name], key["sheets"][name], files)
                   for name, files in sorted(by_sheet.items())},
    }
    write_json(key_path.parent / SCORES_FILE, scores)
    return scores


def _fmt(share: dict) -> str:
    if share["n"] == 0:
        return "n/a (no decisive answers)"
    return (f"{share['estimate']:.3f} [{share['ci_low']:.3f}, {share['ci_high']:.3f}] "
            f"({share['successes']}/{share['n']}, binomial p = {share['p_value']:.3g})")


def summary_text(scores: dict) -> str:
    pct = f"{CONFIDENCE:.0%}"
    lines = []
    for name, sheet in scores["sheets"].items():
        kind, j = SHEET_KINDS[name], sheet["judgements"]
        lines += [f"Sheet '{name}' ({sheet['sheet_id']}): {len(sheet['raters'])} rater(s), {sheet['n_items']} items, "
                  f"{j['answered']} answers ({j['unanswered']} left blank)",
                  f"  answers: {kind.target} {j[kind.target]}, {kind.other} {j[kind.other]}, "
                  f"{kind.neutral} {j[kind.neutral]}",
                  f"  {kind.headline} ({kind.neutral} excluded): {_fmt(sheet[kind.headline])}",
                  f"  per item (majority of raters): {_fmt(sheet['per_item'][kind.headline])}",
                  f"  position bias, share of decisive answers picking A: {_fmt(sheet['position_A_share'])}"]
        if sheet["agreement"]:
            a = sheet["agreement"]
            kappa = "n/a" if a["fleiss_kappa"] is None else f"{a['fleiss_kappa']:.3f}"
            alpha = "n/a" if a["krippendorff_alpha"] is None else f"{a['krippendorff_alpha']:.3f}"
            lines.append(f"  agreement: Fleiss' kappa {kappa} ({a['n_items_all_raters']} items rated by all), "
                         f"Krippendorff's alpha {alpha}")
    lines.append(f"(CIs: {pct} Wilson; p: two-sided exact binomial test against 1/2)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="run folder whose eval/ab/key.json unblinds")
    parser.add_argument("--sheets", nargs="*", default=[], type=Path, help="rater files (JSON or CSV exports)")
    args = parser.parse_args(argv)
    try:
        scores = score(args.run, args.sheets)
    except RatingError as exc:
        sys.exit(f"ab-score: {exc}")
    print(summary_text(scores))
    print(f"Wrote {args.run / 'eval' / 'ab' / SCORES_FILE}")


if __name__ == "__main__":
    main()
