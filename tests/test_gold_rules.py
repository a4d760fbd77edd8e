"""Gold files are held to the gold rules, and nothing matched is not a result (issue 37, points 3, 4, 8).

A gold score file (``--gold`` of ``ra2 score``, ``compare`` and ``leaderboard``) with a negative,
non-integer or above-maximum joint score is refused: exit 2, one line naming the file, the patient and
the column.  A gold landmarks file with a coordinate that is not a finite number is refused naming the
file and line.  ``ra2 score-landmarks`` lists predicted images and landmarks that match nothing in the
gold file, and refuses a run where nothing matches instead of reporting 0.00 %.  ``ra2 leaderboard``
names a predictions file given twice.  No message shows a numpy scalar's repr.  No test trains a network.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from challenge.tables import check_scores, errors, read_table
from ra2.cli import main
from tests.conftest import hashes


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "np.float64" not in out + err
    return code, out, err


def edited(src: Path, dst: Path, line: int, column: str, cell: str) -> Path:
    """A copy of the CSV ``src`` with one cell (file line ``line``, 1 = the header) set to ``cell``."""
    rows = list(csv.reader(io.StringIO(src.read_text())))
    rows[line - 1][rows[0].index(column)] = cell
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    dst.write_text(text.getvalue())
    return dst


def patient(path: Path, line: int) -> str:
    return list(csv.reader(io.StringIO(path.read_text())))[line - 1][0]


# ------------------------------------------------------------------ gold score files
JOINT = "LH_mcp_E__1"          # a hand erosion column: 0..5


@pytest.mark.parametrize("cell, words", [
    ("-1", "negative value -1 (a gold score must be an integer 0..5)"),
    ("2.5", "non-integer gold score 2.5"),
    ("6", "value 6 is above the column's maximum 5"),
])
@pytest.mark.parametrize("command", ["score", "compare", "leaderboard"])
def test_a_gold_joint_score_out_of_the_rules_is_refused_naming_file_row_and_column(capsys, cohort, tmp_path,
                                                                                   command, cell, words):
    gold = edited(cohort / "gold" / "test.csv", tmp_path / "gold.csv", 3, JOINT, cell)
    pred = cohort / "gold" / "reader2.csv"
    argv = {"score": ["score", pred],
            "compare": ["compare", pred, pred],
            "leaderboard": ["leaderboard", pred, "--n-boot", 5]}[command]
    before = hashes(gold, pred)
    code, out, err = ra2(capsys, *argv, "--gold", gold)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1, err
    assert (f"{gold} cannot be used as a gold file: row {patient(gold, 3)}, column {JOINT}: {words}"
            in err), err
    assert hashes(gold, pred) == before


def test_the_phantom_gold_files_keep_to_the_gold_rules(cohort):
    for name in ("test.csv", "reader2.csv"):
        assert not errors(check_scores(read_table(cohort / "gold" / name), strict=True))


def test_a_non_integer_gold_total_is_still_scored_with_weight_0(capsys, cohort, tmp_path):
    gold = edited(cohort / "gold" / "test.csv", tmp_path / "gold.csv", 2, "Overall_Tol", "10.5")
    code, out, err = ra2(capsys, "score", cohort / "gold" / "reader2.csv", "--gold", gold)
    assert code == 0 and "SC1" in out and "weight 0" in err


def test_a_negative_gold_total_is_refused_not_scored_as_undefined(capsys, cohort, tmp_path):
    gold = edited(cohort / "gold" / "test.csv", tmp_path / "gold.csv", 2, "Overall_Tol", "-3")
    code, out, err = ra2(capsys, "score", cohort / "gold" / "reader2.csv", "--gold", gold)
    assert code == 2 and not out and "column Overall_Tol: negative value -3 (a gold total cannot be negative)" in err


def test_a_prediction_cell_that_is_infinite_is_named_without_numpy_words(capsys, cohort, tmp_path):
    pred = edited(cohort / "gold" / "reader2.csv", tmp_path / "pred.csv", 2, JOINT, "inf")
    code, out, _ = ra2(capsys, "validate", pred, "--template", cohort / "test" / "template.csv")
    assert code == 1
    assert f"row {patient(pred, 2)}, column {JOINT}: not a finite number: inf" in out, out


# ------------------------------------------------------------------ leaderboard entries
@pytest.mark.parametrize("second", ["same", "other spelling"])
def test_leaderboard_names_a_predictions_file_given_twice(capsys, cohort, second):
    pred = cohort / "gold" / "reader2.csv"
    again = pred if second == "same" else cohort / "gold" / ".." / "gold" / "reader2.csv"
    code, out, err = ra2(capsys, "leaderboard", pred, again, "--gold", cohort / "gold" / "test.csv", "--n-boot", 5)
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and f"{again}: the same predictions file is given twice" in err


# ------------------------------------------------------------------ landmark files
def test_a_gold_landmarks_file_with_a_missing_coordinate_is_refused_naming_file_and_line(capsys, cohort, tmp_path):
    gold = edited(cohort / "gold" / "landmarks.csv", tmp_path / "landmarks.csv", 4, "y", "")
    pred = cohort / "gold" / "landmarks.csv"
    before = hashes(gold, pred)
    code, out, err = ra2(capsys, "score-landmarks", pred, "--gold", gold)
    assert code == 2 and not out
    assert f"{gold}: line 4, column y: empty cell or NaN" in err and len(err.strip().splitlines()) == 1
    assert hashes(gold, pred) == before


def test_score_landmarks_lists_predicted_images_and_names_that_match_nothing(capsys, cohort, tmp_path):
    gold = cohort / "gold" / "landmarks.csv"
    rows = list(csv.reader(io.StringIO(gold.read_text())))
    image = rows[1][0]
    stray = rows[1][0].rsplit("-", 1)
    moved = [r for r in rows[1:] if r[0] != image][0][0]
    for r in rows[1:]:
        if r[0] == image:
            r[0] = f"NOBODY-{stray[1]}"                        # one image that is not in the gold file
    renamed = next(r for r in rows[1:] if r[0] == moved)
    renamed[1] = "pip99"                                       # one landmark name no gold point has
    pred = tmp_path / "pred.csv"
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    pred.write_text(text.getvalue())
    code, out, err = ra2(capsys, "score-landmarks", pred, "--gold", gold, "--images", cohort / "test")
    assert code == 0 and "within" in out
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert any(f"1 predicted image(s) are not in the gold file {gold} (ignored): NOBODY-{stray[1]}" in w
               for w in warnings), err
    assert any("landmark name(s) pip99 match no gold landmark" in w for w in warnings), err


@pytest.mark.parametrize("what", ["images", "landmark names"])
def test_score_landmarks_where_nothing_matches_is_refused_not_zero(capsys, cohort, tmp_path, what):
    gold = cohort / "gold" / "landmarks.csv"
    rows = list(csv.reader(io.StringIO(gold.read_text())))
    for r in rows[1:]:
        if what == "images":
            r[0] = "OTHER" + r[0]
        else:
            r[1] = r[1] + "x"
    pred = tmp_path / "pred.csv"
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    pred.write_text(text.getvalue())
    before = hashes(gold, pred)
    code, out, err = ra2(capsys, "score-landmarks", pred, "--gold", gold, "--json", tmp_path / "m.json")
    assert code == 2 and "0.00 %" not in out and not out
    assert len(err.strip().splitlines()) == 1
    assert "nothing matched" in err and str(pred) in err and str(gold) in err
    assert hashes(gold, pred) == before and not (tmp_path / "m.json").exists()
