"""The model bundle and its settings: the profiles (submission/profiles.py) and the settings a training
keeps, and patch sizes in pixels and millimetres.  Training a bundle (a hands-only cohort, an interrupted
retraining) is in test_train.py, predicting with one in test_predict.py."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from challenge.errors import UsageError


def test_a_profile_is_changed_by_replace_and_never_overwritten():
    from submission.profiles import PROFILES, profile_settings
    from submission.profiles import resolve_settings

    mine = replace(PROFILES["quick"], stack=False, seg=False)
    assert resolve_settings(settings=mine) is mine                     # a caller's settings come back as given
    assert resolve_settings(profile="small") is PROFILES["small"]
    s = resolve_settings(profile="full", stack=False, steps=7)
    assert not s.stack and s.localizer.steps == s.hand.steps == s.foot.steps == 7 and s.profile == "full"
    assert PROFILES["full"].stack and PROFILES["full"].localizer.steps != 7  # the preset itself is untouched
    assert resolve_settings(quick=True).profile == "quick"
    with pytest.raises(UsageError, match="quick, small, full"):
        profile_settings("huge")


def _saved(folder, settings):
    """A bundle with ``settings`` saved as ``ra2 train`` saves one (placeholder network files)."""
    from challenge.catalogue import JOINT_COLUMNS
    from challenge.schemes import load_scheme
    from submission.bundle import Bundle

    bundle = Bundle(settings=settings, scheme=load_scheme("svh21"), kinds=("hand",), n_scorers={"hand": 1},
                    prior={c: 0.0 for c in JOINT_COLUMNS})
    folder.mkdir()
    for name in bundle.files():
        (folder / name).write_bytes(b"placeholder " + name.encode())
    bundle.save(folder)
    return folder


def test_the_settings_are_per_stage_and_addressed_by_dotted_path():
    from submission.profiles import PROFILES
    from submission.settings import ScorerSettings, Settings

    full = PROFILES["full"]
    assert full.get("hand.steps") == full.hand.steps == 8000 and full.get("refiner.turned") is True
    assert full.scorer("foot") is full.foot and isinstance(full.foot, ScorerSettings)
    changed = full.with_values({"hand.depth": 5, "oof_folds": 2, "stacker.trees": 9})
    assert (changed.hand.depth, changed.foot.depth, changed.oof_folds, changed.stacker.trees) == (5, 4, 2, 9)
    assert full.hand.depth == 4 and changed.localizer is full.localizer            # the rest shared, unchanged
    assert Settings().hand.patch_scale == 0.6 and Settings().foot.patch_scale == 1.0       # the flat defaults
    assert (Settings().hand.steps, Settings().foot.steps) == (1500, 1000)
    for wrong in ("hand.nope", "loc_steps", "hand"):
        with pytest.raises(ValueError, match=f"{wrong!r}"):
            full.with_values({wrong: 1})
    with pytest.raises(ValueError, match="setting 'hand.ordinal' names narowing"):
        full.with_values({"hand.ordinal": ("narowing",)})


@pytest.mark.parametrize("name", ["quick", "small", "full", "demo"])
def test_nested_settings_round_trip_through_a_saved_bundle(tmp_path, name):
    import json

    from submission.bundle import Bundle
    from submission.profiles import PROFILES

    settings = PROFILES[name].with_values({"hand.ordinal": ("erosion",), "foot.weight_power": 0.25})
    folder = _saved(tmp_path / "bundle", settings)
    record = json.loads((folder / "bundle.json").read_text())["settings"]
    assert record["hand"]["ordinal"] == ["erosion"] and record["foot"]["weight_power"] == 0.25
    assert set(record) == {"profile", "localizer", "refiner", "hand", "foot", "stacker", "oof_folds", "seg", "stack"}
    assert Bundle.load(folder).settings == settings


def test_a_bundle_with_the_flat_settings_of_before_is_refused_in_one_line_naming_retrain(tmp_path, capsys):
    """A bundle trained before the settings were per stage (one flat list, version 7): retrain it."""
    import json

    from ra2.cli import main
    from submission.bundle import MANIFEST_DIGEST, Bundle, manifest_digest
    from submission.profiles import PROFILES
    from submission.settings import Settings

    folder = _saved(tmp_path / "bundle", PROFILES["quick"])
    path = folder / "bundle.json"
    record = json.loads(path.read_text())
    record["version"] = 7
    record["settings"] = {"profile": "quick", "loc_size": 64, "loc_steps": 12, "ref_steps": 12, "hand_patch": 32,
                          "foot_patch": 32, "hand_scorer_steps": 12, "scorer_ordinal": [], "stack_trees": 20,
                          "oof_folds": 2, "seg": True, "stack": True}
    record[MANIFEST_DIGEST] = manifest_digest(record)
    path.write_text(json.dumps(record))
    with pytest.raises(UsageError) as caught:
        Bundle.load(folder)
    message = str(caught.value)
    assert "trained before the settings were per stage" in message and "retrain it with 'ra2 train'" in message
    assert "\n" not in message and message.startswith(str(path))
    code = main(["explain", "--bundle", str(folder), "--out", str(tmp_path / "explained")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "per stage" in err and "retrain it" in err
    assert not (tmp_path / "explained").exists()
    record["version"] = 8                                  # flat settings in a current manifest: refused the same
    record[MANIFEST_DIGEST] = manifest_digest(record)
    path.write_text(json.dumps(record))
    with pytest.raises(UsageError, match="trained before the settings were per stage.*retrain it"):
        Bundle.load(folder)
    with pytest.raises(ValueError, match="retrain it"):
        Settings.from_dict({"loc_steps": 12})


def test_a_patch_side_given_in_pixels_sets_the_field_of_view():
    from submission.geometry import extract_patches, patch_side

    img = np.tile(np.arange(400, dtype=np.float32), (300, 1))            # a ramp along x
    point = np.array([[200.0, 150.0]])
    default, _ = extract_patches(img, "LH", point, patch=16, patch_scale=1.0, context=1.0)
    side = patch_side(400, 300, 1.0)
    wide, _ = extract_patches(img, "LH", point, patch=16, patch_scale=1.0, context=1.0, side=2 * side)
    span = lambda p: p[0, 8, -1] - p[0, 8, 0]                             # noqa: E731
    assert span(wide) == pytest.approx(2 * span(default), rel=0.1)


@pytest.mark.slow
def test_dicom_pixel_spacing_sizes_the_joint_patches_in_millimetres(tmp_path):
    from PIL import Image
    from tests.conftest import write_dicom

    from challenge.images import mm_per_pixel, read_image
    from phantoms.cohort import make_cohort
    from submission.bundle import Bundle
    from submission.profiles import PROFILES
    from submission.predict import Method, predict_folder
    from submission.geometry import patch_side
    from submission.train import train_bundle

    make_cohort(tmp_path / "c", 4, 1, seed=6, size_scale=0.3, preset="easy")
    for split in ("train", "test"):
        for path in sorted((tmp_path / "c" / split).glob("*.jpg")):
            pixels = np.asarray(Image.open(path).convert("L"), dtype=np.uint16) * 16
            write_dicom(path.with_suffix(".dcm"), pixels, PixelSpacing=[0.1, 0.1])
            path.unlink()
    train, test = tmp_path / "c" / "train", tmp_path / "c" / "test"
    hand = sorted(train.glob("*-LH.dcm"))[0]
    assert mm_per_pixel(hand) == pytest.approx(0.1) and mm_per_pixel(tmp_path / "none.jpg") is None
    # (a scorer ordinal for narrowing only, and hand patches seen at another size than the feet's, go
    # through training, the bundle and prediction here too)
    settings = PROFILES["quick"].with_values({"stack": False, "refiner.steps": 0, "hand.ordinal": ("narrowing",),
                                              "foot.ordinal": ("narrowing",), "hand.patch": 24})
    bundle = Bundle.load(train_bundle(train, tmp_path / "bundle", settings=settings, progress=False))
    assert bundle.settings == settings                              # the nested settings come back as trained
    assert bundle.settings.hand.ordinal == ("narrowing",) and bundle.settings.foot.patch == 32
    sides = [patch_side(*read_image(p)[0].shape[::-1], settings.hand.patch_scale) * 0.1
             for p in sorted(train.glob("*-?H.dcm"))]
    assert bundle.patch_mm["hand"] == pytest.approx(np.median(sides)) and set(bundle.patch_mm) == {"hand", "foot"}

    method = Method(bundle.folder)
    img, info = read_image(sorted(test.glob("*-LH.dcm"))[0])
    assert method.analyse(img, "LH", mm_per_pixel=0.2).patch_side == pytest.approx(bundle.patch_mm["hand"] / 0.2)
    assert method.analyse(img, "LH").patch_side == pytest.approx(patch_side(img.shape[1], img.shape[0], 0.6))
    scorer = method.stages["hand"].scorer                 # the scorer's test-time turn follows the settings
    assert scorer.turn is bundle.settings.hand.turn is True
    turned = method.analyse(img, "LH").scores
    scorer.turn = False
    plain = method.analyse(img, "LH").scores
    assert turned.keys() == plain.keys() and max(abs(turned[k] - plain[k]) for k in turned) > 1e-6
    scorer.turn = True
    foot, _ = read_image(sorted(test.glob("*-LF.dcm"))[0])
    assert method.analyse(img, "LH").masks.shape[1:] == (24, 24)
    assert method.analyse(foot, "LF").masks.shape[1:] == (32, 32)
    summary = predict_folder(bundle.folder, test, test / "template.csv", tmp_path / "pred.csv", progress=False,
                             method=method)
    assert summary["images"] == 4 and not summary["failed"]
