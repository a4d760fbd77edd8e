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
    settings = replace(PROFILES["quick"], stack=False, ref_steps=0, scorer_ordinal=("narrowing",), hand_patch=24)
    bundle = Bundle.load(train_bundle(train, tmp_path / "bundle", settings=settings, progress=False))
    assert bundle.settings.scorer_ordinal == ("narrowing",) and bundle.settings.patch_px("foot") == 32
    sides = [patch_side(*read_image(p)[0].shape[::-1], settings.patch_scale("hand")) * 0.1
             for p in sorted(train.glob("*-?H.dcm"))]
    assert bundle.patch_mm["hand"] == pytest.approx(np.median(sides)) and set(bundle.patch_mm) == {"hand", "foot"}

    method = Method(bundle.folder)
    img, info = read_image(sorted(test.glob("*-LH.dcm"))[0])
    assert method.analyse(img, "LH", mm_per_pixel=0.2).patch_side == pytest.approx(bundle.patch_mm["hand"] / 0.2)
    assert method.analyse(img, "LH").patch_side == pytest.approx(patch_side(img.shape[1], img.shape[0], 0.6))
    scorer = method.stages["hand"].scorer                 # the scorer's test-time turn follows the settings
    assert scorer.turn is bundle.settings.scorer_turn is True
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
