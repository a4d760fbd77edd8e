"""Landmark CSV I/O, labelme import and the localisation metric."""
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from challenge.landmarks import (LandmarkError, image_sizes, import_labelme, landmark_table, read_landmarks,
                                 write_landmarks)
from evaluator.cli import register
from evaluator.landmarks import localisation_metric, point_distances, score_landmark_files


def _frame(rows):
    return pd.DataFrame(rows, columns=["image", "landmark", "x", "y"])


def test_write_then_read_round_trip(tmp_path):
    frame = _frame([("P1-LH", "pip2", 10.123, 20.5), ("P1-LH", "mcp1", 3.0, 4.0), ("P1-LF", "mtp1", 7.5, 1.25)])
    path = write_landmarks(frame, tmp_path / "lm.csv")
    back = read_landmarks(path)
    assert list(back.columns) == ["image", "landmark", "x", "y"]
    assert back["x"].tolist() == [10.12, 3.0, 7.5]
    assert landmark_table(back)["P1-LH"]["mcp1"] == (3.0, 4.0)


def test_read_reports_line_and_column(tmp_path):
    path = tmp_path / "lm.csv"
    path.write_text("image,landmark,x,y\nP1-LH,pip2,1,2\nP1-LH,pip3,abc,2\nP1-LH,pip2,5,5\n")
    with pytest.raises(LandmarkError) as exc:
        read_landmarks(path)
    text = str(exc.value)
    assert "line 3, column x: not a number: 'abc'" in text
    assert "line 4: landmark 'pip2' of image 'P1-LH' appears twice" in text


def test_read_rejects_missing_column(tmp_path):
    path = tmp_path / "lm.csv"
    path.write_text("image,landmark,x\nP1-LH,pip2,1\n")
    with pytest.raises(LandmarkError, match=r"missing column\(s\) \['y'\]"):
        read_landmarks(path)


def _labelme(path, image, shapes):
    path.write_text(json.dumps({"version": "5.2.1", "imagePath": image, "imageWidth": 100, "imageHeight": 80,
                                "shapes": shapes}))


def test_labelme_import_points_only(tmp_path):
    _labelme(tmp_path / "a.json", "P1-LH.jpg", [
        {"label": "pip2", "points": [[10.5, 20.25]], "shape_type": "point"},
        {"label": "mcp1", "points": [[30, 40]], "shape_type": "point"},
        {"label": "box", "points": [[0, 0], [5, 5]], "shape_type": "rectangle"},
    ])
    _labelme(tmp_path / "b.json", "../imgs/P1-RF.jpg", [{"label": "mtp1", "points": [[1, 2]], "shape_type": "point"}])
    frame = import_labelme(tmp_path)
    assert sorted(map(tuple, frame[["image", "landmark"]].to_numpy())) == [
        ("P1-LH", "mcp1"), ("P1-LH", "pip2"), ("P1-RF", "mtp1")]
    assert frame.set_index("landmark").loc["pip2", "x"] == 10.5


def test_labelme_rejects_double_label(tmp_path):
    _labelme(tmp_path / "a.json", "P1-LH.jpg", [
        {"label": "pip2", "points": [[1, 2]], "shape_type": "point"},
        {"label": "pip2", "points": [[3, 4]], "shape_type": "point"}])
    with pytest.raises(LandmarkError, match="labelled twice"):
        import_labelme(tmp_path / "a.json")


def test_localisation_metric_groups_and_misses():
    gold = _frame([("A-LH", "pip2", 100, 100), ("A-LH", "lunate", 100, 100), ("A-LF", "mtp1", 50, 50),
                   ("A-LF", "mtp2", 60, 60)])
    # 200 x 400 image: dx of 3 px = 0.015 (within), dy of 12 px on 400 = 0.03 (outside); mtp2 not predicted
    pred = _frame([("A-LH", "pip2", 103, 100), ("A-LH", "lunate", 100, 112), ("A-LF", "mtp1", 50, 50)])
    sizes = {"A-LH": (200, 400), "A-LF": (100, 100)}
    d = point_distances(pred, gold, sizes).set_index("landmark")["distance"]
    assert d["pip2"] == pytest.approx(0.015)
    assert d["lunate"] == pytest.approx(0.03)
    assert np.isinf(d["mtp2"])
    m = localisation_metric(pred, gold, sizes)
    assert m["groups"]["finger"]["within"] == 1.0
    assert m["groups"]["wrist"]["within"] == 0.0
    assert m["groups"]["toe"] == pytest.approx({**m["groups"]["toe"], "within": 0.5, "missing": 1})
    assert m["all"]["within"] == 0.5


def test_score_landmarks_cli_reads_sizes_from_images(tmp_path, capsys):
    import argparse

    Image.fromarray(np.zeros((400, 200), np.uint8)).save(tmp_path / "A-LH.jpg")
    write_landmarks(_frame([("A-LH", "pip2", 100, 100)]), tmp_path / "gold.csv")
    write_landmarks(_frame([("A-LH", "pip2", 105, 100)]), tmp_path / "pred.csv")
    assert image_sizes(tmp_path) == {"A-LH": (200, 400)}
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["score-landmarks", str(tmp_path / "pred.csv"), "--gold", str(tmp_path / "gold.csv"),
                              "--images", str(tmp_path), "--json", str(tmp_path / "m.json")])
    assert args.func(args) == 0
    assert "finger    0.00 %" in capsys.readouterr().out          # 5 px / 200 = 0.025 > 0.02
    assert json.loads((tmp_path / "m.json").read_text())["all"]["median"] == pytest.approx(0.025)
    with pytest.raises(Exception, match="no image size for 1 predicted image"):
        score_landmark_files(tmp_path / "pred.csv", tmp_path / "gold.csv")
