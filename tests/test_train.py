"""``ra2 train``: what a training refuses before any work, and what it leaves.

Training inputs are checked before any training (challenge/training.py, challenge/landmarks.py):
``ra2 train`` refuses bad labels, too few patients, bad landmarks and bad options with exit 2 and a
message naming the file, row/column or image/landmark, before any Keras work; the inputs are
unchanged and no bundle folder is left (and an existing bundle is kept).  Landmark files as users
write them (extensions, letter case) are accepted.  A hands-only folder trains a bundle without foot
networks; an interrupted retraining leaves the old bundle as it was.  Also ``ra2 landmarks import``
and ``check`` and the scheme's groups in ``ra2 score-landmarks``, which prepare and check training
folders.  ``ra2 cv`` is in test_cv.py, ``ra2 predict`` in test_predict.py, ``--budget`` in
test_budget.py, the profiles in test_bundle.py."""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from challenge.landmarks import image_stem, normalise_landmarks, read_landmarks
from challenge.schemes import Scheme, load_scheme
from challenge.training import check_training_folder
from ra2.cli import main
from tests.conftest import untrained_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    # the easy phantoms: small images, and a hand whose swapped x/y falls outside its image
    assert main(["synth", "--out", str(root / "c"), "--train", "4", "--test", "1", "--size-scale", "0.5",
                 "--preset", "easy", "-q"]) == 0
    return root / "c" / "train"


@pytest.fixture
def train(cohort, tmp_path):
    """A private copy of the training folder to spoil."""
    return Path(shutil.copytree(cohort, tmp_path / "train"))


def hashes(folder: Path) -> dict:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.rglob("*")) if f.is_file()}


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def set_cell(path: Path, patient: str, column: str, value: str) -> None:
    rows = list(csv.reader(path.open()))
    col = rows[0].index(column)
    for row in rows[1:]:
        if row[0] == patient:
            row[col] = value
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def edit_landmarks(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        row = change(*line.split(","))
        if row is not None:
            out.append(",".join(map(str, row)))
    path.write_text("\n".join(out) + "\n")


def refused(capsys, train: Path, tmp_path: Path, *extra, command="train"):
    """Run train/cv into a new output path; the run must be refused before any work."""
    before = hashes(train)
    out = tmp_path / "out"
    code, _, err = ra2(capsys, command, "--data", train, "--out", out, "--quick", *extra)
    assert code == 2, err
    assert hashes(train) == before and not out.exists()
    return err


# ------------------------------------------------------------------ labels
@pytest.mark.parametrize("patient, column, value, words", [
    ("PHT0001", "LH_pip_J__2", "9", "column LH_pip_J__2: value 9 is above the column's maximum 4"),
    ("PHT0002", "RH_mcp_E__1", "17", "column RH_mcp_E__1: value 17 is above the column's maximum 5"),
    ("PHT0003", "LF_mtp_E__1", "-1", "column LF_mtp_E__1: negative value -1"),
    ("PHT0004", "RF_mtp_J__2", "1.5", "column RF_mtp_J__2: non-integer training score 1.5"),
    ("PHT0001", "LH_mcp_E__ip", "nan", "column LH_mcp_E__ip: not a finite number: 'nan'"),
    ("PHT0002", "LH_mcp_E__ip", "", "column LH_mcp_E__ip: empty cell"),
])
def test_train_refuses_labels_that_validate_of_a_gold_file_flags(capsys, train, tmp_path, patient, column, value,
                                                                  words):
    set_cell(train / "training.csv", patient, column, value)
    err = refused(capsys, train, tmp_path)
    assert f"training.csv, row {patient}, {words}" in err


def test_train_needs_two_labelled_patients_with_images(capsys, caplog, train, tmp_path):
    for image in train.glob("PHT000[234]-*.jpg"):
        image.unlink()
    err = refused(capsys, train, tmp_path)
    assert "need at least 2 labelled patients with images, found 1" in err
    assert ("3 labelled patient(s) of training.csv have no image and are not used: PHT0002, PHT0003, PHT0004"
            in caplog.text)


def test_labelled_patients_without_images_are_one_warning(train):
    for image in train.glob("PHT0004-*.jpg"):
        image.unlink()
    check = check_training_folder(train, load_scheme())
    assert not check.errors and check.usable == ["PHT0001", "PHT0002", "PHT0003"]
    assert f"{train}: 1 labelled patient(s) of training.csv have no image and are not used: PHT0004" in check.warnings


def test_two_image_files_of_one_patient_and_limb_are_named(capsys, train, tmp_path):
    shutil.copy(train / "PHT0002-LH.jpg", train / "PHT0002-LH.png")
    err = refused(capsys, train, tmp_path)
    assert "PHT0002-LH has 2 image files (PHT0002-LH.jpg, PHT0002-LH.png); keep only one" in err


# ------------------------------------------------------------------ landmarks
def test_landmark_files_as_users_write_them_are_accepted(train):
    """File names with extensions in any case, upper-case landmark names: the same points."""
    scheme = load_scheme()
    clean = normalise_landmarks(read_landmarks(train / "landmarks.csv"), scheme).frame
    edit_landmarks(train / "landmarks.csv", lambda img, lm, x, y: (
        img.lower() + ".JPG" if img.endswith("LH") else img + ".png", lm.upper(), x, y))
    assert image_stem("uab001-lh.JPG") == "uab001-LH" and image_stem(r"C:\scans\P1-RF.dcm") == "P1-RF"
    check = check_training_folder(train, scheme)
    assert not check.errors and not check.warnings, check.errors + check.warnings
    stems = [p.stem for p in train.glob("*.jpg")]
    again = normalise_landmarks(read_landmarks(train / "landmarks.csv"), scheme, stems=stems).frame
    assert again.sort_values(["image", "landmark"]).reset_index(drop=True).equals(
        clean.sort_values(["image", "landmark"]).reset_index(drop=True))


def test_the_landmark_table_finds_names_in_any_case(train):
    """What training reads: upper-case names and file names with extensions give the same points."""
    from challenge.landmarks import landmark_table

    clean = landmark_table(read_landmarks(train / "landmarks.csv"))
    edit_landmarks(train / "landmarks.csv", lambda img, lm, x, y: (img.lower() + ".JPG", lm.upper(), x, y))
    table = landmark_table(read_landmarks(train / "landmarks.csv"))
    assert len(table) == len(clean)
    for image, points in clean.items():
        assert all(table.get(image).get(name) == xy for name, xy in points.items())
        assert "definitely-not-a-landmark" not in table[image]


def test_an_unknown_landmark_name_is_shown_beside_the_schemes_names(train):
    edit_landmarks(train / "landmarks.csv", lambda img, lm, x, y: (img, "pipp2" if lm == "pip2" else lm, x, y))
    check = check_training_folder(train, load_scheme())
    assert not check.errors
    [said] = [w for w in check.warnings if "pipp2" in w]
    assert "hand landmark name(s) pipp2 are not in scheme 'svh21'" in said and "pip2, pip3" in said


def test_no_known_landmark_name_is_an_error(capsys, train, tmp_path):
    edit_landmarks(train / "landmarks.csv", lambda img, lm, x, y: (img, "point_" + lm, x, y))
    err = refused(capsys, train, tmp_path)
    assert "landmark name(s) point_" in err and "no name matches" in err


@pytest.mark.parametrize("spoil, words", [
    (lambda img, lm, x, y: (img, lm, y, x) if img == "PHT0001-LH" else (img, lm, x, y),
     "image PHT0001-LH, landmark"),
    (lambda img, lm, x, y: (img, lm, float(x) / 1000, float(y) / 1000), "every coordinate is between 0 and 1"),
    (lambda img, lm, x, y: (img, lm, float(x) + 5000, y) if (img, lm) == ("PHT0003-RF", "mtp2") else (img, lm, x, y),
     "image PHT0003-RF, landmark mtp2: point"),
])
def test_points_outside_their_images_or_normalised_are_refused(capsys, train, tmp_path, spoil, words):
    edit_landmarks(train / "landmarks.csv", spoil)
    err = refused(capsys, train, tmp_path)
    assert "landmarks.csv" in err and words in err
    if "point" in words:
        assert "lies outside the" in err and " x " in err            # names the image size


# ------------------------------------------------------------------ options, output folders
@pytest.mark.parametrize("extra, words", [
    (["--steps", "-5"], "--steps -5: must be at least 1"),
    (["--steps", "0"], "--steps 0: must be at least 1"),
    (["--seed", "-1"], "--seed -1: must be between 0"),
    (["--scheme", "nosuch"], "unknown landmark scheme 'nosuch'"),
])
def test_train_options_are_checked_first(capsys, train, tmp_path, extra, words):
    assert words in refused(capsys, train, tmp_path, *extra)


def test_train_refuses_an_out_folder_that_holds_the_data_or_other_files(capsys, train, tmp_path):
    before = hashes(train)
    code, _, err = ra2(capsys, "train", "--data", train, "--out", train.parent, "--quick")
    assert code == 2 and "holds the input" in err
    other = tmp_path / "documents"
    other.mkdir()
    (other / "letter.txt").write_text("mine")
    code, _, err = ra2(capsys, "train", "--data", train, "--out", other, "--quick")
    assert code == 2 and "not a folder that ra2 train wrote" in err and (other / "letter.txt").read_text() == "mine"
    (other / "bundle.json").write_text('{"format": "ra2-method-bundle"}')   # not ours: a file name is no proof
    code, _, err = ra2(capsys, "train", "--data", train, "--out", other, "--quick")
    assert code == 2 and f"--out {other}: not a folder that ra2 train wrote" in err and "letter.txt" in err
    assert sorted(p.name for p in other.iterdir()) == ["bundle.json", "letter.txt"]
    assert hashes(train) == before


# ------------------------------------------------------------------ labels of the bad-input corpus, an earlier bundle kept
def train_folder(corpus, tmp_path, labels: str | None) -> Path:
    """A training folder of the corpus images, a landmarks file and the given corpus CSV as training.csv."""
    folder = tmp_path / "train"
    folder.mkdir()
    for image in corpus.images.glob("UAB00[13]-*.jpg"):
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "landmarks.csv").write_text("image,landmark,x,y\nUAB001-LH,pip2,10,10\n")
    if labels is not None:
        (folder / "training.csv").write_bytes(getattr(corpus, labels).read_bytes())
    return folder


@pytest.mark.parametrize("labels, words", [
    ("pred_duplicate_patient", "training.csv, row UAB002, column Patient_ID: patient appears 2 times"),
    ("pred_non_numeric", "training.csv, row UAB002, column LH_mcp_E__ip: not a number: 'n/a'"),
    ("pred_unknown_column", "training.csv, column Comment: unknown column"),
    ("empty", "training.csv: the file is empty"),
    ("pred_binary", "training.csv: not a text CSV file"),
    (None, "no training.csv (labels) in the training folder"),
])
def test_train_refuses_bad_labels_and_keeps_an_existing_bundle(corpus, capsys, tmp_path, labels, words):
    pytest.importorskip("keras")
    bundle = untrained_bundle(tmp_path / "bundle", load_scheme("svh21"))        # an earlier bundle of ours
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    code, _, err = ra2(capsys, "train", "--data", train_folder(corpus, tmp_path, labels), "--out", bundle, "--quick")
    assert code == 2 and words in err
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before


# ------------------------------------------------------------------ training, and an interrupted retraining
def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_a_hands_only_cohort_trains_and_predicts_every_column(tmp_path, caplog):
    from phantoms.cohort import make_cohort
    from challenge.tables import check_scores, errors, read_table, read_template
    from submission.bundle import Bundle
    from submission.profiles import PROFILES
    from submission.predict import predict_folder
    from submission.train import train_bundle

    caplog.set_level("INFO")
    make_cohort(tmp_path / "c", 5, 2, seed=4, size_scale=0.3)
    train, test = tmp_path / "c" / "train", tmp_path / "c" / "test"
    for p in [*train.glob("*-?F.jpg"), *test.glob("*-?F.jpg")]:
        p.unlink()
    settings = replace(PROFILES["quick"], seg=False)
    bundle = Bundle.load(train_bundle(train, tmp_path / "bundle", settings=settings, progress=False))
    assert bundle.kinds == ("hand",) and "foot" in bundle.untrained and bundle.settings == settings
    assert not any("foot" in f for f in bundle.files())
    assert "foot networks not trained" in caplog.text

    summary = predict_folder(bundle.folder, test, test / "template.csv", tmp_path / "pred.csv", progress=False)
    assert summary["images"] == 4 and len(summary["missing"]) == 4 and summary["failed"] == []
    frame = read_table(tmp_path / "pred.csv")
    assert errors(check_scores(frame, read_template(test / "template.csv"))) == []
    assert frame[[c for c in frame.columns if c.startswith(("LF_", "RF_"))]].notna().all().all()
    assert "no image file for LF of 2 of 2 patients" in caplog.text


@pytest.mark.slow
def test_an_interrupted_retrain_leaves_the_old_bundle_predicting_the_same_bytes(tmp_path, capsys):
    from phantoms.cohort import make_cohort
    from ra2.cli import main

    make_cohort(tmp_path / "c", 4, 2, seed=5, size_scale=0.3)
    train, test = tmp_path / "c" / "train", tmp_path / "c" / "test"
    bundle = tmp_path / "models" / "bundle"
    assert main(["train", "--data", str(train), "--out", str(bundle), "--quick"]) == 0
    predict = ["predict", "--bundle", str(bundle), "--images", str(test), "--template", str(test / "template.csv")]
    assert main([*predict, "--out", str(tmp_path / "before.csv")]) == 0
    before = _hashes(bundle)

    retrain = subprocess.Popen([sys.executable, "-m", "ra2", "train", "--data", str(train), "--out", str(bundle),
                                "--quick", "--seed", "3"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 600
    while not list(bundle.parent.glob(".bundle.*.partial/localizer_*.keras")) and retrain.poll() is None:
        assert time.time() < deadline, "the retraining never wrote a localizer"
        time.sleep(0.2)
    retrain.send_signal(signal.SIGTERM)
    _, err = retrain.communicate(timeout=120)
    assert retrain.returncode == 143 and "interrupted (SIGTERM)" in err and "Traceback" not in err
    assert [p.name for p in bundle.parent.iterdir()] == ["bundle"]      # no partial folder left
    assert _hashes(bundle) == before
    assert main([*predict, "--out", str(tmp_path / "after.csv")]) == 0
    assert (tmp_path / "after.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()

    scorer = next(bundle.glob("scorer_hand_*.keras"))
    scorer.write_bytes(scorer.read_bytes()[:1000])                      # a truncated copy
    capsys.readouterr()
    assert main([*predict, "--out", str(tmp_path / "x.csv")]) == 2
    assert scorer.name in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


# ------------------------------------------------------------------ ra2 landmarks import / check
def _labelme(path: Path, image: str, points: dict, size=(154, 217)) -> None:
    path.write_text(json.dumps({"imagePath": image, "imageWidth": size[0], "imageHeight": size[1], "shapes": [
        {"label": k, "points": [v], "shape_type": "point"} for k, v in points.items()]}))


def test_landmarks_import_writes_the_csv_and_refuses_bad_points(capsys, tmp_path):
    src = tmp_path / "json"
    src.mkdir()
    _labelme(src / "a.json", "..\\scans\\P1-LH.JPG", {"PIP2": [10, 20], "mcp1": [30.5, 40]})
    _labelme(src / "b.json", "P1-LF.png", {"mtp1": [5, 6]})
    out = tmp_path / "landmarks.csv"
    code, text, _ = ra2(capsys, "landmarks", "import", src, "--out", out)
    assert code == 0 and "3 landmarks of 2 images" in text
    frame = read_landmarks(out)
    assert sorted(zip(frame["image"], frame["landmark"])) == [("P1-LF", "mtp1"), ("P1-LH", "mcp1"), ("P1-LH", "pip2")]
    code, _, err = ra2(capsys, "landmarks", "import", src, "--out", src / "a.json")
    assert code == 2 and "is one of this command's input files" in err
    _labelme(src / "c.json", "P2-RH.jpg", {"pip3": [500, 20]})
    code, _, err = ra2(capsys, "landmarks", "import", src, "--out", tmp_path / "x.csv")
    assert code == 2 and "image P2-RH, landmark pip3: point (500, 20) lies outside the 154 x 217 image" in err
    assert not (tmp_path / "x.csv").exists()


def test_landmarks_check_of_a_good_and_a_bad_folder(capsys, train):
    code, out, _ = ra2(capsys, "landmarks", "check", "--data", train)
    assert code == 0 and "usable (4 labelled patients with images" in out
    set_cell(train / "training.csv", "PHT0001", "LH_pip_J__2", "9")
    code, out, _ = ra2(capsys, "landmarks", "check", "--data", train)
    assert code == 1 and "row PHT0001, column LH_pip_J__2: value 9" in out


# ------------------------------------------------------------------ scheme groups and score-landmarks
def test_scheme_groups_builtin_json_and_defaults(tmp_path):
    svh = load_scheme("svh21")
    assert svh.group_of("hand", "pip2") == "finger" and svh.group_of("hand", "ip") == "finger"
    assert svh.group_of("hand", "lunate") == "wrist" and svh.group_of("foot", "mtp_ip") == "toe"
    assert load_scheme("coarse13").group_of("hand", "wrist_ulnar") == "wrist"
    d = json.loads(svh.to_json())
    d.pop("groups")                                               # a scheme file from before groups
    assert Scheme.from_dict(d).groups == svh.groups
    d["groups"] = {"hand": {"pip2": "index finger"}}
    path = tmp_path / "scheme.json"
    path.write_text(json.dumps(d))
    own = load_scheme(path)
    assert own.group_of("hand", "pip2") == "index finger" and own.group_of("hand", "pip3") == "finger"
    d["groups"] = {"hand": {"pinky": "finger"}}
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="pinky"):
        load_scheme(path)


def test_limb_vocabulary_and_the_carry_matrix():
    from challenge import catalogue as cat

    assert [(cat.kind_of(x), cat.mirror(x), cat.is_right(x)) for x in cat.LIMBS] == [
        ("hand", "RH", False), ("hand", "LH", True), ("foot", "RF", False), ("foot", "LF", True)]
    for bad in (cat.kind_of, cat.mirror, cat.is_right):
        with pytest.raises(ValueError, match="unknown limb 'XH'"):
            bad("XH")
    assert all(j.kind == cat.kind_of(j.limb) and j.mirror == cat.mirror(j.limb) + j.column[2:] for j in cat.JOINTS)
    for name in ("svh21", "coarse13"):
        scheme = load_scheme(name)
        for kind in cat.KINDS:
            carry, cols = scheme.carry_matrix(kind), cat.joint_names(kind)
            assert carry.shape == (len(scheme.landmarks[kind]), len(cols)) and (carry.sum(axis=0) == 1).all()
            for li, lm in enumerate(scheme.landmarks[kind]):
                assert tuple(c for c, on in zip(cols, carry[li]) if on) == scheme.columns_of(kind, lm)
                assert all(scheme.landmark_of(f"{limb}_{c}") == lm for limb in cat.KIND_LIMBS[kind]
                           for c in scheme.columns_of(kind, lm))


def test_score_landmarks_reports_both_shares_and_the_scheme_groups(capsys, tmp_path):
    gold = tmp_path / "gold.csv"
    pred = tmp_path / "pred.csv"
    gold.write_text("image,landmark,x,y,width,height\nA-LH,pip2,100,100,1000,1000\nA-LH,lunate,100,100,1000,1000\n"
                    "A-LF,mtp1,50,50,1000,1000\n")
    # 5 px = 0.005 (within 0.01), 15 px = 0.015 (within 0.02 only); names and image names in another spelling
    pred.write_text("image,landmark,x,y\na-lh.jpg,PIP2,105,100\nA-LH.png,Lunate,100,115\nA-LF,mtp1,50,50\n")
    out = tmp_path / "m.json"
    code, text, _ = ra2(capsys, "score-landmarks", pred, "--gold", gold, "--json", out)
    assert code == 0 and "within 0.01" in text and "within 0.02" in text
    m = json.loads(out.read_text())
    assert m["all"]["within"] == 1.0 and m["all"]["within_fine"] == pytest.approx(2 / 3)
    assert m["groups"]["wrist"]["within_fine"] == 0.0 and m["groups"]["wrist"]["median"] == pytest.approx(0.015)
    assert set(m["groups"]) == {"finger", "wrist", "toe"}


def test_a_training_image_stored_as_a_negative_is_read_upright(train, caplog):
    """A film stored inverted (bone dark on a light ground) trains as the upright one would: its
    landmarks are darker than the image, so ``load_training`` reads it inverted and says so."""
    import numpy as np
    from PIL import Image

    from challenge.images import read_grey
    from challenge.catalogue import KINDS
    from submission.data import is_negative, load_training
    from submission.profiles import PROFILES
    from submission.train import kind_stages

    scheme = load_scheme("svh21")
    stages = {kind: kind_stages(kind, scheme, PROFILES["quick"]) for kind in KINDS}
    stem = sorted(p.stem for p in train.glob("*-LH.jpg"))[0]
    pixels = np.round(read_grey(train / f"{stem}.jpg") * 255).astype(np.uint8)
    before, _, _ = load_training(train, scheme, stages, progress=False)
    (train / f"{stem}.jpg").unlink()
    Image.fromarray(255 - pixels).save(train / f"{stem}.png")         # lossless: exactly the negative
    with caplog.at_level("INFO", logger="submission.data"):
        after, _, _ = load_training(train, scheme, stages, progress=False)
    assert "1 training image(s) stored as negatives" in caplog.text and stem in caplog.text
    hand_b, hand_a = before["hand"], after["hand"]
    assert len(hand_b.loc_images) == len(hand_a.loc_images)
    for b, a in zip(hand_b.loc_images, hand_a.loc_images):
        np.testing.assert_allclose(np.float32(a), np.float32(b), atol=2e-3)
    for b, a in zip(hand_b.patches, hand_a.patches):
        np.testing.assert_allclose(np.float32(a), np.float32(b), atol=2e-3)
    # the rule itself: landmarks on bright bone over a dark ground, and the same picture inverted
    img = np.zeros((200, 100), np.float32)
    img[40:160, 30:70] = 0.8
    xy = np.array([[50.0, 60.0], [50.0, 140.0], [np.nan, np.nan]])
    assert not is_negative(img, xy) and is_negative(1 - img, xy)
    assert not is_negative(img, np.full((2, 2), np.nan))           # nothing labelled: left as it is
