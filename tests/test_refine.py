"""The refinement stage: crop geometry, NaN handling, and a tiny refiner that learns to find blobs."""
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from submission.data import KindData, RefinerSamples
from submission.geometry import cut_crops, refine_frame
from submission.refine import Refiner


def blob_image(h, w, points, sd=3.0, background=0.0):
    """A dark (H, W) image with a Gaussian blob of peak 1 at each stored point (x, y)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    img = np.full((h, w), background, np.float32)
    for x, y in points:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sd ** 2)).astype(np.float32)
    return img


class BlobFinder:
    """A stand-in refiner whose probability map is the crop's grey level: it points at the brightest spot."""

    def __init__(self, crop, n_landmarks):
        self.input = {"crop": SimpleNamespace(shape=(None, crop, crop, 3)),
                      "landmark": SimpleNamespace(shape=(None, n_landmarks))}
        self.calls = 0

    def predict_on_batch(self, x):
        self.calls += 1
        return np.repeat(np.log(np.maximum(x["crop"][..., :1], 1e-9)), x["landmark"].shape[1], axis=-1)


def refiner(model, **options) -> Refiner:
    """A hand ``Refiner`` around ``model`` (a stand-in or a trained network)."""
    return Refiner("hand", model.input["landmark"].shape[-1], model=model, **options)


def test_cut_crops_samples_where_it_says():
    # a linear ramp is reproduced exactly by bilinear sampling, so every crop pixel can be checked
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    ramp = (xx + 2 * yy).astype(np.float32)
    centres = np.array([[60.3, 40.7], [30.0, 50.5], [np.nan, 10.0]])
    a = np.deg2rad(30)
    turn = 1.1 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    affines = np.stack([np.eye(2), turn, np.eye(2)])
    crops = cut_crops(np.stack([ramp, 2 * ramp]), np.array([0, 1, 0]), centres, 16, affines)
    assert crops.shape == (3, 16, 16) and crops.dtype == np.float32
    off = np.arange(16) - 7.5
    gx, gy = np.meshgrid(off, off)
    for k, scale in ((0, 1.0), (1, 2.0)):
        px = centres[k, 0] + affines[k, 0, 0] * gx + affines[k, 0, 1] * gy
        py = centres[k, 1] + affines[k, 1, 0] * gx + affines[k, 1, 1] * gy
        np.testing.assert_allclose(crops[k], scale * (px + 2 * py), atol=1e-3)
    assert not crops[2].any()     # a NaN centre gives a blank crop


@pytest.mark.parametrize("limb", ["LH", "RH", "RF"])
def test_refine_points_finds_a_known_point(limb):
    # stored points in a 700 x 520 image; the stand-in network points at the blobs, so the refined
    # points must come back to where the blobs are in the stored image, mirrored limbs included
    truth = np.array([[130.0, 210.0], [390.5, 150.25], [260.0, 560.0], [100.0, 100.0]])
    img = blob_image(700, 520, truth[:3])
    start = truth + np.array([[14.0, -9.0], [-20.0, 11.0], [6.0, 18.0], [np.nan, np.nan]])
    model = BlobFinder(48, 4)
    out = refiner(model, crop=48, pitch=0.0025, prior=None).predict(img, limb, start)
    assert out.shape == (4, 2)
    assert np.isnan(out[3]).all()          # an unknown point stays unknown
    np.testing.assert_allclose(out[:3], truth[:3], atol=0.25)
    assert model.calls == 1                # all landmarks in one call
    twice = refiner(model, crop=48, pitch=0.0025, passes=2, turned=True, prior=None).predict(img, limb, start)
    np.testing.assert_allclose(twice[:3], truth[:3], atol=0.25)
    assert model.calls == 3                # one call per pass, turned crops in the same batch


def test_the_prior_keeps_the_nearer_of_two_equal_peaks():
    # two equal blobs 24 stored px apart (12 crop px), the estimate 5 px from the first one
    truth = np.array([[200.0, 300.0], [224.0, 300.0]])
    img = blob_image(800, 600, truth, sd=4.0)
    start = np.array([[205.0, 300.0]])
    model = BlobFinder(48, 1)
    near = refiner(model, crop=48, pitch=0.0025, prior=0.02).predict(img, "LH", start)
    np.testing.assert_allclose(near[0], truth[0], atol=1.0)
    start = np.array([[219.0, 300.0]])
    near = refiner(model, crop=48, pitch=0.0025, prior=0.02).predict(img, "LH", start)
    np.testing.assert_allclose(near[0], truth[1], atol=1.0)


def test_the_refiner_rejects_a_wrong_crop_or_point_count():
    img = blob_image(300, 200, [(100, 100)])
    with pytest.raises(ValueError, match="crop"):
        refiner(BlobFinder(32, 1), crop=48, pitch=0.0025).predict(img, "LH", np.array([[100.0, 100.0]]))
    with pytest.raises(ValueError, match="points"):
        refiner(BlobFinder(32, 1), crop=32, pitch=0.0025).predict(img, "LH", np.zeros((2, 2)))


@pytest.mark.parametrize("limb", ["LF", "RH"])
def test_samples_hold_the_true_point(limb):
    truth = np.array([[150.0, 300.5], [np.nan, np.nan], [333.3, 120.0]])
    img = blob_image(800, 480, truth[[0, 2]], sd=4.0)
    samples = RefinerSamples(context=40, pitch=0.0025)
    samples.add(img, limb, truth)
    samples.add(img, limb, np.full((3, 2), np.nan))     # nothing labelled: nothing added
    contexts, points, landmarks = samples.arrays()
    assert contexts.shape == (2, 40, 40) and contexts.dtype == np.float16 and points.shape == (2, 3, 2)
    assert list(landmarks) == [0, 2] and len(samples) == 2
    assert np.isnan(points[:, 1]).all()
    # each context holds every landmark's position; the centre one is near the middle
    np.testing.assert_allclose(points[0, 2] - points[0, 0], points[1, 2] - points[1, 0], atol=1e-4)
    points = points[[0, 1], [0, 2]]
    for c, p in zip(contexts.astype(np.float64), points):
        w = np.clip(c - 0.5 * c.max(), 0, None)
        yy, xx = np.mgrid[0:40, 0:40]
        np.testing.assert_allclose([(xx * w).sum() / w.sum(), (yy * w).sum() / w.sum()], p, atol=0.15)
    # the context is a copy of the refine frame's pixels (no resampling)
    frame_img, frame = refine_frame(img, limb, 0.0025)
    rx, ry = np.round(frame.to_canonical(truth[0]) - points[0]).astype(int)
    np.testing.assert_allclose(contexts[0].astype(np.float32), frame_img[ry:ry + 40, rx:rx + 40], atol=2e-3)


@pytest.mark.slow
def test_a_tiny_refiner_moves_estimates_towards_the_truth(tmp_path):
    rng = np.random.default_rng(0)

    def scene():
        pts = np.array([[rng.uniform(40, 110), rng.uniform(50, 120)], [rng.uniform(200, 260), rng.uniform(60, 140)],
                        [rng.uniform(90, 210), rng.uniform(260, 340)]])
        return blob_image(400, 300, pts, sd=2.5, background=0.1) + rng.normal(0, 0.03, (400, 300)), pts

    stage = Refiner("hand", 3, crop=32, pitch=0.005, steps=60, base=4, depth=2)
    samples = stage.samples()
    assert (samples.context, samples.pitch) == (64, 0.005)
    for _ in range(12):
        img, pts = scene()
        samples.add(img, "RH", pts)
    stage.fit(KindData(refiner=samples), seed=0, progress=False, batch=16, lr=5e-3, jitter=0.015, max_jitter=0.03)
    before, after = [], []
    for _ in range(6):
        img, pts = scene()
        start = pts + rng.normal(0, 6.0, pts.shape)
        out = stage.predict(img, "RH", start)
        before.append(np.linalg.norm(start - pts, axis=1))
        after.append(np.linalg.norm(out - pts, axis=1))
    assert np.mean(after) < 0.6 * np.mean(before), (np.mean(before), np.mean(after))
    # saved and read back as a bundle does, it gives the same points
    stage.save(tmp_path)
    again = keras.saving.load_model(tmp_path / "refiner_hand.keras", compile=False)
    np.testing.assert_allclose(refiner(again, crop=32, pitch=0.005).predict(img, "RH", start), out, atol=1e-3)
