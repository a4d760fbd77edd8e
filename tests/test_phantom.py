"""Phantom cohorts: layout, determinism, valid tables, landmarks and masks, visible damage, cohort statistics,
for the easy and the realistic preset; ``ra2 synth`` never touches a file it did not write."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from challenge import catalogue as cat
from challenge.outputs import RECORD
from challenge.schemes import load_scheme
from challenge.tables import check_scores, read_table
from phantoms.cohort import (TARGETS, cohort_differs, cohort_scores, generator_digest, limb_geometry, make_cohort,
                             measured_correlations, reader2_scores)
from phantoms.render import Acquisition, Anatomy, render_limb
from ra2.cli import main

SCHEME = load_scheme("svh21")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom") / "c"
    info = make_cohort(out, 4, 3, seed=7, size_scale=0.7, preset="easy")
    return out, info


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_is_exactly_the_challenge_layout(cohort):
    out, info = cohort
    stems_train = {f"PHT{i:04d}-{limb}" for i in range(1, 5) for limb in cat.LIMBS}
    stems_test = {f"PHX{i:04d}-{limb}" for i in range(1, 4) for limb in cat.LIMBS}
    assert {p.name for p in (out / "train").iterdir()} == (
        {s + ".jpg" for s in stems_train} | {"training.csv", "landmarks.csv", "masks"})
    assert {p.name for p in (out / "train" / "masks").iterdir()} == {s + ".png" for s in stems_train}
    assert {p.name for p in (out / "test").iterdir()} == {s + ".jpg" for s in stems_test} | {"template.csv"}
    assert {p.name for p in (out / "gold").iterdir()} == {"test.csv", "reader2.csv", "landmarks.csv", "masks"}
    assert {p.name for p in (out / "gold" / "masks").iterdir()} == {s + ".png" for s in stems_test}
    assert set(info["images"]) == stems_train | stems_test
    assert info["seed"] == 7 and info["parameters"]["n_train"] == 4
    record = info["images"]["PHX0002-RF"]
    for key in ("long_side", "rotation_deg", "zoom", "gamma", "noise", "rgb", "rotated_180", "jpeg_quality"):
        assert key in record


def test_same_seed_same_bytes_and_other_seed_differs(cohort, tmp_path):
    out, _ = cohort
    make_cohort(tmp_path / "again", 4, 3, seed=7, size_scale=0.7, preset="easy")
    assert _files(out) == _files(tmp_path / "again")
    make_cohort(tmp_path / "other", 4, 3, seed=8, size_scale=0.7, preset="easy")
    assert _files(out)["train/PHT0001-LH.jpg"] != _files(tmp_path / "other")["train/PHT0001-LH.jpg"]


def test_tables_are_valid_gold_and_the_template_is_empty(cohort):
    out, _ = cohort
    template = read_table(out / "test" / "template.csv")
    assert list(template.columns) == list(cat.COLUMNS)
    lines = (out / "test" / "template.csv").read_text().splitlines()[1:]
    assert [line.split(",", 1)[1] for line in lines] == ["," * 88] * 3       # every score cell empty
    for name in ("gold/test.csv", "gold/reader2.csv"):
        assert check_scores(read_table(out / name), template, gold=True) == []
    train = read_table(out / "train" / "training.csv")
    train_template = read_table(out / "train" / "training.csv")[[cat.ID]]
    assert check_scores(train, train_template, gold=True) == []
    assert not set(train[cat.ID]) & set(template[cat.ID])
    text = (out / "train" / "training.csv").read_text()
    assert ".0," not in text                          # integers, as the real labels are


def test_landmarks_cover_the_scheme_inside_each_image_and_masks_match(cohort):
    out, info = cohort
    for split, where in (("train", "train"), ("test", "gold")):
        marks = pd.read_csv(out / where / "landmarks.csv")
        assert list(marks.columns) == ["image", "landmark", "x", "y"]
        for stem, rows in marks.groupby("image"):
            kind = cat.kind_of(stem[-2:])
            assert list(rows["landmark"]) == list(SCHEME.landmarks[kind])
            rec = info["images"][stem]
            with Image.open(out / split / f"{stem}.jpg") as im:
                assert im.size == (rec["width"], rec["height"])
                assert im.mode == ("RGB" if rec["rgb"] else "L")
            assert rows["x"].between(0, rec["width"] - 1).all() and rows["y"].between(0, rec["height"] - 1).all()
            mask = np.asarray(Image.open(out / where / "masks" / f"{stem}.png"))
            assert mask.shape == (rec["height"], rec["width"]) and set(np.unique(mask)) <= {0, 1}
            assert mask.sum() > 0


def test_cohort_json_statistics_are_those_of_the_written_tables(cohort):
    out, info = cohort
    frame = pd.concat([read_table(out / "train" / "training.csv"), read_table(out / "gold" / "test.csv")])
    measured = measured_correlations(frame.set_index(cat.ID))
    for key, value in info["statistics"]["correlations"].items():
        assert value["measured"] == measured[key]
        assert value["target"] == TARGETS[key][1]


@pytest.mark.parametrize("preset", ["easy", "realistic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_of_a_200_patient_cohort_are_near_the_contract(seed, preset):
    train, test = cohort_scores(seed, 150, 50, preset)
    frame = pd.concat([train, test])
    measured = measured_correlations(frame)
    for key, target in (("lr_hand_narrowing", 0.9), ("ne_hand", 0.8), ("hand_foot", 0.55)):
        assert abs(measured[key] - target) <= 0.1, (key, measured[key])
    share_low = float((frame[cat.TOTAL] <= 3).mean())
    assert 0.3 <= share_low <= 0.5
    assert float((frame[list(cat.JOINT_COLUMNS)] == 0).to_numpy().mean()) > 0.6


def test_reader2_disagrees_mostly_on_damaged_joints():
    rng = np.random.default_rng(0)
    train, _ = cohort_scores(3, 60, 1, "easy")
    gold = train[list(cat.JOINT_COLUMNS)].to_numpy()
    second = np.array([[v for v in reader2_scores(dict(zip(cat.JOINT_COLUMNS, map(int, row))), rng).values()]
                       for row in gold])
    diff = second != gold
    assert 0.25 < diff[gold > 0].mean() < 0.7
    assert diff[gold == 0].mean() < 0.08
    assert np.abs(second - gold).max() <= 2
    tops = np.array([cat.BY_COLUMN[c].max_score for c in cat.JOINT_COLUMNS])
    assert (second >= 0).all() and (second <= tops).all()


# --- damage that can be seen in the pixels ---------------------------------------------------------------

def _uniform_scores(narrowing: int, erosion: int) -> dict[str, int]:
    return {j.column: (narrowing if j.damage == cat.NARROWING else min(erosion, j.max_score)) for j in cat.JOINTS}


def _shot(limb, scores, seed, long_side=800):
    """One limb drawn with fixed anatomy and acquisition (they depend on ``seed`` only, not on the scores)."""
    anatomy = Anatomy.draw(np.random.default_rng(100 + seed))
    shape = limb_geometry(scores, limb, anatomy, np.random.default_rng(seed))
    kind = cat.kind_of(limb)
    acq = replace(Acquisition.draw(np.random.default_rng(200 + seed), kind), long_side=long_side, noise=0.01)
    return render_limb(shape, acq, np.random.default_rng(300 + seed), mirror=cat.is_right(limb))


def gap_width(image: np.ndarray, x: float, y: float, reach: int = 14) -> float:
    """Joint-space width (px) at a landmark, measured in the pixels alone.

    Around the landmark, 'dark' is below the midpoint of the local bone and gap levels.  The gap is
    a thin dark band through the landmark: its width is the shortest dark run through the landmark
    over 36 directions (0 where the landmark pixel itself is bright, i.e. the joint is closed)."""
    img = image.astype(float)
    if img.ndim == 3:
        img = img.mean(axis=2)
    cx, cy = int(round(x)), int(round(y))
    patch = img[cy - reach:cy + reach + 1, cx - reach:cx + reach + 1]
    bright, dark = np.percentile(patch, 90), np.percentile(patch, 10)
    threshold = (bright + dark) / 2
    if img[cy, cx] >= threshold:
        return 0.0
    best = np.inf
    for angle in np.linspace(0, np.pi, 36, endpoint=False):
        dx, dy = np.cos(angle), np.sin(angle)
        run = 0.0
        for sign in (1, -1):
            for step in np.arange(0.5, reach, 0.5):
                px, py = int(round(x + sign * dx * step)), int(round(y + sign * dy * step))
                if img[py, px] >= threshold:
                    break
                run = step
            else:
                run = reach
        best = min(best, 2 * run)
    return best


@pytest.mark.parametrize("limb", ["LH", "RF"])
def test_joint_space_width_measured_in_pixels_falls_with_narrowing(limb):
    kind = cat.kind_of(limb)
    names = [lm for lm in SCHEME.landmarks[kind]
             if any(SCHEME.carries[kind][j.name] == lm for j in cat.JOINTS
                    if j.damage == cat.NARROWING and j.kind == kind)]
    medians = []
    for score in range(5):
        widths = []
        for seed in range(3):
            shot = _shot(limb, _uniform_scores(score, 0), seed)
            widths += [gap_width(shot.image, *shot.landmarks[n]) for n in names]
        medians.append(float(np.median(widths)))
    assert all(a > b for a, b in zip(medians, medians[1:])), medians
    assert medians[0] >= 3 and medians[4] == 0


def test_erosion_bites_dark_notches_that_grow_with_the_score():
    def dark_pixels(erosion):
        shot = _shot("LH", _uniform_scores(0, erosion), 5)
        return shot.image.astype(float)

    base = dark_pixels(0)
    lost = []
    for score in (1, 3, 5):
        lost.append(float(np.clip(base - dark_pixels(score), 0, None).sum()))
    assert lost[0] > 0 and lost[0] < lost[1] < lost[2], lost


def test_rotated_180_images_carry_rotated_landmarks_and_masks():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    shape = limb_geometry(_uniform_scores(1, 1), "LH", Anatomy.draw(np.random.default_rng(2)),
                          np.random.default_rng(3))
    acq = replace(Acquisition.draw(np.random.default_rng(4), "hand"), long_side=500, rgb=False, rotated_180=False)
    upright = render_limb(shape, acq, rng_a)
    turned = render_limb(shape, replace(acq, rotated_180=True), rng_b)
    h, w = upright.image.shape
    assert np.array_equal(turned.mask, upright.mask[::-1, ::-1])
    for name, (x, y) in upright.landmarks.items():
        tx, ty = turned.landmarks[name]
        assert abs(tx - (w - 1 - x)) < 1e-6 and abs(ty - (h - 1 - y)) < 1e-6


def test_right_hand_is_the_mirror_of_the_left():
    scores = _uniform_scores(0, 0)
    anatomy = Anatomy.draw(np.random.default_rng(5))
    acq = replace(Acquisition.draw(np.random.default_rng(6), "hand"), rotation_deg=0.0, shift=(0.0, 0.0),
                  rotated_180=False, rgb=False)
    left = render_limb(limb_geometry(scores, "LH", anatomy, np.random.default_rng(7)), acq, np.random.default_rng(8))
    right = render_limb(limb_geometry(scores, "RH", anatomy, np.random.default_rng(7)), acq,
                        np.random.default_rng(8), mirror=True)
    w = left.image.shape[1]
    for name in left.landmarks:
        assert abs(left.landmarks[name][0] - (w - right.landmarks[name][0])) < 1.0
        assert abs(left.landmarks[name][1] - right.landmarks[name][1]) < 1e-6
    # the thumb is on the right of a left hand, on the left of a right hand
    assert left.landmarks["mcp1"][0] > left.landmarks["mcp5"][0]
    assert right.landmarks["mcp1"][0] < right.landmarks["mcp5"][0]


def test_landmarks_sit_at_their_anatomical_places():
    shot = _shot("LH", _uniform_scores(0, 0), 0)
    p = {k: np.array(v) for k, v in shot.landmarks.items()}
    if shot.record["rotated_180"]:
        pytest.skip("drawn upside down")
    # fingers above their MCP joints, MCPs above the wrist, radius below the carpus (image y grows downwards)
    for i in range(2, 6):
        assert p[f"pip{i}"][1] < p[f"mcp{i}"][1] < p["capnlun"][1]
    assert p["ip"][1] < p["mcp1"][1] < p["mc1"][1]
    assert p["cmc3"][1] < p["capnlun"][1] < p["radcar"][1] < p["radius"][1] + 5
    assert p["lunate"][1] < p["radcar"][1] + 5 and p["ulna"][0] < p["radius"][0]



def test_a_cohort_is_reused_only_when_this_code_drew_it_with_the_same_arguments(cohort, tmp_path):
    out, info = cohort
    assert info["generator"] == generator_digest() and len(generator_digest()) == 12
    assert cohort_differs(out, 4, 3, seed=7, size_scale=0.7, preset="easy") is None
    assert cohort_differs(out, 4, 3, seed=8, size_scale=0.7, preset="easy") == "it has seed 7, not 8"
    assert cohort_differs(out, 4, 2, seed=7, size_scale=0.7) == "it has preset easy, not realistic, n_test 3, not 2"
    assert cohort_differs(tmp_path / "none", 4, 3) == "no cohort there"
    # the same arguments, but drawn by other code (or before the digest was recorded)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "cohort.json").write_text(json.dumps(info | {"generator": "0123456789ab"}))
    assert cohort_differs(copy, 4, 3, seed=7, size_scale=0.7, preset="easy") == (
        f"another generator drew it (digest 0123456789ab, this code's {generator_digest()})")
    (copy / "cohort.json").write_text(json.dumps(info | {"status": "writing"}))
    assert cohort_differs(copy, 4, 3, seed=7, size_scale=0.7, preset="easy") == "it was not completely written"


def test_the_generator_digest_follows_the_code_not_its_comments(tmp_path, monkeypatch):
    import phantoms.cohort as pc
    src = Path(pc.__file__).parent
    for name in pc.GENERATOR_MODULES:
        (tmp_path / name).write_text((src / name).read_text())
    real = generator_digest()
    monkeypatch.setattr(pc, "__file__", str(tmp_path / "cohort.py"))

    def digest():
        pc.generator_digest.cache_clear()
        return pc.generator_digest()
    try:
        base = digest()
        assert base == real                       # the same code in another place
        xray = tmp_path / "xray.py"
        text = xray.read_text()
        xray.write_text(text.replace('"""', '"""Another docstring line.\n', 1) + "\n# a comment\n")
        assert digest() == base
        xray.write_text(text + "\nUNUSED = 1\n")
        assert digest() != base
    finally:
        monkeypatch.undo()
        pc.generator_digest.cache_clear()


# --- the command ------------------------------------------------------------------------------------------

def test_ra2_synth_writes_a_cohort_and_refuses_a_foreign_folder(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "c"), "--train", "1", "--test", "1", "--seed", "3",
                 "--size-scale", "0.5", "-q"]) == 0
    assert (tmp_path / "c" / "cohort.json").is_file()
    # a previous phantom cohort is replaced, with nothing of it left behind
    assert main(["synth", "--out", str(tmp_path / "c"), "--train", "1", "--test", "1", "-q",
                 "--size-scale", "0.5"]) == 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["synth", "--out", str(foreign), "--train", "1", "--test", "1", "-q"]) == 2
    assert "not a folder that ra2 synth wrote" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"


# --- the realistic preset ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    out = tmp_path_factory.mktemp("realistic") / "c"
    info = make_cohort(out, 3, 2, seed=5, size_scale=0.3, workers=1)
    return out, info


def test_realistic_cohort_has_the_layout_landmarks_and_masks(realistic):
    out, info = realistic
    assert info["preset"] == "realistic" and len(info["images"]) == 20
    assert {p.name for p in (out / "test").iterdir()} == (
        {f"PHX{i:04d}-{limb}.jpg" for i in (1, 2) for limb in cat.LIMBS} | {"template.csv"})
    record = json.loads((out / RECORD).read_text())
    assert record["command"] == "synth" and sorted(record["files"] + [RECORD]) == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    for split, where in (("train", "train"), ("test", "gold")):
        marks = pd.read_csv(out / where / "landmarks.csv")
        for stem, rows in marks.groupby("image"):
            kind = cat.kind_of(stem[-2:])
            assert list(rows["landmark"]) == list(SCHEME.landmarks[kind])
            rec = info["images"][stem]
            with Image.open(out / split / f"{stem}.jpg") as im:
                assert im.size == (rec["width"], rec["height"])
            assert rows["x"].between(0, rec["width"] - 1).all() and rows["y"].between(0, rec["height"] - 1).all()
            mask = np.asarray(Image.open(out / where / "masks" / f"{stem}.png"))
            assert mask.shape == (rec["height"], rec["width"]) and mask.sum() > 0
    assert check_scores(read_table(out / "gold" / "reader2.csv"), read_table(out / "test" / "template.csv"),
                        gold=True) == []


def test_realistic_same_seed_same_bytes_whatever_the_workers(realistic, tmp_path):
    out, _ = realistic
    make_cohort(tmp_path / "again", 3, 2, seed=5, size_scale=0.3, workers=2)
    assert _files(out) == _files(tmp_path / "again")


def test_realistic_sizes_follow_the_real_images():
    from phantoms.xray import Exposure

    sides = np.array([Exposure.draw(np.random.default_rng(i), "hand").long_side for i in range(2000)])
    assert 1350 <= np.median(sides) <= 1650 and sides.min() >= 500 and sides.max() <= 3200
    turns = np.abs([Exposure.draw(np.random.default_rng(i), "hand").rotation_deg for i in range(2000)])
    assert 0.85 <= np.mean(turns <= 11) <= 0.95 and np.mean(turns > 20) > 0.01


def test_realistic_score_distributions_are_those_of_real_readers():
    from phantoms.scores import icc_a1

    train, test = cohort_scores(4, 400, 100)
    frame = pd.concat([train, test])
    hand_n = frame[list(cat.select(damage=cat.NARROWING, kind="hand"))].to_numpy().ravel()
    hand_e = frame[list(cat.select(damage=cat.EROSION, kind="hand"))].to_numpy().ravel()
    assert 0.80 <= np.mean(hand_n == 0) <= 0.88 and np.mean(hand_n == 1) < 0.01
    assert 0.87 <= np.mean(hand_e == 0) <= 0.95 and np.mean(hand_e == 5) > 3 * np.mean(hand_e == 4)
    # the second reader agrees on totals as published SvH readers do, less so on single damaged joints
    rng = np.random.default_rng(0)
    from phantoms.scores import patient_draw, reader2_scores as reread
    draws = [patient_draw(np.random.default_rng([4, 9, i])) for i in range(300)]
    a = np.array([list(s.values()) for _, _, s in draws])
    b = np.array([list(reread(lat, rng).values()) for lat, _, _ in draws])
    assert 0.85 <= icc_a1(a.sum(axis=1), b.sum(axis=1)) <= 0.97
    assert 0.15 < np.mean((a != b)[a > 0]) < 0.85 and np.mean((a != b)[a == 0]) < 0.15
    # the gold erosion scores are a reading of what the images show; narrowing is read as shown
    shown = np.array([list(s.values()) for _, s, _ in draws])
    erosion = np.array([j.damage == cat.EROSION for j in cat.JOINTS])
    assert np.array_equal(shown[:, ~erosion], a[:, ~erosion])
    differ = shown[:, erosion] != a[:, erosion]
    assert 0.01 < differ.mean() < 0.1 and np.mean(differ[a[:, erosion] > 0]) > 0.2


def test_realistic_erosion_takes_bone_away_slowly_with_the_score():
    from phantoms.cohort import render_realistic_limb
    from phantoms.xray import Build

    build = Build.draw(np.random.default_rng(1))

    def image(erosion):
        scores = _uniform_scores(0, erosion)
        shot = render_realistic_limb(scores, "LH", build, np.random.default_rng(11), size_scale=0.6)
        return shot.image.astype(float) if shot.image.ndim == 2 else shot.image[..., 0].astype(float)

    base = image(0)
    lost = [float(np.clip(base - image(score), 0, None).sum()) for score in (1, 2)]
    assert 0 < lost[0] < lost[1], lost


def test_ra2_synth_replaces_only_a_cohort_it_wrote_whole(tmp_path, capsys):
    out = tmp_path / "c"
    args = ["synth", "--out", str(out), "--test", "1", "--size-scale", "0.2", "-q", "--preset", "easy"]
    assert main(args + ["--train", "2"]) == 0
    assert (out / "train" / "PHT0002-LH.jpg").is_file()
    assert main(args + ["--train", "1"]) == 0            # its own earlier files go, the new ones stay
    assert not (out / "train" / "PHT0002-LH.jpg").exists() and (out / "train" / "PHT0001-LH.jpg").is_file()
    (out / "train" / "notes.txt").write_text("keep me")
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(args + ["--train", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train/notes.txt" in err and "did not write" in err and str(out) in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("record", [None, "{not json", '{"format": "ra2-output", "command": "train", "files": []}',
                                    '{"format": "other", "command": "synth", "files": []}',
                                    '{"format": "ra2-output", "command": "synth", "files": "cohort.json"}'])
def test_a_folder_is_ours_only_by_a_record_that_parses_not_by_a_file_name(tmp_path, capsys, record):
    """A cohort.json of the right name, or a record of another command or of another format, is no proof."""
    out = tmp_path / "c"
    out.mkdir()
    (out / "cohort.json").write_text(json.dumps({"format": "ra2-phantom-cohort", "mine": True}))
    (out / "data.txt").write_text("someone's")
    if record is not None:
        (out / RECORD).write_text(record)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["synth", "--out", str(out), "--train", "1", "--test", "1", "-q", "--preset", "easy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_interrupted_synth_leaves_the_earlier_cohort_byte_for_byte(tmp_path):
    """SIGTERM part-way through drawing (some images written) leaves the earlier cohort exactly as it was,
    and the message says so truly."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c"
    assert main(["synth", "--out", str(out), "--train", "2", "--test", "1", "-q", "--preset", "easy",
                 "--size-scale", "0.2"]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.Popen([sys.executable, "-m", "ra2", "synth", "--out", str(out), "--train", "40", "--test",
                             "10", "--seed", "9", "--workers", "1", "--size-scale", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.suffix == ".jpg" for p in tmp_path.glob(".c.*.partial/train/*")):
        time.sleep(0.05)                                 # wait until the new cohort has images
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and f"{out} is as it was" in err and "Traceback" not in err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


@pytest.mark.parametrize("bad", [["--train", "-1"], ["--test", "0"], ["--size-scale", "9"], ["--workers", "0"]])
def test_ra2_synth_bad_options_end_in_one_line(tmp_path, capsys, bad):
    assert main(["synth", "--out", str(tmp_path / "c"), "-q"] + bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("ra2 synth: error:") and err.count("\n") == 1
    assert not (tmp_path / "c").exists()


def test_make_cohort_names_its_parameters_and_ra2_synth_its_options(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"^size_scale=9\.0: must be between 0\.05 and 4$"):
        make_cohort(tmp_path / "c", 1, 1, size_scale=9.0)
    with pytest.raises(ValueError, match=r"^n_train=0: "):
        make_cohort(tmp_path / "c", 0, 1)
    assert main(["synth", "--out", str(tmp_path / "c"), "--size-scale", "9", "-q"]) == 2
    assert capsys.readouterr().err == "ra2 synth: error: --size-scale 9.0: must be between 0.05 and 4\n"
    assert main(["synth", "--out", str(tmp_path / "c"), "--train", "0", "-q"]) == 2      # n_train is --train
    assert capsys.readouterr().err.startswith("ra2 synth: error: --train 0: ")
    assert not (tmp_path / "c").exists()
