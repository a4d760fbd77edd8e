"""`ra2 validate`: every error names file, row and column; exit codes 0 / 1 / 2."""
import pytest

from challenge import catalogue as cat
from challenge.tables import read_table, template_frame, write_atomic, write_scores
from ra2.cli import main
from tests.conftest import random_scores


@pytest.fixture
def files(tmp_path):
    scores = random_scores(5, seed=4)
    write_atomic(template_frame(list(scores.index)), tmp_path / "template.csv")
    write_scores(scores, tmp_path / "pred.csv", tmp_path / "template.csv", decimals=None)
    return tmp_path


def edit(path, fn):
    lines = path.read_text().splitlines()
    rows = [line.split(",") for line in lines]
    fn(rows)
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")


def run(files, capsys):
    rc = main(["validate", str(files / "pred.csv"), "--template", str(files / "template.csv")])
    return rc, capsys.readouterr().out


def test_valid_file(files, capsys):
    rc, out = run(files, capsys)
    assert rc == 0 and "valid" in out


def col(rows, name):
    return rows[0].index(name)


@pytest.mark.parametrize("change,expect", [
    (lambda r: [row.pop(col(r, "LH_pip_J__3")) for row in r[::-1]], "column LH_pip_J__3: required column is missing"),
    (lambda r: [row.append("0") for row in r] and r[0].__setitem__(-1, "LH_bogus"),
     "column LH_bogus: unknown column"),
    (lambda r: r[0].__setitem__(col(r, "RF_mtp_J__1"), "LH_pip_J__2"),
     "column LH_pip_J__2: column appears more than once"),
    (lambda r: r.append(list(r[1])), "row P0000, column Patient_ID: patient appears 2 times"),
    (lambda r: r[2].__setitem__(0, "XX9"), "row XX9, column Patient_ID: patient is not in the template"),
    (lambda r: r[3].__setitem__(col(r, "LF_mtp_E__2"), ""), "row P0002, column LF_mtp_E__2: empty cell"),
    (lambda r: r[3].__setitem__(col(r, "LF_mtp_E__2"), "abc"), "row P0002, column LF_mtp_E__2: not a number: 'abc'"),
    (lambda r: r[4].__setitem__(col(r, "RH_mcp_J__5"), "inf"),
     "row P0003, column RH_mcp_J__5: not a finite number"),
    (lambda r: r[4].__setitem__(col(r, "RH_mcp_J__5"), "nan"), "row P0003, column RH_mcp_J__5: not a finite"),
])
def test_each_error_is_named(files, capsys, change, expect):
    edit(files / "pred.csv", change)
    rc, out = run(files, capsys)
    assert rc == 1, out
    assert f"error: {files / 'pred.csv'}, {expect}" in out


def test_missing_patient_named(files, capsys):
    edit(files / "pred.csv", lambda r: r.pop(2))
    rc, out = run(files, capsys)
    assert rc == 1 and "row P0001, column Patient_ID: patient of the template has no row" in out


@pytest.mark.parametrize("value,expect", [("-1", "negative value -1 (the official scorer sets it to 0)"),
                                          ("6", "value 6 is above the column's maximum 5")])
def test_warnings_do_not_invalidate(files, capsys, value, expect):
    edit(files / "pred.csv", lambda r: r[1].__setitem__(col(r, "LH_mcp_E__1"), value))
    rc, out = run(files, capsys)
    assert rc == 0
    assert f"warning: {files / 'pred.csv'}, row P0000, column LH_mcp_E__1: {expect}" in out


def test_foot_erosion_range_is_ten(files, capsys):
    edit(files / "pred.csv", lambda r: r[1].__setitem__(col(r, "LF_mtp_E__1"), "10"))
    assert "above" not in run(files, capsys)[1]


@pytest.mark.parametrize("content,expect", [(b"", "the file is empty"), (b"\x89PNG\x00\x00", "not a text CSV"),
                                            (b"a,b\n1,2\n", "no Patient_ID column")])
def test_unusable_input_exit_2(files, capsys, content, expect):
    (files / "pred.csv").write_bytes(content)
    rc = main(["validate", str(files / "pred.csv"), "--template", str(files / "template.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and expect in err and "pred.csv" in err and "Traceback" not in err


def test_unreadable_file_exit_2(files, capsys):
    rc = main(["validate", str(files / "nope.csv"), "--template", str(files / "template.csv")])
    assert rc == 2 and "nope.csv: cannot read file" in capsys.readouterr().err


def test_bom_crlf_quotes_and_trailing_commas_are_read(files, capsys):
    text = (files / "pred.csv").read_text().splitlines()
    quoted = [",".join(f'"{c}"' for c in line.split(",")) + ",," for line in text]
    (files / "pred.csv").write_bytes(("\ufeff" + "\r\n".join(quoted) + "\r\n").encode())
    rc, out = run(files, capsys)
    assert rc == 0, out
    frame = read_table(files / "pred.csv")
    assert list(frame.columns) == list(cat.COLUMNS)


def test_a_long_problem_list_shows_the_first_ones_and_counts_the_rest():
    from challenge.errors import listed, problem_lines

    assert problem_lines(["a", "b", "c"], 2) == "  a\n  b\n  ... and 1 more"
    assert problem_lines(["a", "b"], 2) == "  a\n  b"
    assert listed(range(12)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"
    assert listed(["x"]) == "x"
