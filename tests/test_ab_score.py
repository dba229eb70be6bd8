"""Scoring synthetic rater files with known answers: every number checked against a hand computation."""
import csv
import math

import pytest

from core.jsonio import read_json, write_json
from eval.ab_score import RatingError, main, score
from eval.ab_sheets import EXPORT_FORMAT, write_sheets

Z95 = 1.959963984540054


def wilson(successes, n):
    p, z2 = successes / n, Z95 ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


@pytest.fixture
def run(tmp_path):
    ab = [{"item_id": f"c{i}", "prompt": f"任务{i}", "adapter": f"甲{i}", "base": f"乙{i}"} for i in range(10)]
    rog = [{"item_id": f"c{i}", "prompt": f"开头{i}", "real": f"真{i}", "generated": f"假{i}"} for i in range(6)]
    write_sheets(tmp_path / "run" / "eval" / "ab", ab, rog, seed=42)
    return tmp_path / "run"


def key_of(run, sheet):
    return read_json(run / "eval" / "ab" / "key.json")["sheets"][sheet]


def answers_for(run, sheet, outcomes):
    """Outcomes in system terms per source item id ("adapter"/"base"/"tie", ...) -> the rater's A/B answers."""
    key = key_of(run, sheet)
    answers = []
    for shown, entry in sorted(key["items"].items()):
        outcome = outcomes.get(entry["item_id"])
        choice = next((side for side in ("A", "B") if entry[side] == outcome), outcome)
        answers.append({"item": shown, "choice": choice, "comment": ""})
    return key["sheet_id"], answers


def export_json(run, path, sheet, rater, outcomes):
    sheet_id, answers = answers_for(run, sheet, outcomes)
    write_json(path, {"format": EXPORT_FORMAT, "version": 1, "sheet": sheet, "sheet_id": sheet_id, "rater": rater,
                      "exported_at": "2025-01-01T00:00:00Z", "answers": answers})
    return path


def export_csv(run, path, sheet, rater, outcomes):
    sheet_id, answers = answers_for(run, sheet, outcomes)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sheet", "sheet_id", "rater", "item", "choice", "comment"])
        for a in answers:
            writer.writerow([sheet, sheet_id, rater, a["item"], a["choice"] or "", a["comment"]])
    return path


SEVEN_TWO_ONE = {**{f"c{i}": "adapter" for i in range(7)}, "c7": "base", "c8": "base", "c9": "tie"}


def test_single_rater_win_rate_and_sign_test(run, tmp_path):
    r1 = export_json(run, tmp_path / "r1.json", "ab", "one", SEVEN_TWO_ONE)
    sheet = score(run, [r1])["sheets"]["ab"]
    assert sheet["judgements"] == {"adapter": 7, "base": 2, "tie": 1, "answered": 10, "unanswered": 0}
    win = sheet["adapter_win_rate"]
    assert (win["successes"], win["n"], win["estimate"]) == (7, 9, 7 / 9)
    assert win["p_value"] == pytest.approx(2 * (36 + 9 + 1) / 2 ** 9)  # two-sided exact binomial, 7 of 9
    assert (win["ci_low"], win["ci_high"]) == pytest.approx(wilson(7, 9))
    assert sheet["per_item"]["adapter_win_rate"]["estimate"] == 7 / 9  # one rater: items = judgements
    assert sheet["agreement"] is None
    key = key_of(run, "ab")["items"]
    a_picks = sum(SEVEN_TWO_ONE[entry["item_id"]] == entry["A"] for entry in key.values())
    assert sheet["position_A_share"]["successes"] == a_picks and sheet["position_A_share"]["n"] == 9
    assert (run / "eval" / "ab" / "ab_scores.json").is_file()


def test_two_raters_in_perfect_agreement(run, tmp_path):
    files = [export_json(run, tmp_path / f"r{n}.json", "ab", f"rater{n}", SEVEN_TWO_ONE) for n in (1, 2)]
    agreement = score(run, files)["sheets"]["ab"]["agreement"]
    assert agreement["fleiss_kappa"] == pytest.approx(1.0)
    assert agreement["krippendorff_alpha"] == pytest.approx(1.0)
    assert agreement["n_items_all_raters"] == 10


def test_agreement_and_majority_by_hand(run, tmp_path):
    # Four items rated by two raters: (ad, ad), (ba, ba), (ad, ba), (ad, ad); the rest left blank.
    one = {"c0": "adapter", "c1": "base", "c2": "adapter", "c3": "adapter"}
    two = {"c0": "adapter", "c1": "base", "c2": "base", "c3": "adapter"}
    files = [export_json(run, tmp_path / "one.json", "ab", "one", one),
             export_csv(run, tmp_path / "two.csv", "ab", "two", two)]
    sheet = score(run, files)["sheets"]["ab"]
    # Fleiss: mean observed agreement 3/4, chance (5/8)^2 + (3/8)^2 = 17/32 -> kappa 7/15.
    assert sheet["agreement"]["fleiss_kappa"] == pytest.approx(7 / 15)
    # Krippendorff (nominal): 1 - (n-1) * disagreeing pairs / sum n_c n_k = 1 - 7 * 2 / (2 * 5 * 3) = 8/15.
    assert sheet["agreement"]["krippendorff_alpha"] == pytest.approx(8 / 15)
    assert sheet["judgements"]["unanswered"] == 12
    # Per item: c0, c3 adapter; c1 base; c2 split 1:1 -> tie verdict.
    assert sheet["per_item"]["verdicts"] == {"adapter": 2, "base": 1, "tie": 1}
    assert sheet["per_item"]["adapter_win_rate"]["estimate"] == 2 / 3
    by_item = {row["item_id"]: row["verdict"] for row in sheet["per_item"]["items"]}
    assert by_item == {"c0": "adapter", "c1": "base", "c2": "tie", "c3": "adapter"}


def test_fooling_rate_counts_cant_tell_separately(run, tmp_path):
    outcomes = {"c0": "generated", "c1": "generated", "c2": "real", "c3": "real", "c4": "real", "c5": "cant_tell"}
    sheet = score(run, [export_json(run, tmp_path / "r.json", "rog", "one", outcomes)])["sheets"]["rog"]
    assert sheet["judgements"] == {"generated": 2, "real": 3, "cant_tell": 1, "answered": 6, "unanswered": 0}
    fooling = sheet["fooling_rate"]
    assert (fooling["successes"], fooling["n"]) == (2, 5)
    assert (fooling["ci_low"], fooling["ci_high"]) == pytest.approx(wilson(2, 5))


def test_both_sheets_in_one_call_and_cli_summary(run, tmp_path, capsys):
    ab = export_json(run, tmp_path / "ab.json", "ab", "one", SEVEN_TWO_ONE)
    rog = export_csv(run, tmp_path / "rog.csv", "rog", "one", {"c0": "real"})
    main(["--run", str(run), "--sheets", str(ab), str(rog)])
    out = capsys.readouterr().out
    assert "adapter_win_rate" in out and "fooling_rate" in out and "ab_scores.json" in out
    saved = read_json(run / "eval" / "ab" / "ab_scores.json")
    assert sorted(saved["sheets"]) == ["ab", "rog"] and saved["sheets"]["rog"]["judgements"]["unanswered"] == 5
    first = (run / "eval" / "ab" / "ab_scores.json").read_bytes()
    main(["--run", str(run), "--sheets", str(rog), str(ab)])
    assert (run / "eval" / "ab" / "ab_scores.json").read_bytes() == first  # file order does not matter


def test_clear_errors(run, tmp_path):
    good = export_json(run, tmp_path / "good.json", "ab", "one", SEVEN_TWO_ONE)
    with pytest.raises(RatingError, match="no answer key"):
        score(tmp_path / "elsewhere", [good])

    record = read_json(good)
    write_json(tmp_path / "foreign.json", {**record, "sheet_id": "0123456789abcdef"})
    with pytest.raises(RatingError, match="another run or an older version"):
        score(run, [tmp_path / "foreign.json"])

    write_json(tmp_path / "unknown.json", {**record, "answers": record["answers"] + [{"item": "ab-99", "choice": "A"}]})
    with pytest.raises(RatingError, match="item ids not on sheet 'ab': ab-99"):
        score(run, [tmp_path / "unknown.json"])

    write_json(tmp_path / "bad_choice.json", {**record, "answers": [{"item": "ab-01", "choice": "cant_tell"}]})
    with pytest.raises(RatingError, match="allowed: A, B, tie"):
        score(run, [tmp_path / "bad_choice.json"])

    write_json(tmp_path / "wrong_sheet.json", {**record, "sheet": "rog"})
    with pytest.raises(RatingError, match="another run or an older version"):
        score(run, [tmp_path / "wrong_sheet.json"])

    write_json(tmp_path / "not_export.json", {"hello": 1})
    with pytest.raises(RatingError, match="not a rating export"):
        score(run, [tmp_path / "not_export.json"])

    twin = export_csv(run, tmp_path / "twin.csv", "ab", "one", SEVEN_TWO_ONE)
    with pytest.raises(RatingError, match="both rater 'one'"):
        score(run, [good, twin])

    (tmp_path / "blank.csv").write_text("sheet,item\n", encoding="utf-8")
    with pytest.raises(RatingError, match="missing columns"):
        score(run, [tmp_path / "blank.csv"])

    with pytest.raises(SystemExit, match="ab-score: rater file .*missing.json not found"):
        main(["--run", str(run), "--sheets", str(tmp_path / "missing.json")])


def test_filled_in_printable_csv_is_accepted(run, tmp_path):
    sheet_csv = (run / "eval" / "ab" / "ab_sheet.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(sheet_csv.splitlines()))
    for row in rows:
        row.update(rater="paper rater", choice="A")
    with open(tmp_path / "paper.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sheet = score(run, [tmp_path / "paper.csv"])["sheets"]["ab"]
    assert sheet["raters"] == ["paper rater"]
    assert sheet["position_A_share"]["estimate"] == 1.0 and sheet["adapter_win_rate"]["estimate"] == 0.5
