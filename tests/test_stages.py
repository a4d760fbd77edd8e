"""The stage objects (``Localizer``, ``Refiner``, ``Scorer``) on the quick profile: each cuts its own
training data as it cuts at prediction, a stage saved and loaded predicts as before, and the scorer's
architecture is chosen by name (``models.SCORERS``)."""

import keras
import numpy as np
import pytest

from challenge.catalogue import JOINT_COLUMNS, KINDS
from challenge.dataset import scan_folder
from challenge.errors import UsageError
from challenge.images import read_grey
from challenge.landmarks import landmark_table, load_landmarks
from challenge.schemes import load_scheme
from submission.bundle import Bundle
from submission.data import is_negative, load_training
from submission.localize import Localizer
from submission.profiles import PROFILES
from submission.refine import Refiner
from submission.score import Scorer
from submission.settings import Settings
from submission.train import kind_stages
from submission.units import kind_columns
from tests.conftest import synth_cohort

QUICK = PROFILES["quick"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return synth_cohort(tmp_path_factory.mktemp("stages"), train=4, test=1, seed=5, size_scale=0.5)


@pytest.fixture(scope="module")
def read(cohort):
    """The quick profile's stages of every limb kind and the training data they cut."""
    scheme = load_scheme("svh21")
    stages = {kind: kind_stages(kind, scheme, QUICK) for kind in KINDS}
    data, scores, _ = load_training(cohort / "train", scheme, stages, progress=False)
    return scheme, stages, data, scores


def bundle_at(folder, scheme, settings, n_scorers: int, patch_mm=None) -> Bundle:
    """A bundle record of a hand-only training whose network files were written into ``folder``."""
    return Bundle(settings=settings, scheme=scheme, kinds=("hand",), n_scorers={"hand": n_scorers},
                  prior={c: 0.0 for c in JOINT_COLUMNS}, patch_mm={"hand": patch_mm} if patch_mm else {},
                  folder=folder)


def first_hand(cohort, scheme, data):
    """The first training hand image as the training read it (upright), its limb and its true landmarks."""
    d = data["hand"]
    patient, limb = d.patients[0], d.limbs[0]
    folder = scan_folder(cohort / "train")
    img = read_grey(folder.path(patient, limb))
    marks = landmark_table(load_landmarks(cohort / "train" / "landmarks.csv", scheme))[folder.stem(patient, limb)]
    xy = np.array([marks.get(n, (np.nan, np.nan)) for n in scheme.landmarks["hand"]], dtype=float)
    return (1.0 - img if is_negative(img, xy) else img), limb, xy


def test_each_stage_cuts_its_training_data_as_it_cuts_at_prediction(cohort, read):
    scheme, stages, data, _ = read
    hand, d = stages["hand"], data["hand"]
    img, limb, xy = first_hand(cohort, scheme, data)
    cimg, frame = hand.localizer.canonical(img, limb)
    assert cimg.shape == (QUICK.localizer.size,) * 2
    np.testing.assert_array_equal(d.loc_images[0], cimg.astype(np.float16))
    np.testing.assert_array_equal(d.loc_points[0], frame.to_canonical(xy))
    # the refiner's contexts are cut at its own pitch, twice its crop wide
    assert (d.refiner.pitch, d.refiner.context) == (hand.refiner.pitch, 2 * hand.refiner.crop) == (
        QUICK.refiner.pitch, 2 * QUICK.refiner.crop)
    # the scorer's patches (and the patch side in mm, set on the scorer that cut them)
    assert hand.scorer.patch_mm == d.patch_mm
    patches, _, side = hand.scorer.patches(img, limb, xy)
    np.testing.assert_array_equal(d.patches[0], patches.astype(np.float16))
    assert side == hand.scorer.side(img.shape[1], img.shape[0])


@pytest.mark.slow
def test_stages_saved_and_loaded_predict_the_same(cohort, read, tmp_path):
    scheme, _, data, scores = read
    d = data["hand"]
    localizer = Localizer.from_settings("hand", scheme, QUICK.localizer).fit(d, seed=0, progress=False)
    refiner = Refiner.from_settings("hand", scheme, QUICK.refiner).fit(d, seed=0, progress=False)
    patients = sorted(scores.index)
    folds = [Scorer.from_settings("hand", scheme, QUICK.hand, seg=QUICK.seg, patch_mm=d.patch_mm).fit(
        d, scores, patients=set(patients[k::2]), seed=k, progress=False) for k in range(2)]
    scorer = Scorer.folds(folds)
    assert len(scorer.models) == 2
    for stage in (localizer, refiner, scorer):
        stage.save(tmp_path)
    bundle = bundle_at(tmp_path, scheme, QUICK, 2, d.patch_mm)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f for f in bundle.files() if f.endswith(".keras"))
    img, limb, xy = first_hand(cohort, scheme, data)

    found = localizer.predict(img, limb, widths=True)
    again = Localizer.load(bundle, "hand").predict(img, limb, widths=True)
    assert found.points.shape == (len(scheme.landmarks["hand"]), 2) and found.inverted == again.inverted
    np.testing.assert_allclose(again.points, found.points, atol=1e-4)
    np.testing.assert_allclose(again.confidence, found.confidence, atol=1e-5)

    refined, spread = refiner.predict(img, limb, found.points, widths=True)
    loaded = Refiner.load(bundle, "hand")
    assert (loaded.crop, loaded.pitch) == (refiner.crop, refiner.pitch)
    np.testing.assert_allclose(loaded.predict(img, limb, found.points), refined, atol=1e-4)

    patches, _, _ = scorer.patches(img, limb, refined)
    landmarks = np.arange(len(patches))
    unit, masks = scorer.predict(patches, landmarks)
    loaded = Scorer.load(bundle, "hand", uncertainty=True)
    unit_again, masks_again = loaded.predict(patches, landmarks)
    np.testing.assert_allclose(unit_again, unit, atol=1e-5)
    np.testing.assert_allclose(masks_again, masks, atol=1e-5)
    # the members model gives each fold scorer's own answer; their mean is the ensemble's
    each, _ = loaded.predict(patches, landmarks, members=True)
    assert each.shape == (len(patches), 2, unit.shape[1])
    np.testing.assert_allclose(each.mean(axis=1), unit, atol=1e-5)
    np.testing.assert_allclose(each[:, 0], folds[0].predict(patches, landmarks)[0], atol=1e-5)


def test_an_unknown_scorer_architecture_is_one_clear_error_before_any_training(read, tmp_path):
    from submission.train import train_bundle

    scheme = read[0]
    wrong = QUICK.with_values({"hand.arch": "transformer"})
    with pytest.raises(UsageError, match=r"hand.arch=transformer: no such scorer architecture; choose one of unet"):
        Scorer.from_settings("hand", scheme, wrong.hand, seg=True)
    with pytest.raises(UsageError, match="no such scorer architecture") as err:
        train_bundle(tmp_path / "no-such-folder", tmp_path / "bundle", settings=wrong, progress=False)
    assert "\n" not in str(err.value) and not (tmp_path / "bundle").exists()
    # the setting is a plain name in the manifest; bundles of before it was one read as the U-Net
    assert Settings.from_dict({}).hand.arch == "unet"
    assert Settings.from_dict({"hand": {"arch": "unet"}}) == Settings()
    with pytest.raises(ValueError, match="hand.arch"):
        Settings.from_dict({"hand": {"arch": 3}})


def flat_scorer(patch, n_outputs, n_landmarks, *, base, depth, seg, groups, ordinal):
    """A second architecture: one convolution, pooled, and a dense read-out (no U-Net at all)."""
    from keras import layers

    img = keras.Input((patch, patch, 1), name="patch")
    which = keras.Input((n_landmarks,), name="landmark")
    x = layers.Conv2D(base, 3, padding="same", activation="relu", name="flat_conv")(img)
    pooled = layers.Concatenate(name="flat_pool")([layers.GlobalAveragePooling2D(name="flat_gap")(x), which])
    outputs = {"scores": layers.Dense(n_outputs, activation="sigmoid", name="scores")(pooled)}
    if seg:
        outputs["mask"] = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    return keras.Model({"patch": img, "landmark": which}, outputs, name="flat_scorer")


def test_a_second_registered_architecture_is_built_when_named(read, tmp_path, monkeypatch):
    from submission import models

    scheme, _, data, scores = read
    built = []

    def recorded(*args, **kw):
        built.append((args, kw))
        return flat_scorer(*args, **kw)

    monkeypatch.setitem(models.SCORERS, "flat", recorded)
    settings = QUICK.with_values({"hand.arch": "flat"})
    scorer = Scorer.from_settings("hand", scheme, settings.hand, seg=settings.seg).fit(data["hand"], scores, seed=0,
                                                                                      progress=False)
    assert len(built) == 1 and built[0][0][0] == QUICK.hand.patch
    model = scorer.models[0]
    assert model.name == "flat_scorer" and "flat_conv" in [layer.name for layer in model.layers]
    assert not any(layer.name.startswith("sc_enc") for layer in model.layers)     # not the U-Net
    # the default is still the U-Net
    unet = Scorer.from_settings("hand", scheme, QUICK.hand, seg=QUICK.seg).network(len(kind_columns("hand")))
    assert any(layer.name.startswith("sc_enc") for layer in unet.layers)
    # it predicts, and a bundle that names it loads it
    d = data["hand"]
    patches, landmarks = np.stack(d.patches[0]).astype(np.float32), np.arange(len(d.patches[0]))
    unit, masks = scorer.predict(patches, landmarks)
    assert unit.shape[0] == len(patches) and masks.shape == (len(patches), QUICK.hand.patch, QUICK.hand.patch)
    scorer.save(tmp_path)
    loaded = Scorer.load(bundle_at(tmp_path, scheme, settings, 1), "hand")
    assert loaded.arch == "flat" and loaded.models[0].name == "flat_scorer"
    np.testing.assert_allclose(loaded.predict(patches, landmarks)[0], unit, atol=1e-5)
