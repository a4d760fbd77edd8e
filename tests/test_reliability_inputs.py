"""Inputs that must end as one clear line, never a traceback, never a changed input (issue 37, points 5,
6 and 8): malformed labelme JSON for ``ra2 landmarks import`` (the file and the shape named, under the
subcommand's own name), points said to be ignored that really are, masks for ``ra2 review`` read like the
images (a decompression bomb is one warning), DICOM files pydicom cannot decode (one warning, no
pydicom traceback, once per image in ``ra2 baseline image-stats``), and a ``~/.synapseConfig`` that
``ra2 download`` cannot read.  No test here trains a network."""
from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from ra2.cli import main
from tests.conftest import hashes


def ra2(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# ------------------------------------------------------------------ ra2 landmarks import
def _point(label, xy):
    return {"label": label, "points": [xy], "shape_type": "point"}


GOOD = [_point("pip2", [10.5, 20.0]), _point("mcp2", [30, 40])]


def _doc(**changes):
    doc = {"version": "5.2.1", "imagePath": "PHX0001-LH.jpg", "imageWidth": 100, "imageHeight": 80,
           "shapes": [dict(s) for s in GOOD]}
    doc.update(changes)
    return doc


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "not a labelme JSON file (the top level is a list, not an object)"),
    ('"shapes"', "not a labelme JSON file (the top level is text, not an object)"),
    (json.dumps(_doc(shapes={"pip2": [1, 2]})), "not a labelme JSON file ('shapes' is an object, not a list)"),
    (json.dumps(_doc(shapes=[GOOD[0], "mcp2"])), "shape 1: is text, not a labelme shape"),
    (json.dumps(_doc(shapes=[GOOD[0], None])), "shape 1: is null, not a labelme shape"),
    (json.dumps(_doc(shapes=[GOOD[0], _point("mcp2", [1, 2, 3])])),
     "shape 1 ('mcp2'): the point is not one [x, y] pair (3 values)"),
    (json.dumps(_doc(shapes=[GOOD[0], _point("mcp2", 7)])), "shape 1 ('mcp2'): the point is not one [x, y] pair"),
    (json.dumps(_doc(shapes=[{"label": "mcp2", "points": [[1, 2], [3, 4]], "shape_type": "point"}])),
     "shape 0 ('mcp2'): a point shape needs exactly one [x, y] pair (2 points)"),
    (json.dumps(_doc(shapes=[{"label": "mcp2", "points": [], "shape_type": "point"}])),
     "shape 0 ('mcp2'): a point shape needs exactly one [x, y] pair (0 points)"),
    (json.dumps(_doc(shapes=[GOOD[0], _point("mcp2", [float("nan"), 4])])),
     "shape 1 ('mcp2'): x NaN is not a finite number"),
    (json.dumps(_doc(shapes=[GOOD[0], _point("mcp2", [3, float("inf")])])),
     "shape 1 ('mcp2'): y Infinity is not a finite number"),
    (json.dumps(_doc(shapes=[_point("pip2", ["12", 4])])), "shape 0 ('pip2'): x \"12\" is not a finite number"),
    (json.dumps(_doc(shapes=[_point("pip2", [True, 4])])), "shape 0 ('pip2'): x true is not a finite number"),
    (json.dumps(_doc(shapes=[_point("pip2", [None, 4])])), "shape 0 ('pip2'): x null is not a finite number"),
    ('{"imagePath": "PHX0001-LH.jpg", "shapes": [{"label": "pip2", "points": [[1e999999, 4]]}]}',
     "shape 0 ('pip2'): x Infinity is not a finite number"),
    (json.dumps(_doc(imageWidth="100")), 'imageWidth "100" is not a whole number of pixels'),
    (json.dumps(_doc(imageHeight=-80)), "imageHeight -80 is not a whole number of pixels"),
    (json.dumps(_doc(imageHeight=0)), "imageHeight 0 is not a whole number of pixels"),
    (json.dumps(_doc(imageWidth=float("nan"))), "imageWidth NaN is not a whole number of pixels"),
    (json.dumps(_doc(imageWidth=True)), "imageWidth true is not a whole number of pixels"),
    (json.dumps(_doc(imagePath=["PHX0001-LH.jpg"])), "imagePath is a list, not the image's file name"),
])
def test_malformed_labelme_json_is_one_line_naming_the_file_and_the_shape(capsys, tmp_path, text, words):
    folder = tmp_path / "json"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_doc(imagePath="PHX0002-LH.jpg")))
    bad = folder / "b.json"
    bad.write_text(text)
    before = hashes(folder)
    code, out, err = ra2(capsys, "landmarks", "import", folder, "--out", tmp_path / "l.csv")
    assert code == 2, out + err
    assert err.startswith(f"ra2 landmarks import: error: {bad}: {words}"), err
    assert len(err.strip().splitlines()) == 1
    assert hashes(folder) == before and not (tmp_path / "l.csv").exists()


def test_a_landmark_in_two_json_files_names_both(capsys, tmp_path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(_doc()))
    code, _, err = ra2(capsys, "landmarks", "import", tmp_path / "a.json", tmp_path / "b.json",
                       "--out", tmp_path / "l.csv")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{tmp_path / 'b.json'}: landmark 'pip2' of image 'PHX0001-LH' is annotated in more than one JSON file " \
           f"(also in {tmp_path / 'a.json'})" in err


def test_a_file_given_twice_is_read_once(capsys, tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(_doc()))
    code, out, _ = ra2(capsys, "landmarks", "import", tmp_path, tmp_path / "a.json", "--out", tmp_path / "l.csv")
    assert code == 0 and "2 landmarks of 1 images written" in out


def test_a_point_outside_its_image_names_the_json_file_and_shape(capsys, tmp_path):
    bad = tmp_path / "a.json"
    bad.write_text(json.dumps(_doc(shapes=[GOOD[0], _point("mcp2", [300, 40])])))
    code, _, err = ra2(capsys, "landmarks", "import", bad, "--out", tmp_path / "l.csv")
    assert code == 2 and f"{bad}: shape 1 ('mcp2'): image PHX0001-LH, landmark mcp2: point (300, 40) lies " \
                          "outside the 100 x 80 image" in err
    assert "line " not in err          # a JSON file has no CSV lines


def test_landmarks_check_errors_name_the_subcommand(capsys, cohort):
    code, _, err = ra2(capsys, "landmarks", "check", "--data", cohort / "train", "--scheme", "no-such-scheme")
    assert code == 2 and err.startswith("ra2 landmarks check: error: unknown landmark scheme 'no-such-scheme'")


def test_points_said_to_be_ignored_never_reach_the_csv(capsys, caplog, cohort, tmp_path):
    """Shapes that are not points, and images with no file in --images, are said to be ignored: they are
    not in the CSV, and every point counted as written is."""
    gold = pd.read_csv(cohort / "gold" / "landmarks.csv")
    lh = gold[gold["image"] == "PHX0001-LH"]
    shapes = [_point(n, [x, y]) for n, x, y in lh[["landmark", "x", "y"]].itertuples(index=False)]
    shapes.append({"label": "joint", "points": [[1, 2], [30, 40]], "shape_type": "rectangle"})
    folder = tmp_path / "json"
    folder.mkdir()
    (folder / "PHX0001-LH.json").write_text(json.dumps({"imagePath": "PHX0001-LH.jpg", "shapes": shapes}))
    (folder / "PHX0009-LH.json").write_text(json.dumps({"imagePath": "PHX0009-LH.jpg", "shapes": shapes[:-1]}))
    before = hashes(folder, cohort / "test")
    out_csv = tmp_path / "landmarks.csv"
    code, out, err = ra2(capsys, "landmarks", "import", folder, "--images", cohort / "test", "--out", out_csv)
    assert code == 0, err
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "shape 21 ('joint') is a rectangle, not a point: ignored" in said
    assert "1 image(s) have landmarks but no image file in the folder (ignored): PHX0009-LH" in said
    written = pd.read_csv(out_csv)
    assert set(written["image"]) == {"PHX0001-LH"} and len(written) == len(lh)
    assert sorted(written["landmark"]) == sorted(lh["landmark"])
    assert f"{len(written)} landmarks of 1 images written" in out
    assert hashes(folder, cohort / "test") == before


# ------------------------------------------------------------------ masks read like images
def _bomb_png(path: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims side x side pixels (a decompression bomb): a 64 x 64 image with its IHDR
    width and height changed and the chunk's CRC made right again."""
    buf = io.BytesIO()
    Image.new("L", (64, 64)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    struct.pack_into(">II", data, 16, side, side)                 # IHDR data starts after signature, length, type
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_a_decompression_bomb_mask_is_skipped_with_one_warning(capsys, caplog, cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    masks = Path(shutil.copytree(cohort / "gold" / "masks", tmp_path / "masks"))
    n_masks = len(list(masks.glob("*.png")))
    bomb = _bomb_png(masks / "PHX0001-LH.png")
    (masks / "PHX0002-RH.png").write_text("not a picture")
    preds = tmp_path / "p.csv"
    assert main(["baseline", "train-mean", "--train", str(cohort / "train"), "--test", str(cohort / "test"),
                 "--out", str(preds)]) == 0
    capsys.readouterr()
    before = hashes(masks, cohort / "test", preds)
    code, _, err = ra2(capsys, "review", "--images", cohort / "test", "--predictions", preds, "--masks", masks,
                       "--out", tmp_path / "site", "--max-side", 200, "-q")
    assert code == 0, err
    warned = [r.getMessage() for r in caplog.records if "mask not shown" in r.getMessage()]
    assert len(warned) == 2, warned
    about_bomb = [w for w in warned if str(bomb) in w]
    assert len(about_bomb) == 1 and "10000000000 pixels is above the limit" in about_bomb[0]
    assert about_bomb[0].count(str(bomb)) == 1                       # the path once, not twice
    assert any("PHX0002-RH.png: mask not shown: unreadable mask (not an image file" in w for w in warned)
    assert "Traceback" not in caplog.text
    assert len(list((tmp_path / "site" / "masks").glob("*.png"))) == n_masks - 2
    assert hashes(masks, cohort / "test", preds) == before


# ------------------------------------------------------------------ DICOM files pydicom cannot decode
def _bad_dicoms(folder: Path, stems) -> list[Path]:
    """A DICOM that claims JPEG-LS but holds RLE bytes (every decoder fails) and one cut short."""
    pydicom = pytest.importorskip("pydicom")
    import numpy as np
    from pydicom.uid import JPEGLSLossless, RLELossless

    from tests.conftest import dicom_dataset

    ds = dicom_dataset((np.arange(150 * 110) % 4096).astype(np.uint16).reshape(150, 110))
    ds.compress(RLELossless)
    liar, short = folder / f"{stems[0]}.dcm", folder / f"{stems[1]}.dcm"
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.save_as(liar, enforce_file_format=True)
    ds.file_meta.TransferSyntaxUID = RLELossless
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    good = buf.getvalue()
    short.write_bytes(good[: len(good) - len(good) // 3])
    assert pydicom.dcmread(liar).Rows == 150
    return [liar, short]


def test_undecodable_dicom_is_one_warning_without_pydicom_traceback(caplog, tmp_path):
    from challenge.images import ImageReadError, read_grey

    for path in _bad_dicoms(tmp_path, ["a", "b"]):
        caplog.clear()
        with pytest.raises(ImageReadError, match=rf"{path.name}: cannot decode the DICOM") as info:
            read_grey(path)
        assert not [r for r in caplog.records if r.name.startswith("pydicom")], caplog.text
        assert "Traceback" not in caplog.text
        # one line that says why: pydicom's "... raised by all available plugins:" with the plugins' reasons
        assert "\n" not in str(info.value) and not str(info.value).rstrip().endswith(":")


def test_image_stats_warns_once_per_bad_image(capsys, caplog, cohort, tmp_path):
    """The same folder as --train and --test (its patients in both files): each bad image, DICOM or JPEG,
    is one warning, with no pydicom traceback."""
    folder = Path(shutil.copytree(cohort / "train", tmp_path / "train"))
    labels = pd.read_csv(folder / "training.csv")
    template = pd.read_csv(cohort / "test" / "template.csv").iloc[:0]
    template["Patient_ID"] = labels["Patient_ID"]
    template.to_csv(folder / "template.csv", index=False)
    pids = list(labels["Patient_ID"])
    (folder / f"{pids[0]}-LH.jpg").unlink()
    (folder / f"{pids[1]}-RH.jpg").unlink()
    bad = _bad_dicoms(folder, [f"{pids[0]}-LH", f"{pids[1]}-RH"])
    garbage = folder / f"{pids[2]}-LF.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    before = hashes(folder)
    code, _, err = ra2(capsys, "baseline", "image-stats", "--train", folder, "--test", folder,
                       "--out", tmp_path / "p.csv")
    assert code == 0, err
    for path in [*bad, garbage]:
        about = [r for r in caplog.records if path.name in r.getMessage()]
        assert len(about) == 1 and about[0].name == "baselines.predictors", [r.getMessage() for r in about]
    assert not [r for r in caplog.records if r.name.startswith("pydicom") or r.exc_info], caplog.text
    assert "Traceback" not in caplog.text
    assert hashes(folder) == before


# ------------------------------------------------------------------ ra2 download and ~/.synapseConfig
NOT_INI = "the Synapse configuration file is not an INI file ([section] headers and key = value lines)"


# the client reads the file even when SYNAPSE_AUTH_TOKEN is set (a folder there it passes over)
@pytest.mark.parametrize("make, words, token", [
    (lambda p: p.mkdir(), "is a folder, not the Synapse configuration file", None),
    (lambda p: p.write_bytes(b"[authentication]\nauthtoken = \xff\xfe secret-token\n"),
     "the Synapse configuration file is not UTF-8 text", None),
    (lambda p: p.write_bytes(b"[authentication]\nauthtoken = \xff\xfe secret-token\n"),
     "the Synapse configuration file is not UTF-8 text", "tok-env"),
    (lambda p: p.write_text("authtoken = secret-token\n"), f"{NOT_INI} at line 1", None),
    (lambda p: p.write_text("authtoken = secret-token\n"), f"{NOT_INI} at line 1", "tok-env"),
    (lambda p: p.write_text("[authentication]\nauthtoken = a\nauthtoken = secret-token\n"), f"{NOT_INI} at line 3",
     None),
])
def test_an_unreadable_synapse_config_is_named_in_one_line(capsys, tmp_path, monkeypatch, make, words, token):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    if token is None:
        monkeypatch.delenv("SYNAPSE_AUTH_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", token)
    from download import synapse as dl

    def no_client(*args, **kwargs):
        raise AssertionError("the client must not be made with an unreadable configuration file")

    monkeypatch.setattr(dl, "synapse_client", no_client)
    config = home / ".synapseConfig"
    make(config)
    before = hashes(home)
    code, out, err = ra2(capsys, "download", "--dest", tmp_path / "d", "--no-progress")
    assert code == 2, err
    assert err.startswith(f"ra2 download: error: {config}: {words}") and len(err.strip().splitlines()) == 1
    assert "secret-token" not in out + err and "SYNAPSE_AUTH_TOKEN" in err
    assert hashes(home) == before and not (tmp_path / "d").exists()
