"""The model bundle: profiles and the settings a training keeps, limb kinds without images, staged
writes (an interrupted training leaves the old bundle as it was) and checksums."""
from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from challenge.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_profile_is_changed_by_replace_and_never_overwritten():
    from submission.bundle import PROFILES, profile_settings
    from submission.train import resolve_settings

    mine = replace(PROFILES["quick"], stack=False, seg=False)
    assert resolve_settings(settings=mine) is mine                     # a caller's settings come back as given
    assert resolve_settings(profile="small") is PROFILES["small"]
    s = resolve_settings(profile="full", stack=False, steps=7)
    assert not s.stack and s.loc_steps == s.hand_scorer_steps == s.foot_scorer_steps == 7 and s.profile == "full"
    assert PROFILES["full"].stack and PROFILES["full"].loc_steps != 7  # the preset itself is untouched
    assert resolve_settings(quick=True).profile == "quick"
    with pytest.raises(UsageError, match="quick, small, full"):
        profile_settings("huge")


def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    from submission.bundle import staged_folder

    out = tmp_path / "b"
    out.mkdir()
    (out / "bundle.json").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(out) as work:
            (work / "bundle.json").write_text("new")
            raise RuntimeError("training failed")
    assert (out / "bundle.json").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["b"]
    with staged_folder(out) as work:
        (work / "bundle.json").write_text("new")
    assert (out / "bundle.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["b"]

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a model bundle"):
        with staged_folder(mine):
            pass
    assert (mine / "todo.txt").read_text() == "mine"
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(tmp_path / "new" / "deeper" / "b"):
            raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()                             # the parents it made are gone too


@pytest.mark.slow
def test_a_hands_only_cohort_trains_and_predicts_every_column(tmp_path, caplog):
    from phantoms.cohort import make_cohort
    from challenge.tables import check_scores, errors, read_table, read_template
    from submission.bundle import PROFILES, Bundle
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
