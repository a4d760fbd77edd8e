"""The method's parts on small arrays (the end-to-end run on a tiny phantom cohort is in test_predict.py)."""
import json
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest

from challenge.catalogue import DAMAGE_TYPES, JOINT_COLUMNS, KINDS
from submission.geometry import canonical, extract_patches, find_peaks, heatmaps, turn
from submission.units import kind_columns, to_unit


def test_peak_is_subpixel():
    maps = heatmaps(np.array([[10.3, 20.7], [np.nan, np.nan], [0.0, 31.0]]), 32, sigma=1.5)
    assert maps[:, :, 1].max() == 0
    points, heights = find_peaks(maps)
    assert points[0] == pytest.approx([10.3, 20.7], abs=0.1)
    assert points[2] == pytest.approx([0.0, 31.0], abs=0.5)   # a cut window biases inwards a little
    assert heights[0] > 0.8


def test_canonical_frame_round_trip_and_mirroring():
    img = np.zeros((300, 200), np.float32)
    img[50:60, 20:30] = 1.0                                # a bright square near the left edge
    for limb in ("LH", "RH"):
        cimg, frame = canonical(img, limb, 64)
        pts = np.array([[25.0, 55.0], [199.0, 299.0]])
        back = frame.to_stored(frame.to_canonical(pts))
        assert back == pytest.approx(pts)
        cx, cy = frame.to_canonical(pts[0])
        assert cimg[int(round(cy)), int(round(cx))] > 0.5     # the square lands where its point maps
        assert (cx < 32) == (limb == "LH")                     # a right image is mirrored to the left


def test_turning_the_frame_twice_is_identity():
    pts = np.array([[1.5, 2.0], [60.0, 3.0]])
    assert turn(turn(pts, 64), 64) == pytest.approx(pts)
    maps = heatmaps(pts, 64, 1.5)
    turned, _ = find_peaks(maps[::-1, ::-1])
    assert turned == pytest.approx(turn(pts, 64), abs=0.1)


def test_augmentation_moves_points_with_the_image():
    from submission.geometry import random_affine, warp

    img = np.zeros((64, 64), np.float32)
    img[20:23, 40:43] = 1.0                                # a bright square centred on (41, 21)
    affine = random_affine(np.random.default_rng(3), 64, shift=0.1, scale=1.2, degrees=15)
    moved = warp(img, affine)
    x, y = np.array([41.0, 21.0]) @ affine[:, :2].T + affine[:, 2]
    ys, xs = np.nonzero(moved > 0.3)
    assert abs(xs.mean() - x) < 0.7 and abs(ys.mean() - y) < 0.7


def test_spatial_softmax_loss_prefers_the_right_pixel_and_skips_unknown_landmarks():
    import keras

    from submission.geometry import spatial_softmax
    from submission.models import heatmap_loss

    target = heatmaps(np.array([[5.0, 9.0], [np.nan, np.nan]]), 16, sigma=1.5)[None]
    right = np.zeros((1, 16, 16, 2), np.float32)
    right[0, 9, 5, 0] = 8.0
    wrong = np.zeros((1, 16, 16, 2), np.float32)
    wrong[0, 2, 12, 0] = 8.0
    loss = lambda logits: float(keras.ops.convert_to_numpy(heatmap_loss(target, logits))[0])  # noqa: E731
    assert loss(right) < loss(wrong)
    changed = right.copy()
    changed[0, 3, 3, 1] = 50.0                             # the unknown landmark's channel does not count
    assert loss(changed) == pytest.approx(loss(right), rel=1e-5)
    probs = spatial_softmax(right[0])
    assert probs[..., 0].sum() == pytest.approx(1.0, abs=1e-5) and np.unravel_index(probs[..., 0].argmax(), (16, 16)) == (9, 5)


def test_patches_follow_the_point_and_mirror():
    img = np.zeros((400, 600), np.float32)
    img[100:110, 450:460] = 1.0
    patch, mask = extract_patches(img, "LH", np.array([[454.5, 104.5], [np.nan, np.nan]]), patch=32,
                                  patch_scale=2.0, mask=(img > 0).astype(np.float32))
    assert patch.shape == (2, 40, 40) and mask.shape == (2, 40, 40)
    assert not patch[1].any()
    ys, xs = np.nonzero(patch[0] > 0.5)
    assert abs(ys.mean() - 19.5) < 1.5 and abs(xs.mean() - 19.5) < 1.5
    assert mask[0][19, 19] > 0.5
    off, _ = extract_patches(img, "RH", np.array([[454.5 - 40, 104.5]]), patch=32, patch_scale=2.0)
    ys, xs = np.nonzero(off[0] > 0.5)
    # the point is 40 px left of the square; mirrored, the square shows on the patch's left side
    assert xs.mean() < 19.5 - 3


def test_unit_targets_use_the_metric_space():
    cols = kind_columns("foot")
    assert len(cols) == 12 and len(kind_columns("hand")) == 31
    scores = np.array([10 if "_E__" in c else 4 for c in cols])
    assert to_unit(scores, "foot") == pytest.approx(np.ones(12))


def test_scorer_losses_ignore_uncarried_columns_and_missing_masks():
    import keras

    from submission.models import masked_bce, masked_mse

    y_true = np.array([[0.5, 0.9, 1, 0]], np.float32)          # targets (0.5, 0.9), only column 0 carried
    y_pred = np.array([[0.5, 0.0]], np.float32)
    assert float(keras.ops.convert_to_numpy(masked_mse(y_true, y_pred))[0]) == pytest.approx(0.0)
    weighted = np.array([[0.5, 0.9, 0, 3]], np.float32)         # only column 1 carried, with weight 3
    assert float(keras.ops.convert_to_numpy(masked_mse(weighted, y_pred))[0]) == pytest.approx(3 * 0.81)
    m_true = np.zeros((2, 4, 4, 2), np.float32)
    m_true[0, ..., 1] = 1                                      # sample 0 has a mask, sample 1 has none
    loss = keras.ops.convert_to_numpy(masked_bce(m_true, np.full((2, 4, 4, 1), 0.9, np.float32)))
    assert loss[0] > 1.0 and loss[1] == 0.0


def test_scorer_data_oversamples_damage_with_unbiased_weights():
    """Damaged patches are drawn ``boost`` times as often; the importance weights undo it in the loss."""
    from submission.score import ScorerData

    n = 400
    rng = np.random.default_rng(0)
    targets = np.zeros((n, 2), np.float32)
    targets[:40, 0] = 0.5                                   # 10 % damaged
    samples = {"patches": rng.random((n, 20, 20)).astype(np.float32), "masks": np.zeros((n, 20, 20), np.float32),
               "has_mask": np.zeros(n), "landmark": np.zeros(n, int), "targets": targets,
               "carried": np.ones((n, 2), np.float32)}
    data = ScorerData(samples, patch=16, n_landmarks=1, seg=False, batch=50, boost=3.0, seed=0, per_epoch=30000)
    assert len(data) == 600
    drawn = data.order < 40
    assert 0.23 < drawn.mean() < 0.27                      # 40*3 / (40*3 + 360) = 0.25
    _, y, w = data[0]
    assert y["scores"].shape == (50, 4) and w.shape == (50,)
    weights = data.weight[data.order]
    # the weighted share of damaged draws is the plain share of damaged patches
    assert abs((weights * drawn).sum() / weights.sum() - 0.1) < 0.01


def test_scorer_weights_patients_as_the_leaderboard_does():
    """In the weighted columns, each patient's share of the loss is its official weight's share;
    the other columns keep the plain mean."""
    from submission.data import metric_weights
    from submission.score import ScorerData

    scores = pd.DataFrame(0.0, index=["A", "B", "C"], columns=list(JOINT_COLUMNS))
    scores.loc["B", JOINT_COLUMNS[0]] = 1                    # total 1 -> weight 2
    scores.loc["C", list(JOINT_COLUMNS[:30])] = 5.2          # total 156 (rounded) -> weight 64
    assert metric_weights(scores).tolist() == [1.0, 2.0, 64.0]
    n = 300
    rng = np.random.default_rng(1)
    targets = np.zeros((n, 2), np.float32)
    targets[200:] = 0.5                                      # patient C's patches are damaged
    samples = {"patches": rng.random((n, 20, 20)).astype(np.float32), "masks": np.zeros((n, 20, 20), np.float32),
               "has_mask": np.zeros(n), "landmark": np.zeros(n, int), "targets": targets,
               "carried": np.ones((n, 2), np.float32), "patient_weight": np.repeat([1.0, 2.0, 64.0], 100)}
    data = ScorerData(samples, patch=16, n_landmarks=1, seg=False, batch=50, boost=3.0, seed=0, per_epoch=60000,
                      weighted=[False, True])
    _, y, w = data[0]
    assert y["scores"].shape == (50, 4)
    root = ScorerData(samples, patch=16, n_landmarks=1, seg=False, batch=50, boost=3.0, seed=0, per_epoch=60000,
                      weighted=[False, True], weight_power=0.5)          # square roots: 1, 1.41, 8
    for d, col, shares in ((data, 0, (1 / 3, 1 / 3, 1 / 3)), (data, 1, (1 / 67, 2 / 67, 64 / 67)),
                           (root, 0, (1 / 3, 1 / 3, 1 / 3)), (root, 1, np.array([1, 2 ** 0.5, 8]) / (9 + 2 ** 0.5))):
        weights = d.weight[d.order] * d.column_weight[d.order, col]
        for lo, share in zip((0, 100, 200), shares):
            drawn = (d.order >= lo) & (d.order < lo + 100)
            assert abs((weights * drawn).sum() / weights.sum() - share) < 0.01


def test_models_build_train_and_save(tmp_path):
    import keras

    from submission.models import build_localizer, build_scorer, heatmap_loss, masked_mse

    keras.utils.set_random_seed(0)
    loc = build_localizer(32, 5, base=4, depth=2)
    assert loc.output_shape == (None, 32, 32, 5)
    loc.compile(optimizer="adam", loss=heatmap_loss)
    loc.fit(np.random.rand(2, 32, 32, 3).astype("float32"), np.random.rand(2, 32, 32, 5).astype("float32"),
            epochs=1, verbose=0)
    for seg, groups in ((True, (4, 3)), (False, None)):
        sc = build_scorer(16, 7, 3, base=4, depth=2, seg=seg, groups=groups)
        x = {"patch": np.random.rand(2, 16, 16, 1).astype("float32"), "landmark": np.eye(3, dtype="float32")[:2]}
        sc.compile(optimizer="adam", loss={"scores": masked_mse, **({"mask": "binary_crossentropy"} if seg else {})})
        y = {"scores": np.random.rand(2, 14).astype("float32")}
        if seg:
            y["mask"] = np.random.rand(2, 16, 16, 1).round().astype("float32")
        sc.fit(x, y, epochs=1, verbose=0)
        out = sc.predict(x, verbose=0)
        assert out["scores"].shape == (2, 7) and ("mask" in out) == seg
        assert (0 <= out["scores"]).all() and (out["scores"] <= 1).all()
        sc.save(tmp_path / f"s{seg}.keras")
        again = keras.saving.load_model(tmp_path / f"s{seg}.keras", compile=False)
        assert np.allclose(again.predict(x, verbose=0)["scores"], out["scores"], atol=1e-5)
    with pytest.raises(ValueError, match="add up"):
        build_scorer(16, 7, 3, base=4, depth=2, groups=(4, 4))


def test_scorer_has_one_head_per_damage_type_and_scores_turned_patches_too():
    import keras

    from submission.models import build_scorer
    from submission.score import predict_patches
    from submission.units import damage_groups, kind_columns

    for kind in KINDS:
        groups = damage_groups(kind)
        cols = kind_columns(kind)
        assert len(groups) == 2 and sum(groups) == len(cols)
        assert all("_E__" in c for c in cols[:groups[0]]) and all("_J__" in c for c in cols[groups[0]:])
    keras.utils.set_random_seed(0)
    model = build_scorer(16, 5, 2, base=4, depth=2, seg=True, groups=(2, 3))
    # zeroing the first head's output layer moves only the first two columns (to sigmoid(0) = 0.5)
    rng = np.random.default_rng(0)
    patches = rng.random((3, 20, 20)).astype("float32")
    before, _ = predict_patches(model, patches, np.array([0, 1, 0]), patch=16, n_landmarks=2, turn=False)
    layer = model.get_layer("reg_out0")
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    after, mask = predict_patches(model, patches, np.array([0, 1, 0]), patch=16, n_landmarks=2, turn=False)
    assert np.allclose(after[:, :2], 0.5) and np.allclose(after[:, 2:], before[:, 2:])
    # with ``turn`` the answer is the mean of the patch's and its 180-degree turn's, masks turned back
    turned = patches[:, ::-1, ::-1]
    other, mask_t = predict_patches(model, turned, np.array([0, 1, 0]), patch=16, n_landmarks=2, turn=False)
    both, mask_b = predict_patches(model, patches, np.array([0, 1, 0]), patch=16, n_landmarks=2)
    assert np.allclose(both, (after + other) / 2, atol=1e-6)
    assert np.allclose(mask_b, (mask + mask_t[:, ::-1, ::-1]) / 2, atol=1e-6)


def test_ordinal_scorer_reads_out_the_expected_log_score_and_learns(tmp_path):
    import keras

    from submission.models import build_scorer, masked_column_bce, ordinal_readout, ordinal_targets
    from submission.score import Scorer
    from submission.settings import Settings
    from submission.profiles import PROFILES
    from submission.units import column_damages, column_max, damage_groups, ordinal_tops

    tops = (5, 4)
    # certain exceedances read out as the score's own unit value; P(score > 0) = 1/2 alone as half its step
    w = ordinal_readout(tops)
    for score in ([0, 0], [1, 4], [5, 2]):
        p = np.zeros(10, np.float32)
        for c, s in enumerate(score):
            p[c * 5:c * 5 + s] = 1
        assert np.allclose(p @ w, np.log2(np.array(score) + 1) / np.log2(np.array(tops) + 1), atol=1e-6)
    assert np.allclose(w.sum(axis=0), 1)
    unit = np.log2(np.array([[3, 4], [0, 1]]) + 1) / np.log2(np.array(tops) + 1)
    y = ordinal_targets(unit, np.array([[1.0, 0.0], [2.0, 1.0]]), tops)
    assert y.shape == (2, 20)
    assert y[0, :10].tolist() == [1, 1, 1, 0, 0, 1, 1, 1, 1, 0] and y[1, :10].tolist() == [0] * 5 + [1, 0, 0, 0, 0]
    # weights: the uncarried column weighs 0, the column of highest score 4 has no fifth threshold
    assert y[0, 10:].tolist() == [1] * 5 + [0] * 5 and y[1, 10:].tolist() == [2] * 5 + [1, 1, 1, 1, 0]
    perfect = np.clip(y[:, :10], 1e-7, 1 - 1e-7)
    assert float(np.max(keras.ops.convert_to_numpy(masked_column_bce(y, perfect)))) < 1e-4
    assert float(np.min(keras.ops.convert_to_numpy(masked_column_bce(y, 1 - perfect)))) > 5

    # a tiny ordinal scorer learns bright patches as damaged, and its read-out survives saving
    kind_tops = column_max("hand")
    n, k = 64, len(kind_tops)
    rng = np.random.default_rng(0)
    damaged = rng.random(n) < 0.5
    patches = rng.normal(0.3, 0.05, (n, 20, 20)).astype(np.float32) + damaged[:, None, None] * 0.5
    scores = np.where(damaged[:, None], np.array(kind_tops)[None, :] // 2, 0)
    samples = {"patches": patches, "masks": np.zeros((n, 20, 20), np.float32), "has_mask": np.zeros(n, bool),
               "landmark": np.zeros(n, int), "targets": to_unit(scores, "hand"), "carried": np.ones((n, k))}
    model = Scorer("hand", None, n_landmarks=1, patch=16, patch_scale=1.0,
                   options=dict(seg=True, steps=200, epochs=4, base=4, depth=2, ordinal=kind_tops)
                   ).fit_samples(samples, progress=False).models[0]
    x = {"patch": patches[:16, 2:18, 2:18, None], "landmark": np.ones((16, 1), np.float32)}
    out = model.predict(x, verbose=0)
    assert out["ordinal"].shape == (16, k * max(kind_tops)) and out["scores"].shape == (16, k)
    assert np.allclose(out["scores"], out["ordinal"] @ ordinal_readout(kind_tops), atol=1e-5)
    model.save(tmp_path / "ordinal.keras")
    again = keras.saving.load_model(tmp_path / "ordinal.keras", compile=False)
    assert np.allclose(again.predict(x, verbose=0)["scores"], out["scores"], atol=1e-5)
    # on batch statistics (200 steps leave the normalisation's running averages unsettled)
    learnt = keras.ops.convert_to_numpy(model(x, training=True)["scores"])
    assert learnt[damaged[:16]].mean() > learnt[~damaged[:16]].mean() + 0.3
    with pytest.raises(ValueError, match="highest scores"):
        build_scorer(16, 7, 3, base=4, depth=2, ordinal=(4, 5))

    # ordinal for narrowing only: erosion keeps its plain sigmoid and MSE, both read out in column order
    tops = ordinal_tops("hand", ("narrowing",))
    assert tops == tuple(t if d == "narrowing" else 0 for t, d in zip(kind_tops, column_damages("hand")))
    assert ordinal_tops("hand", ()) is None and ordinal_tops("foot", DAMAGE_TYPES) == column_max("foot")
    unit = to_unit(scores[:4], "hand")
    y = ordinal_targets(unit, np.ones_like(unit), tops)
    assert y.shape == (4, 2 * sum(t > 0 for t in tops) * max(tops))
    mixed = Scorer("hand", None, n_landmarks=1, patch=16, patch_scale=1.0,
                   options=dict(seg=False, steps=40, epochs=1, base=4, depth=2, groups=damage_groups("hand"),
                                ordinal=tops)).fit_samples(samples, progress=False).models[0]
    out = mixed.predict(x, verbose=0)
    plain = keras.Model(mixed.inputs, mixed.get_layer("plain").output).predict(x, verbose=0)
    n_ord = sum(t > 0 for t in tops)
    assert out["ordinal"].shape == (16, n_ord * max(tops)) and plain.shape == (16, k - n_ord)
    eroded = [c for c, t in enumerate(tops) if t == 0]
    assert np.allclose(out["scores"][:, eroded], plain, atol=1e-6)
    assert np.allclose(out["scores"], np.concatenate([out["ordinal"], plain], 1) @ ordinal_readout(tops), atol=1e-5)
    with pytest.raises(ValueError, match="all ordinal or all plain"):
        build_scorer(16, 4, 3, base=4, depth=2, groups=(2, 2), ordinal=(4, 0, 5, 5))
    with pytest.raises(ValueError, match="damage types are"):
        replace(PROFILES["quick"].hand, ordinal=("narowing",))
    with pytest.raises(ValueError, match="setting 'foot.ordinal' names narowing: the damage types are"):
        Settings.from_dict({"foot": {"ordinal": ["narowing"]}})
    # a manifest's settings read back as they were; hands and feet have their own patch sizes
    assert Settings.from_dict(asdict(PROFILES["full"])) == PROFILES["full"]
    assert Settings.from_dict({"hand": {"ordinal": ["erosion"]}}).hand.ordinal == ("erosion",)
    assert PROFILES["full"].hand.patch == 64 and PROFILES["full"].foot.patch == 48
    with pytest.raises(ValueError, match="setting 'hand.patch' is 'big', expected an integer"):
        Settings.from_dict({"hand": {"patch": "big"}})
    # the flat settings of a bundle trained before the settings were per stage: retrain it
    for flat in ({"scorer_ordinal": True}, {"patch": 40}, {"stack": True, "stack_trees": 5}):
        with pytest.raises(ValueError, match="before the settings were per stage.*retrain it"):
            Settings.from_dict(flat)


def test_stacker_learns_from_the_other_side_and_answers_without_a_limb(monkeypatch):
    from submission import stack
    from submission.stack import Stacker

    grown, forest = [], stack._forest

    def counted(seed, n_trees, depth):                 # records the size of every forest grown
        grown.append(n_trees)
        return forest(seed, n_trees, depth)

    monkeypatch.setattr(stack, "_forest", counted)

    rng = np.random.default_rng(0)
    n = 60
    truth = rng.gamma(0.8, 0.8, size=(n, 1)) * np.ones((1, len(JOINT_COLUMNS)))   # one severity per patient
    x = truth + rng.normal(0, 0.4, truth.shape)                                      # noisy patch predictions
    st = Stacker(n_trees=40, depth=4, inner_trees=10, seed=0, n_jobs=1).fit(x[:40], truth[:40])
    k = len(JOINT_COLUMNS)
    assert grown == [10] * (3 * k) + [40] * k           # 3 inner folds choose the blend, then the final fit
    blend = st.predict(x[40:])
    assert np.mean((blend - truth[40:]) ** 2) < 0.6 * np.mean((x[40:] - truth[40:]) ** 2)
    assert set(st.weights_) == {"erosion", "narrowing"} and 0 < st.weights_["erosion"] <= 1
    holed = x[40:].copy()
    holed[:, :22] = np.nan                                   # a limb's patch predictions missing
    out = st.predict(holed)
    assert np.isfinite(out).all()


def test_stacker_is_a_scikit_learn_estimator():
    """Parameters kept as given (clone, get_params), fitted state with a trailing underscore, a clear
    error before fitting, and a public fill of missing features (the training means)."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    from submission.stack import Stacker

    st = Stacker(n_trees=8, depth=2, inner_trees=50, seed=3, n_jobs=1)
    assert st.get_params() == {"n_trees": 8, "depth": 2, "inner_folds": 3, "inner_trees": 50, "seed": 3,
                               "n_jobs": 1, "summaries": False, "calibrated_totals": False}
    assert clone(st).get_params() == st.get_params()
    x = np.random.default_rng(4).normal(size=(12, len(JOINT_COLUMNS)))
    for use in (st.predict, st.predict_stack, st.fill_missing):
        with pytest.raises(NotFittedError):
            use(x)
    st.fit(x, x)
    assert st.get_params()["inner_trees"] == 50 and len(st.models_) == len(JOINT_COLUMNS)
    holed = x.copy()
    holed[0, :3] = np.nan
    filled = st.fill_missing(holed)
    np.testing.assert_allclose(filled[0, :3], x[:, :3].mean(axis=0))
    np.testing.assert_array_equal(filled[1:], x[1:])


def test_stacker_limb_summaries_carry_a_limbs_shared_damage():
    """Where every joint of a limb shows the same damage through its own noise, the limb's mean
    prediction per damage type lets the trees see through the noise."""
    from challenge.catalogue import BY_COLUMN
    from submission.stack import SUMMARY_GROUPS, Stacker

    limbs = np.array([BY_COLUMN[c].limb for c in JOINT_COLUMNS])
    rng = np.random.default_rng(0)
    severity = {limb: rng.gamma(0.8, 0.8, 120) for limb in ("LH", "RH", "LF", "RF")}
    truth = np.stack([severity[limb] for limb in limbs], axis=1)
    x = truth + rng.normal(0, 0.8, truth.shape)
    fitted = {s: Stacker(n_trees=30, depth=4, inner_trees=10, seed=0, n_jobs=1, summaries=s).fit(x[:80], truth[:80])
              for s in (False, True)}
    err = {s: np.mean((st.predict_stack(x[80:]) - truth[80:]) ** 2) for s, st in fitted.items()}
    assert err[True] < 0.75 * err[False]
    seen = fitted[True].features(x[:3])
    assert seen.shape == (3, len(JOINT_COLUMNS) + 8) and len(SUMMARY_GROUPS) == 8
    np.testing.assert_allclose(seen[:, len(JOINT_COLUMNS):], np.stack([x[:3, g].mean(axis=1) for g in SUMMARY_GROUPS], 1))


def test_a_stored_stacker_is_read_back_whole_from_plain_arrays(tmp_path):
    """The stacker file is an ``.npz`` of plain arrays: read back, the forests predict, total and
    explain (SHAP) exactly as the fitted ones."""
    import shap

    from submission import stack

    rng = np.random.default_rng(1)
    x, y = rng.random((40, len(JOINT_COLUMNS))), rng.random((40, len(JOINT_COLUMNS)))
    x[2, 7] = np.nan
    fitted = stack.Stacker(n_trees=5, inner_trees=5, n_jobs=1, summaries=True, calibrated_totals=True).fit(x, y)
    stack.save(fitted, tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:     # nothing in it needs pickle
        assert all(z[k].dtype != object for k in z.files)
    again = stack.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(again.predict(x), fitted.predict(x))
    assert again.totals_ == fitted.totals_ and again.weights_ == fitted.weights_
    assert again.get_params() == fitted.get_params()
    for col, total in fitted.predict_totals(x).items():
        np.testing.assert_array_equal(again.predict_totals(x)[col], total)
    f = fitted.features(fitted.fill_missing(x[:6]))
    np.testing.assert_array_equal(shap.TreeExplainer(again.models_[3]).shap_values(f),
                                  shap.TreeExplainer(fitted.models_[3]).shap_values(f))


def test_a_stacker_file_that_is_not_ours_or_is_damaged_is_refused_without_running_it(tmp_path):
    """A pickle (which could run code) is never unpickled; a tree pointing outside itself, a missing
    array or another format version is refused with ``ValueError`` naming why."""
    import json

    import joblib

    from submission import stack

    class Boom:                      # unpickling this would run code: it must never be unpickled
        def __reduce__(self):
            return (print, ("pickle ran",))

    joblib.dump({"not": Boom()}, tmp_path / "bad.joblib")
    with pytest.raises(ValueError, match="not a stacker file"):
        stack.load(tmp_path / "bad.joblib")
    np.savez(tmp_path / "obj.npz", meta=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="not a stacker file"):
        stack.load(tmp_path / "obj.npz")

    rng = np.random.default_rng(2)
    x, y = rng.random((30, len(JOINT_COLUMNS))), rng.random((30, len(JOINT_COLUMNS)))
    stack.save(stack.Stacker(n_trees=3, inner_trees=3, n_jobs=1).fit(x, y), tmp_path / "s.npz")
    with np.load(tmp_path / "s.npz", allow_pickle=False) as z:
        good = {k: z[k] for k in z.files}

    def refused(match, **change):
        arrays = {**good, **change}
        np.savez(tmp_path / "x.npz", **{k: v for k, v in arrays.items() if v is not None})
        with pytest.raises(ValueError, match=match):
            stack.load(tmp_path / "x.npz")

    left = good["node_left_child"].copy()
    left[np.flatnonzero(left > 0)[0]] = 10 ** 6                  # a child far outside its tree
    refused("point outside", node_left_child=left)
    left = good["node_left_child"].copy()
    left[np.flatnonzero(left > 0)[0]] = 0                        # a loop back to the root
    refused("point outside", node_left_child=left)
    feature = good["node_feature"].copy()
    feature[np.flatnonzero(good["node_left_child"] > 0)[0]] = len(JOINT_COLUMNS)
    refused("point outside", node_feature=feature)
    refused("lacks value", value=None)
    refused("not all numbers", tree_nodes=good["tree_nodes"].astype(str))
    refused("forests of", forest_trees=good["forest_trees"][:-1])
    refused("do not agree", tree_nodes=good["tree_nodes"] + 1)
    meta = json.loads(str(good["meta"]))
    refused("version 99", meta=np.array(json.dumps({**meta, "version": 99})))
    refused("format name", meta=np.array(json.dumps({**meta, "format": "other"})))
    refused("incomplete", meta=np.array(json.dumps({**meta, "weights": {}})))


def test_stacker_calibrated_totals_undo_the_bias_of_summed_log_predictions():
    """Summed back from log2 space, noisy joint predictions make healthy patients' totals too high;
    the stacker's totals, through lines fitted on its inner folds, have a smaller SC1-form error
    (weighted mean absolute error of log2(total + 1)) on other patients, and stay within range."""
    from challenge.catalogue import TOTAL, TOTAL_EROSION, TOTAL_NARROWING
    from evaluator.official import patient_weights
    from submission.stack import TOTAL_GROUPS, Stacker

    rng = np.random.default_rng(2)
    n = 160
    severity = rng.gamma(0.6, 1.0, n)
    scores = rng.poisson(np.outer(severity, np.full(len(JOINT_COLUMNS), 0.3)))
    truth = np.log2(scores + 1.0)
    x = np.clip(truth + rng.normal(0, 0.35, truth.shape), 0, None)            # noisy patch predictions
    w = patient_weights(scores.sum(axis=1))
    st = Stacker(n_trees=20, depth=3, inner_trees=10, seed=0, n_jobs=1, calibrated_totals=True)
    st.fit(x[:100], truth[:100], sample_weight=w[:100])
    totals = st.predict_totals(x[100:])
    assert set(totals) == {TOTAL, TOTAL_EROSION, TOTAL_NARROWING} and all((t >= 0).all() for t in totals.values())
    gold = np.log2(scores[100:].sum(axis=1) + 1)
    summed = np.log2((2 ** st.predict(x[100:]) - 1).clip(0).sum(axis=1) + 1)
    err = {name: np.sum(w[100:] * np.abs(gold - v)) / np.sum(w[100:])
           for name, v in (("sums", summed), ("calibrated", np.log2(totals[TOTAL] + 1)))}
    assert err["calibrated"] < 0.8 * err["sums"]
    assert len(TOTAL_GROUPS[TOTAL_EROSION]) == 44 and len(TOTAL_GROUPS[TOTAL_NARROWING]) == 42
    plain = Stacker(n_trees=5, depth=2, inner_trees=5, seed=0, n_jobs=1).fit(x[:40], truth[:40])
    assert plain.predict_totals(x[:3]) is None


def test_stacker_fit_over_processes_grows_the_same_forests():
    """The columns' forests are fitted in parallel processes; each keeps its own seed, so the
    result is the sequential fit's, tree for tree."""
    from submission.stack import Stacker

    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, len(JOINT_COLUMNS)))
    y = x + rng.normal(0, 0.3, x.shape)
    w = rng.uniform(1, 4, len(x))
    one = Stacker(n_trees=12, depth=3, inner_trees=6, seed=5, n_jobs=1).fit(x, y, sample_weight=w)
    two = Stacker(n_trees=12, depth=3, inner_trees=6, seed=5, n_jobs=2).fit(x, y, sample_weight=w)
    assert one.weights_ == two.weights_
    np.testing.assert_array_equal(one.predict(x), two.predict(x))


def test_stacker_patient_weights_steer_the_fit():
    """Rows with (almost) no weight barely move the trees: corrupted labels given weight 1e-3 do
    little harm, the same labels at full weight do."""
    from submission.stack import Stacker

    rng = np.random.default_rng(2)
    n = 80
    truth = rng.gamma(0.8, 0.8, size=(n, 1)) * np.ones((1, len(JOINT_COLUMNS)))
    x = truth + rng.normal(0, 0.3, truth.shape)
    y = truth.copy()
    y[:30] = rng.uniform(0, 3, size=(30, len(JOINT_COLUMNS)))            # 30 patients with wrong labels
    w = np.where(np.arange(n) < 30, 1e-3, 1.0)
    err = {}
    for name, weight in (("weighted", w), ("plain", None)):
        st = Stacker(n_trees=30, depth=4, seed=0).fit(x[:60], y[:60],
                                                      sample_weight=None if weight is None else weight[:60])
        err[name] = np.mean((st.predict_stack(x[60:]) - truth[60:]) ** 2)
    assert err["weighted"] < 0.5 * err["plain"]
