"""The bad-input corpus (tests/badinput/make_corpus.py) against every layer that reads user files:
``challenge.tables``, ``challenge.dataset``, ``challenge.images`` and the ``ra2`` evaluator commands.

For each case: the message names the file (and row and column where there is one), the
outcome is right (accepted with the same values, or refused with the right exit code),
nothing ends in a traceback, and nothing already written is lost.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from challenge.catalogue import LIMBS
from challenge.dataset import scan_folder
from challenge.errors import TableError
from challenge.images import ImageReadError, read_grey
from challenge.tables import check_scores, errors, read_scores, read_table, read_template
from ra2.cli import main


def only(problems, level="error"):
    return [p for p in problems if p.level == level]


# ------------------------------------------------------------------ challenge.tables
@pytest.mark.parametrize("name", ["pred_bom", "pred_crlf", "pred_quoted", "pred_trailing_columns"])
def test_harmless_csv_variants_read_as_the_clean_file(corpus, name):
    clean = read_scores(corpus.pred)
    variant = read_scores(getattr(corpus, name))
    pd.testing.assert_frame_equal(variant, clean, check_names=False)
    assert list(read_table(getattr(corpus, name)).columns) == list(read_table(corpus.pred).columns)


@pytest.mark.parametrize("name, row, column, words", [
    ("pred_duplicate_patient", "UAB002", "Patient_ID", "patient appears 2 times"),
    ("pred_unknown_column", None, "Comment", "unknown column"),
    ("pred_non_numeric", "UAB002", "LH_mcp_E__ip", "not a number: 'n/a'"),
    ("pred_missing_patient", "UAB004", "Patient_ID", "has no row in this file"),
])
def test_bad_prediction_rows_and_columns_are_named(corpus, name, row, column, words):
    path = getattr(corpus, name)
    problems = errors(check_scores(read_table(path), read_table(corpus.template)))
    assert len(problems) == 1, problems
    p = problems[0]
    assert (Path(p.file).name, p.row, p.column) == (path.name, row, column) and words in p.message
    assert str(p).startswith(f"error: {path}")
    if name != "pred_missing_patient":      # read_scores has no template, so it cannot miss a patient
        with pytest.raises(TableError, match=re.escape(words)):
            read_scores(path)


def test_gold_with_non_integer_scores_is_warned_per_cell(corpus):
    problems = check_scores(read_table(corpus.gold_non_integer), gold=True)
    assert not only(problems)
    cells = {(p.row, p.column) for p in only(problems, "warning") if "non-integer gold score" in p.message}
    assert cells == {("UAB003", c) for c in ("RH_pip_J__2", "Overall_narrowing", "Overall_Tol")}
    tol = next(p for p in problems if p.column == "Overall_Tol")
    assert "weight 0" in tol.message and Path(tol.file).name == "gold_non_integer.csv"
    assert not check_scores(read_table(corpus.gold), gold=True)


@pytest.mark.parametrize("name, words", [
    ("template_empty", "no patient"),
    ("empty", "the file is empty"),
    ("pred_binary", "not a text CSV file"),
])
def test_unusable_templates(corpus, name, words):
    path = getattr(corpus, name)
    with pytest.raises(TableError, match=words) as err:
        read_template(path)
    assert str(path) in str(err.value)


# ------------------------------------------------------------------ challenge.dataset and images
def test_folder_scan_reports_missing_limbs_patients_without_images_and_extra_files(corpus):
    folder = scan_folder(corpus.images)
    template_ids = list(read_template(corpus.images / "template.csv")["Patient_ID"])
    missing = folder.missing(template_ids)
    assert ("UAB003", "RF") in missing
    assert [limb for p, limb in missing if p == "UAB005"] == list(LIMBS)
    assert not [m for m in missing if m[0] in ("UAB001", "UAB002")]
    assert sorted(p.name for p in folder.unexpected) == ["UAB001-XX.jpg", "notes.txt"]
    assert "UAB005" not in folder.patients


@pytest.mark.parametrize("name, words", [
    ("UAB002-LH.jpg", "empty file (0 bytes)"),
    ("UAB002-RH.jpg", "truncated file"),
    ("UAB002-RF.png", "truncated file"),
    ("UAB002-LF.jpg", "not an image file (it holds text"),
    ("UAB004-LH.png", "too small for a radiograph"),
    ("UAB004-RH.png", "pixels is above the limit"),
])
def test_broken_images_name_file_and_fault(corpus, name, words):
    with pytest.raises(ImageReadError) as err:
        read_grey(corpus.images / name)
    assert str(err.value).startswith(str(corpus.images / name)) and words in str(err.value)


def test_good_images_of_every_kind_read(corpus):
    shapes = {read_grey(corpus.images / f"UAB001-{limb}.{ext}").shape
              for limb, ext in (("LH", "jpg"), ("RH", "png"), ("LF", "jpg"), ("RF", "png"))}
    assert shapes == {(128, 96)}


# ------------------------------------------------------------------ the ra2 evaluator commands
def ra2(capsys, *argv):
    """Exit code, stdout and stderr of one ``ra2`` run; a traceback anywhere fails the test."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


@pytest.mark.parametrize("name", ["pred", "pred_bom", "pred_crlf", "pred_quoted", "pred_trailing_columns"])
def test_validate_accepts_harmless_variants(corpus, capsys, name):
    code, out, _ = ra2(capsys, "validate", getattr(corpus, name), "--template", corpus.template)
    assert code == 0 and f"{name}.csv: valid" in out


@pytest.mark.parametrize("name, words", [
    ("pred_duplicate_patient", "row UAB002, column Patient_ID: patient appears 2 times"),
    ("pred_unknown_column", "column Comment: unknown column"),
    ("pred_non_numeric", "row UAB002, column LH_mcp_E__ip: not a number: 'n/a'"),
    ("pred_missing_patient", "row UAB004, column Patient_ID: patient of the template has no row"),
])
def test_validate_names_file_row_and_column_of_invalid_files(corpus, capsys, name, words):
    code, out, _ = ra2(capsys, "validate", getattr(corpus, name), "--template", corpus.template)
    assert code == 1 and f"{getattr(corpus, name)}, {words}" in out and "INVALID" in out


@pytest.mark.parametrize("pred, template, words", [
    ("empty", "template", "empty.csv: the file is empty"),
    ("pred_binary", "template", "pred_binary.csv: not a text CSV file"),
    ("pred", "empty", "empty.csv: the file is empty"),
])
def test_validate_unusable_input_is_one_line_exit_2(corpus, capsys, pred, template, words):
    code, _, err = ra2(capsys, "validate", getattr(corpus, pred), "--template", getattr(corpus, template))
    assert code == 2 and words in err and err.count("\n") == 1


def test_validate_with_an_empty_template_is_unusable(corpus, capsys):
    code, _, err = ra2(capsys, "validate", corpus.pred, "--template", corpus.template_empty)
    assert code == 2 and "template_empty.csv" in err and "no patients" in err


@pytest.mark.parametrize("pred, gold, code_, stream, words", [
    ("pred_non_numeric", "gold", 1, "err", "pred_non_numeric.csv, row UAB002, column LH_mcp_E__ip: not a number"),
    ("pred_duplicate_patient", "gold", 1, "err", "row UAB002, column Patient_ID: patient appears 2 times"),
    ("pred_missing_patient", "gold", 1, "err", "row UAB004, column Patient_ID: patient of the template has no row"),
    ("pred_binary", "gold", 2, "err", "pred_binary.csv: not a text CSV file"),
    ("pred", "empty", 2, "err", "empty.csv: the file is empty"),
    ("pred", "pred_duplicate_patient", 2, "err", "pred_duplicate_patient.csv cannot be used as a gold file"),
    ("pred_bom", "gold", 0, "out", "SC2 narrowing"),
])
def test_score_outcomes_and_messages(corpus, capsys, tmp_path, pred, gold, code_, stream, words):
    keep = tmp_path / "result.json"
    keep.write_text('{"earlier": "run"}')
    code, out, err = ra2(capsys, "score", getattr(corpus, pred), "--gold", getattr(corpus, gold), "--json", keep)
    assert code == code_ and words in (out if stream == "out" else err)
    if code:
        assert keep.read_text() == '{"earlier": "run"}'        # a failed run leaves the old file alone


def test_score_refuses_a_gold_file_with_non_integer_joint_scores(corpus, capsys):
    code, out, err = ra2(capsys, "score", corpus.pred, "--gold", corpus.gold_non_integer)
    assert code == 2 and "row UAB003, column RH_pip_J__2: non-integer gold score 1.5" in err and "SC1" not in out


def test_score_says_which_gold_cells_are_not_integers(corpus, capsys):
    _, _, err = ra2(capsys, "score", corpus.pred, "--gold", corpus.gold_non_integer)
    assert "gold_non_integer.csv" in err and "non-integer" in err


@pytest.mark.parametrize("b, code_, words", [
    ("pred_crlf", 0, "Wilcoxon"),
    ("pred_unknown_column", 1, "pred_unknown_column.csv, column Comment: unknown column"),
    ("empty", 2, "empty.csv: the file is empty"),
])
def test_compare(corpus, capsys, b, code_, words):
    code, out, err = ra2(capsys, "compare", corpus.pred, getattr(corpus, b), "--gold", corpus.gold)
    assert code == code_ and words in out + err


def test_leaderboard_bad_entry_keeps_earlier_output(corpus, capsys, tmp_path):
    out_dir = tmp_path / "board"
    code, _, _ = ra2(capsys, "leaderboard", corpus.pred, corpus.pred_quoted, "--gold", corpus.gold,
                     "--n-boot", 10, "--out", out_dir)
    assert code == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    assert "leaderboard.csv" in before
    for bad, code_, words in (("pred_non_numeric", 1, "row UAB002, column LH_mcp_E__ip"),
                              ("pred_binary", 2, "pred_binary.csv: not a text CSV file")):
        code, _, err = ra2(capsys, "leaderboard", corpus.pred, getattr(corpus, bad), "--gold", corpus.gold,
                           "--n-boot", 10, "--out", out_dir)
        assert code == code_ and words in err
        assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before


def test_leaderboard_with_an_unusable_gold_file(corpus, capsys):
    code, _, err = ra2(capsys, "leaderboard", corpus.pred, "--gold", corpus.empty, "--n-boot", 5)
    assert code == 2 and "empty.csv: the file is empty" in err
