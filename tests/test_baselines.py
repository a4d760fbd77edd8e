"""Baselines: valid predictions files, the exact values they promise, robustness to bad images."""
import shutil

import numpy as np
import pytest

from baselines.predictors import BASELINES, FEATURES_PER_IMAGE, folder_features, predict_baseline
from challenge import catalogue as cat
from challenge.errors import UsageError
from challenge.tables import check_scores, read_scores, read_table
from phantoms.cohort import make_cohort
from ra2.cli import main


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines") / "c"
    make_cohort(root, 14, 6, seed=11, size_scale=0.5, preset="easy")
    return root


@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_writes_a_valid_predictions_file(cohort, tmp_path, name):
    out = tmp_path / "predictions.csv"
    assert main(["baseline", name, "--train", str(cohort / "train"), "--test", str(cohort / "test"),
                 "--out", str(out)]) == 0
    frame = read_table(out)
    template = read_table(cohort / "test" / "template.csv")
    assert list(frame.columns) == list(template.columns)
    assert list(frame[cat.ID]) == list(template[cat.ID])
    assert [p for p in check_scores(frame, template) if p.level == "error"] == []
    scores = read_scores(out)
    for col in cat.JOINT_COLUMNS:
        assert scores[col].between(0, cat.BY_COLUMN[col].max_score).all()
    ero = scores[list(cat.EROSION_COLUMNS)].sum(axis=1)
    nar = scores[list(cat.NARROWING_COLUMNS)].sum(axis=1)
    assert np.allclose(scores[cat.TOTAL_EROSION], ero, atol=1e-3)
    assert np.allclose(scores[cat.TOTAL], ero + nar, atol=2e-3)


def test_constant_fills_every_joint_and_is_clipped_to_ranges(cohort):
    pred = predict_baseline("constant", cohort / "train", cohort / "test", value=7)
    for j in cat.JOINTS:
        assert (pred[j.column] == min(7, j.max_score)).all()
    assert (pred[cat.TOTAL] == sum(min(7, j.max_score) for j in cat.JOINTS)).all()
    with pytest.raises(UsageError, match="value=-1"):
        predict_baseline("constant", cohort / "train", cohort / "test", value=-1)


def test_train_mean_and_median_are_the_training_columns(cohort):
    labels = read_scores(cohort / "train" / "training.csv")
    mean = predict_baseline("train-mean", cohort / "train", cohort / "test")
    median = predict_baseline("train-median", cohort / "train", cohort / "test")
    for col in ("LH_mcp_E__2", "RF_mtp_J__ip", "RH_wrist_J__radcar"):
        assert np.allclose(mean[col], labels[col].mean())
        assert np.allclose(median[col], labels[col].median())


def test_image_stats_is_deterministic_and_survives_missing_and_corrupt_images(cohort, tmp_path):
    test = tmp_path / "test"
    shutil.copytree(cohort / "test", test)
    (test / "PHX0001-LH.jpg").write_bytes(b"not a jpeg at all")
    (test / "PHX0002-RF.jpg").unlink()
    (test / "PHX0003-LF.jpg").write_bytes(b"")
    a = predict_baseline("image-stats", cohort / "train", test, seed=3)
    b = predict_baseline("image-stats", cohort / "train", test, seed=3)
    assert list(a.index) == [f"PHX{i:04d}" for i in range(1, 7)]
    assert np.isfinite(a.to_numpy()).all()
    assert a.equals(b)
    features = folder_features(test, ["PHX0001", "PHX0004"])
    assert features.shape == (2, 4 * FEATURES_PER_IMAGE)
    assert np.isnan(features[0, :FEATURES_PER_IMAGE]).all() and np.isfinite(features[1]).all()


def test_bad_input_gives_one_clear_message(cohort, tmp_path, capsys):
    with pytest.raises(UsageError, match="unknown baseline"):
        predict_baseline("oracle", cohort / "train", cohort / "test")
    with pytest.raises(UsageError, match="template.csv"):
        predict_baseline("train-mean", cohort / "train", tmp_path)
    with pytest.raises(UsageError, match="training.csv"):
        predict_baseline("train-mean", tmp_path, cohort / "test")
    assert main(["baseline", "train-mean", "--train", str(tmp_path), "--test", str(cohort / "test"),
                 "--out", str(tmp_path / "p.csv")]) == 2
    assert "training.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_image_stats_beats_train_mean_on_sc1_and_all_are_far_from_reader2(tmp_path):
    from evaluator.official import score_frames

    root = tmp_path / "c"
    make_cohort(root, 100, 50, seed=0, preset="easy")
    gold = read_scores(root / "gold" / "test.csv", gold=True)
    sc1 = {name: score_frames(predict_baseline(name, root / "train", root / "test"), gold)["sc1"]
           for name in BASELINES}
    reader2 = score_frames(read_scores(root / "gold" / "reader2.csv"), gold)["sc1"]
    assert sc1["image-stats"] < sc1["train-mean"]
    assert min(sc1.values()) > 3 * reader2
