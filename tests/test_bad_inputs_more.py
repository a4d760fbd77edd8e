"""More bad input of the kinds ``ra2 train``, ``predict`` and the scoring side must refuse clearly
(exit 2, one line naming the file and what to do, no traceback, inputs unchanged), found by trying
neighbours of the cases in test_bad_inputs.py and test_train.py: a leaderboard folder
whose report.html is an input, landmark and label files as spreadsheets write them, the pixel
limit raised by ``RA2_MAX_PIXELS``, edited bundle manifests, Ctrl-C while the modules load, and
staged folders (permissions, a half-failed swap).
No test here trains a network."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from challenge import images
from challenge.errors import UsageError
from challenge.images import ImageReadError, image_size, read_grey
from challenge.landmarks import LandmarkError, read_landmarks
from challenge.schemes import load_scheme
from challenge.training import check_training_folder
from ra2.cli import main
from tests.conftest import hashes, untrained_bundle


@pytest.fixture
def train(cohort, tmp_path):
    return Path(shutil.copytree(cohort / "train", tmp_path / "train"))


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ------------------------------------------------------------------ scoring-side outputs
def test_leaderboard_out_folder_whose_report_is_an_input_is_refused(capsys, cohort, tmp_path):
    preds = tmp_path / "board"
    preds.mkdir()
    assert main(["baseline", "train-mean", "--train", str(cohort / "train"), "--test", str(cohort / "test"),
                 "--out", str(preds / "report.html")]) == 0
    capsys.readouterr()
    before = hashes(preds, cohort / "gold")
    code, _, err = ra2(capsys, "leaderboard", "--gold", cohort / "gold" / "test.csv", "--n-boot", 5, "--out", preds,
                       preds / "report.html")
    assert code == 2
    assert "report.html: is one of this command's input files" in err and len(err.strip().splitlines()) == 1
    assert hashes(preds, cohort / "gold") == before


# ------------------------------------------------------------------ label and landmark files
def test_landmark_header_in_any_letter_case_is_read(train):
    path = train / "landmarks.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["Image,LANDMARK,X,y", *lines[1:]]) + "\n")
    assert list(read_landmarks(path).columns[:4]) == ["image", "landmark", "x", "y"]
    assert not check_training_folder(train, load_scheme("svh21")).errors


@pytest.mark.parametrize("name, words", [
    ("landmarks.csv", "the header is separated by ';', write commas"),
    ("training.csv", "no Patient_ID column in the header (the columns are separated by ';'; save it with commas)"),
])
def test_semicolon_separated_files_are_named_with_the_fix(capsys, train, tmp_path, name, words):
    path = train / name
    path.write_bytes(path.read_bytes().replace(b",", b";"))
    before = hashes(train)
    code, _, err = ra2(capsys, "train", "--data", train, "--out", tmp_path / "bundle", "--quick")
    assert code == 2 and words in err and str(path) in err
    assert hashes(train) == before and not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("cell, words", [("", "column y: empty cell or NaN; give the pixel coordinate"),
                                          ("inf", "column y: not a finite number: inf"),
                                          ("twelve", "column y: not a number: 'twelve'")])
def test_landmark_coordinates_that_are_not_numbers_are_named_in_plain_words(train, cell, words):
    path = train / "landmarks.csv"
    lines = path.read_text().splitlines()
    image, landmark, x, _ = lines[3].split(",")
    lines[3] = ",".join([image, landmark, x, cell])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LandmarkError) as info:
        read_landmarks(path)
    assert f"line 4, {words}" in str(info.value) and "np.float64" not in str(info.value)


# ------------------------------------------------------------------ the pixel limit
def _picture(tmp_path, w=90, h=120) -> Path:
    path = tmp_path / "PHT0009-LH.png"
    Image.fromarray((np.arange(w * h) % 251).astype(np.uint8).reshape(h, w)).save(path)
    return path


def test_the_pixel_limit_names_its_environment_variable_and_obeys_it(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    path = _picture(tmp_path)
    monkeypatch.setenv("RA2_MAX_PIXELS", "5000")
    for read in (read_grey, image_size):
        with pytest.raises(ImageReadError, match=r"10800 pixels is above the limit of 5000 .*environment variable "
                                                 r"RA2_MAX_PIXELS"):
            read(path)
    monkeypatch.setenv("RA2_MAX_PIXELS", "20000")
    assert read_grey(path).shape == (120, 90) and image_size(path) == (90, 120)
    monkeypatch.delenv("RA2_MAX_PIXELS")
    assert images.max_pixels() == images.MAX_PIXELS
    monkeypatch.setenv("RA2_MAX_PIXELS", "lots")
    with pytest.raises(UsageError, match=r"RA2_MAX_PIXELS='lots': must be a whole number of pixels"):
        read_grey(path)


def test_training_check_says_which_images_are_over_the_pixel_limit(train, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    sizes = {p.name: np.prod(image_size(p)) for p in train.glob("*.jpg")}
    largest = max(sizes, key=sizes.get)
    monkeypatch.setenv("RA2_MAX_PIXELS", str(sizes[largest] - 1))
    check = check_training_folder(train, load_scheme("svh21"))
    assert any(largest in w and "RA2_MAX_PIXELS" in w for w in check.warnings), check.warnings


# ------------------------------------------------------------------ bundle manifests
@pytest.fixture
def fake_bundle(tmp_path):
    """A bundle folder with the right file names and checksums (the files are not networks: every
    case below is refused before any is loaded)."""
    return untrained_bundle(tmp_path / "bundle", load_scheme("svh21"))


def _edit(folder: Path, change, *, resign: bool = False) -> None:
    """Edit bundle.json by hand; ``resign``: and recompute its digest, as only a deliberate forger would."""
    from submission.bundle import MANIFEST_DIGEST, manifest_digest

    path = folder / "bundle.json"
    record = json.loads(path.read_text())
    change(record)
    if resign:
        record[MANIFEST_DIGEST] = manifest_digest(record)
    path.write_text(json.dumps(record))


EDITS = {
    "a setting": lambda d: d["settings"]["hand"].__setitem__("steps", 7),
    "the scheme": lambda d: d["scheme"]["landmarks"]["hand"].reverse(),
    "a blend weight": lambda d: d.__setitem__("blend_weights", {"narrowing": 0.9, "erosion": 0.1}),
    "the prior": lambda d: d["prior"].__setitem__("LH_mcp_E__1", 3.0),
    "a checksum": lambda d: d["checksums"].__setitem__("localizer_hand.keras", "0" * 64),
}


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("command", ["predict", "explain", "review"])
def test_a_bundle_manifest_edited_by_hand_is_refused_naming_it(capsys, cohort, fake_bundle, tmp_path, edit, command):
    """The manifest is covered too: its checksums cannot protect the file they sit in, so it carries a
    digest of its own values."""
    _edit(fake_bundle, EDITS[edit])
    test = cohort / "test"
    assert main(["baseline", "train-mean", "--train", str(cohort / "train"), "--test", str(test), "--out",
                 str(tmp_path / "mean.csv")]) == 0
    argv = {"predict": ["predict", "--bundle", fake_bundle, "--images", test, "--template", test / "template.csv",
                        "--out", tmp_path / "p.csv"],
            "explain": ["explain", "--bundle", fake_bundle, "--out", tmp_path / "p"],
            "review": ["review", "--bundle", fake_bundle, "--images", test, "--predictions", tmp_path / "mean.csv",
                       "--out", tmp_path / "p"]}[command]
    before = hashes(fake_bundle, test)
    code, _, err = ra2(capsys, *argv)
    assert code == 2 and f"{fake_bundle / 'bundle.json'}: changed since training" in err and err.count("\n") == 1
    assert hashes(fake_bundle, test) == before and not (tmp_path / "p.csv").exists() and not (tmp_path / "p").exists()


@pytest.mark.parametrize("change, words", [
    (lambda d: d["settings"]["hand"].__setitem__("patch", "big"),
     "setting 'hand.patch' is 'big', expected an integer like"),
    (lambda d: d["settings"].__setitem__("seg", 1), "setting 'seg' is 1, expected true or false"),
    (lambda d: d["settings"]["localizer"].__setitem__("sigma", "wide"),
     "setting 'localizer.sigma' is 'wide', expected a finite"),
    (lambda d: d["settings"]["foot"].__setitem__("ordinal", ["narowing"]),
     "setting 'foot.ordinal' names narowing: the damage types are narrowing, erosion"),
    (lambda d: d["settings"].__setitem__("stacker", 3), "setting 'stacker' is 3, expected a group of settings"),
    (lambda d: d.pop("checksums"), "records no checksums of the bundle's files"),
])
def test_a_resigned_manifest_with_a_bad_value_is_still_refused_by_name(capsys, cohort, fake_bundle, tmp_path, change,
                                                                      words):
    _edit(fake_bundle, change, resign=True)
    test = cohort / "test"
    before = hashes(fake_bundle, test)
    code, _, err = ra2(capsys, "predict", "--bundle", fake_bundle, "--images", test, "--template",
                       test / "template.csv", "--out", tmp_path / "p.csv")
    assert code == 2 and words in err and "bundle.json" in err
    assert hashes(fake_bundle, test) == before and not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------ interrupts and staged folders
def test_ctrl_c_while_the_modules_load_is_one_line(capsys, monkeypatch):
    import ra2.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["score", "x"]) == 130
    assert capsys.readouterr().err.strip() == "ra2: interrupted before any work"


def test_a_staged_folder_gets_the_usual_permissions(tmp_path):
    from challenge.outputs import staged_folder

    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "out", "train") as work:
            (work / "done.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


def test_a_swap_that_fails_half_way_puts_the_earlier_result_back(tmp_path, monkeypatch):
    from challenge.outputs import staged_folder

    out = tmp_path / "out"
    with staged_folder(out, "train") as work:
        (work / "done.txt").write_text("old")
    real = Path.replace

    def failing(self, target):
        if self.name.endswith(".partial"):
            raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", failing)
    with pytest.raises(OSError):
        with staged_folder(out, "train") as work:
            (work / "done.txt").write_text("new")
    assert (out / "done.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("command", ["explain", "predict"])
def test_an_output_folder_inside_the_bundle_is_refused(capsys, cohort, fake_bundle, tmp_path, command):
    test = cohort / "test"
    inside = fake_bundle / "shap"
    argv = (["explain", "--bundle", fake_bundle, "--out", inside] if command == "explain" else
            ["predict", "--bundle", fake_bundle, "--images", test, "--template", test / "template.csv",
             "--out", tmp_path / "p.csv", "--overlays", inside])
    before = hashes(fake_bundle, test)
    code, _, err = ra2(capsys, *argv)
    assert code == 2 and f"{inside}: is inside the bundle folder {fake_bundle}" in err
    assert hashes(fake_bundle, test) == before and not inside.exists() and not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------ ra2 demo's options
def test_demo_refuses_a_negative_seed_and_a_folder_of_other_files(capsys, cohort, tmp_path):
    code, _, err = ra2(capsys, "demo", "--no-method", "--out", tmp_path / "d", "--seed", -1)
    assert code == 2 and "--seed -1: must be between 0 and" in err and not (tmp_path / "d").exists()
    before = hashes(cohort)
    code, _, err = ra2(capsys, "demo", "--no-method", "--out", cohort)
    assert code == 2 and f"--out {cohort}: not a folder that ra2 demo wrote (ra2 synth wrote it" in err
    assert "cohort.json, gold/, ra2-output.json and 2 more" in err
    assert hashes(cohort) == before and sorted(p.name for p in cohort.iterdir()) == ["cohort.json", "gold",
                                                                                     "ra2-output.json", "test",
                                                                                     "train"]


@pytest.mark.parametrize("command", ["train", "cv"])
def test_an_empty_data_path_is_not_the_current_folder(capsys, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    code, _, err = ra2(capsys, command, "--data", "", "--out", tmp_path / "out", "--quick")
    assert code == 2 and "an empty path was given for the training folder" in err
    assert not (tmp_path / "out").exists()
