"""The scorer's geometric and exposure augmentation keeps a patch and its joint-space mask together."""
import numpy as np

from submission.score import ScorerData, expose_patch, warp_patch


def _disc(c=60, r=8.0, at=(30.0, 30.0)):
    yy, xx = np.mgrid[:c, :c]
    return ((xx - at[0]) ** 2 + (yy - at[1]) ** 2 <= r * r).astype(np.float32)


def test_warp_moves_image_and_mask_alike_and_keeps_the_centre():
    rng = np.random.default_rng(0)
    img = _disc(at=(36.0, 29.5))
    for _ in range(20):
        out, mask = warp_patch(img, img.copy(), rng)
        assert out.shape == img.shape and mask.shape == img.shape
        np.testing.assert_allclose(out, mask)
        # an off-centre disc is turned about the patch centre: its distance from it is kept up to the scale
        yy, xx = np.mgrid[:60, :60]
        w = out / out.sum()
        cx, cy = (w * xx).sum(), (w * yy).sum()
        d0, d = np.hypot(36.0 - 29.5, 29.5 - 29.5), np.hypot(cx - 29.5, cy - 29.5)
        assert 0.85 * d0 - 0.5 < d < 1.15 * d0 + 0.5
    centred = _disc(at=(29.5, 29.5))
    out, _ = warp_patch(centred, centred, rng)
    yy, xx = np.mgrid[:60, :60]
    w = out / out.sum()
    assert abs((w * xx).sum() - 29.5) < 0.3 and abs((w * yy).sum() - 29.5) < 0.3


def test_exposure_changes_grey_levels_not_shape():
    rng = np.random.default_rng(1)
    img = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48)
    outs = [expose_patch(img, rng) for _ in range(10)]
    assert all(o.shape == img.shape and o.dtype == np.float32 for o in outs)
    assert max(np.abs(o - img).mean() for o in outs) > 0.01
    assert all(np.corrcoef(o.ravel(), img.ravel())[0, 1] > 0.9 for o in outs)


def test_augmented_batches_have_the_plain_batches_shapes():
    rng = np.random.default_rng(2)
    n, c = 12, 60
    samples = {"patches": rng.random((n, c, c)).astype(np.float16), "masks": np.zeros((n, c, c), np.uint8),
               "has_mask": np.ones(n, bool), "landmark": np.arange(n) % 3,
               "targets": np.zeros((n, 2), np.float32), "carried": np.ones((n, 2), np.float32)}
    plain = ScorerData(samples, patch=48, n_landmarks=3, seg=True, batch=4, seed=0)
    aug = ScorerData(samples, patch=48, n_landmarks=3, seg=True, batch=4, seed=0, aug=True)
    for data in (plain, aug):
        x, y, w = data[0]
        assert x["patch"].shape == (4, 48, 48, 1) and y["mask"].shape == (4, 48, 48, 2) and w.shape == (4,)
        assert np.isfinite(x["patch"]).all()
    assert not np.allclose(plain[0][0]["patch"], aug[0][0]["patch"])


def test_a_window_of_the_warp_is_the_same_pixels_as_cropping_the_whole_warp():
    """The scorer warps only the random crop it keeps; the pixels must be those of warping the whole
    context patch and cropping it, edges (mirrored) included."""
    from submission.geometry import warp
    from submission.score import patch_affine

    rng = np.random.default_rng(3)
    img = rng.random((80, 80)).astype(np.float32)
    for _ in range(10):
        affine = patch_affine(rng, 80)
        ox, oy = rng.integers(0, 80 - 64 + 1, 2)
        whole = warp(img, affine, mode="mirror")[oy:oy + 64, ox:ox + 64]
        np.testing.assert_allclose(warp(img, affine, mode="mirror", window=(ox, oy, 64)), whole, atol=1e-5)
