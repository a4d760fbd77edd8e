"""The symmetry stacker: per joint column, ExtraTrees over all 86 patch predictions (and each
limb's mean prediction per damage type); the three totals calibrated from the blend's sums.

Features and targets live in the metric's space, log2(score + 1).  The stacker
is fitted on out-of-fold patch predictions (the scorer's real test-time error);
the final value is ``w · stack + (1 − w) · patch`` with one ``w`` per damage
type, chosen on cross-validated stacker predictions over the same out-of-fold
features by the leaderboard's own error: the per-patient RMSE over the damage
type's columns, averaged with the patients' weights.  The inner folds that choose
``w`` grow fewer trees (``inner_trees``, 100 by default) than the final forests:
they only rank eleven blend weights (docs/measurements.md: 100 trees choose the
weights 500 do).  The
same patient weights (the official weight of each patient's total score, see
``data.metric_weights``) weigh the trees' fit, so that the stacker spends its
splits where the metric looks: on the few heavily damaged patients.  A missing patch prediction (an
unreadable image) is filled with the training mean of that feature, so the
trees answer from the other limbs; the blend then uses the stacker alone for it.
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.model_selection import KFold
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from challenge.catalogue import (BY_COLUMN, DAMAGE_TYPES, EROSION, JOINT_COLUMNS, NARROWING, TOTAL, TOTAL_EROSION,
                                 TOTAL_NARROWING, select)
from evaluator.official import weighted_mean

WEIGHTS = np.round(np.linspace(0, 1, 11), 2)


def _positions(columns) -> np.ndarray:
    """Where ``columns`` sit in ``JOINT_COLUMNS`` (the order of the stacker's arrays)."""
    return np.array(sorted(JOINT_COLUMNS.index(c) for c in columns))


#: (limb, damage type) of each summary feature (``Stacker.summaries``) and the positions of its joint columns
SUMMARY_KEYS = list(dict.fromkeys((BY_COLUMN[c].limb, BY_COLUMN[c].damage) for c in JOINT_COLUMNS))
SUMMARY_GROUPS = [_positions(select(damage=damage, limb=limb)) for limb, damage in SUMMARY_KEYS]
#: each total column and the positions of the joint columns it adds up (``Stacker.calibrated_totals``)
TOTAL_GROUPS = {TOTAL_EROSION: _positions(select(damage=EROSION)), TOTAL_NARROWING: _positions(select(damage=NARROWING)),
                TOTAL: np.arange(len(JOINT_COLUMNS))}


def _forest(seed: int, n_trees: int, depth: int) -> ExtraTreesRegressor:
    return ExtraTreesRegressor(n_estimators=n_trees, max_depth=depth, random_state=seed, n_jobs=1)


def _fit_forest(seed: int, n_trees: int, depth: int, x: np.ndarray, y: np.ndarray, w: np.ndarray):
    return _forest(seed, n_trees, depth).fit(x, y, sample_weight=w)


def _log_total(log_scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """log2(total + 1) of the joint columns ``idx`` of log2(score + 1) rows."""
    return np.log2(np.maximum(2 ** log_scores[:, idx] - 1, 0).sum(axis=1) + 1)


def _median_line(s: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(a, b) of the line t ≈ a·s + b with the least weighted absolute error: SC1's own form of error."""
    from sklearn.linear_model import QuantileRegressor

    if np.ptp(s) == 0:                       # nothing to fit a slope to: the weighted median offset
        return 1.0, float(_weighted_median(t - s, w))
    fit = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(s[:, None], t, sample_weight=w)
    return float(fit.coef_[0]), float(fit.intercept_)


def _weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2)])


def _weighted_rmse(diff: np.ndarray, w: np.ndarray) -> float:
    """The leaderboard's form of error: per-row RMSE, averaged with weights ``w``."""
    return weighted_mean(np.sqrt(np.mean(diff ** 2, axis=1)), w)


class Stacker(RegressorMixin, BaseEstimator):
    """``fit(X, Y)`` / ``predict(X)`` on (patients × 86) log2-space arrays in ``JOINT_COLUMNS`` order.

    A scikit-learn estimator: the parameters are kept as given (``get_params``, ``clone``); what
    ``fit`` learns ends in an underscore: ``models_`` (one forest per column), ``fill_`` (the
    training mean of each feature, for missing ones, see ``fill_missing``) and ``weights_`` (the
    blend weight per damage type).  Using it before ``fit`` raises sklearn's ``NotFittedError``.
    With ``summaries`` the trees also see each limb's mean prediction per damage type (``features``).
    With ``calibrated_totals``, ``fit`` also learns ``totals_``: for each of the three totals a line
    from log2(sum of the blend's joints + 1) to log2(total + 1), fitted on the inner folds'
    predictions by least weighted absolute error (SC1's own form of error), because the sum of
    per-joint log-space predictions is biased (``predict_totals``; docs/measurements.md).
    """

    def __init__(self, *, n_trees: int = 500, depth: int = 4, inner_folds: int = 3, inner_trees: int = 100,
                 seed: int = 0, n_jobs: int = -1, summaries: bool = False, calibrated_totals: bool = False):
        self.n_trees = n_trees
        self.depth = depth
        self.inner_folds = inner_folds
        self.inner_trees = inner_trees
        self.seed = seed
        self.n_jobs = n_jobs
        self.summaries = summaries
        self.calibrated_totals = calibrated_totals

    def _fit_models(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, n_trees: int) -> list[ExtraTreesRegressor]:
        # one forest per column, the columns spread over processes: a tree on 80 patients is
        # so small that fitting it is mostly Python overhead, which threads cannot share
        # (docs/measurements.md)
        return Parallel(n_jobs=self.n_jobs)(delayed(_fit_forest)(self.seed + k, n_trees, self.depth, x, y[:, k], w)
                                            for k in range(y.shape[1]))

    @staticmethod
    def _predict_models(models, x: np.ndarray) -> np.ndarray:
        return np.stack([m.predict(x) for m in models], axis=1)

    def features(self, filled: np.ndarray) -> np.ndarray:
        """What the trees see: the filled patch predictions and, with ``summaries``, each limb's mean
        prediction per damage type (eight columns: the patient's damage in a limb, from all its
        joints at once, which a tree of depth 4 cannot add up from 86 noisy columns;
        docs/measurements.md)."""
        if not self.summaries:
            return filled
        means = [filled[:, idx].mean(axis=1) for idx in SUMMARY_GROUPS]
        return np.column_stack([filled] + means)

    def feature_names(self) -> list[str]:
        """The names of ``features``' columns: the joint columns, then ``LH_erosion_mean`` and so on."""
        return list(JOINT_COLUMNS) + ([f"{limb}_{damage}_mean" for limb, damage in SUMMARY_KEYS]
                                      if self.summaries else [])

    def fit(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> "Stacker":
        """Fit the trees and choose the blend weight per damage type (and with ``calibrated_totals`` the
        totals' lines) by inner K-fold; ``sample_weight``: one weight per patient (default all 1)."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, float)
        seen = np.isfinite(x)
        # a column no patient has (a limb kind without networks) is filled with 0: the trees ignore it
        self.fill_ = np.where(seen.any(axis=0), np.nansum(x, axis=0) / np.maximum(seen.sum(axis=0), 1), 0.0)
        x = self.fill_missing(x)
        f = self.features(x)
        inner = np.zeros_like(y)
        folds = KFold(min(self.inner_folds, len(x)), shuffle=True, random_state=self.seed)
        for train, val in folds.split(x):
            models = self._fit_models(f[train], y[train], w[train], min(self.inner_trees, self.n_trees))
            inner[val] = self._predict_models(models, f[val])
        weights = {}
        for damage in DAMAGE_TYPES:
            cols = [k for k, c in enumerate(JOINT_COLUMNS) if BY_COLUMN[c].damage == damage]
            # as ``predict`` blends: the stacker alone where the patch prediction is missing
            err = [_weighted_rmse(np.where(seen[:, cols], b * inner[:, cols] + (1 - b) * x[:, cols], inner[:, cols])
                                  - y[:, cols], w) for b in WEIGHTS]
            weights[damage] = float(WEIGHTS[int(np.argmin(err))])
        self.weights_ = weights
        if self.calibrated_totals:
            blend = np.where(seen, self._blend(inner, x), inner)
            self.totals_ = {col: _median_line(_log_total(blend, idx), _log_total(y, idx), w)
                            for col, idx in TOTAL_GROUPS.items()}
        self.models_ = self._fit_models(f, y, w, self.n_trees)
        return self

    def _blend(self, stack: np.ndarray, patch: np.ndarray) -> np.ndarray:
        w = np.array([self.weights_[BY_COLUMN[c].damage] for c in JOINT_COLUMNS])[None, :]
        return w * stack + (1 - w) * patch

    def predict_totals(self, x: np.ndarray, blend: np.ndarray | None = None) -> dict[str, np.ndarray] | None:
        """``Overall_erosion``, ``Overall_narrowing`` and ``Overall_Tol`` (scores, not log2) from the
        blend's sums (``blend``: ``predict(x)`` when already at hand), each through the line fitted in
        ``fit``; None for a stacker without them."""
        check_is_fitted(self)
        if not getattr(self, "totals_", None):
            return None
        blend = self.predict(x) if blend is None else np.asarray(blend, float)
        return {col: np.maximum(2 ** (a * _log_total(blend, TOTAL_GROUPS[col]) + b) - 1, 0.0)
                for col, (a, b) in self.totals_.items()}

    def fill_missing(self, x: np.ndarray) -> np.ndarray:
        """The features with every missing (non-finite) value replaced by that feature's training mean:
        what the trees see."""
        check_is_fitted(self, "fill_")
        x = np.asarray(x, float)
        return np.where(np.isfinite(x), x, self.fill_[None, :])

    def predict_stack(self, x: np.ndarray) -> np.ndarray:
        """The trees' predictions alone."""
        check_is_fitted(self)
        return self._predict_models(self.models_, self.features(self.fill_missing(x)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The blend; where a patch prediction is missing, the stacker alone."""
        x = np.asarray(x, float)
        stack = self.predict_stack(x)
        return np.where(np.isfinite(x), self._blend(stack, np.nan_to_num(x)), stack)


# ------------------------------------------------------------------ storage
#: the stacker file's format name and version (``save``); another version is refused: retrain the bundle
STORE_FORMAT, STORE_VERSION = "ra2-stacker", 1
#: a tree's node fields as stored (``sklearn.tree._tree.NODE_DTYPE``'s, each a plain array over all trees)
NODE_FIELDS = ("left_child", "right_child", "feature", "threshold", "impurity", "n_node_samples",
               "weighted_n_node_samples", "missing_go_to_left")
_PARAMS = ("n_trees", "depth", "inner_folds", "inner_trees", "seed", "n_jobs", "summaries", "calibrated_totals")


def save(stacker: Stacker, path) -> None:
    """Store a fitted stacker as plain arrays in one ``.npz`` (no pickle: loading it runs no code).

    The file holds the parameters, blend weights and total lines as JSON text; ``fill`` (the features'
    training means); and every tree of every forest, concatenated: the node fields of scikit-learn's
    trees (``NODE_FIELDS``), the leaf values, and per tree its node count and depth, per forest its
    tree count.  joblib (a pickle) was what bundles used before; skops (JSON and arrays, types a loader
    allows) was measured and not kept for its time (docs/measurements.md)."""
    check_is_fitted(stacker)
    trees = [e.tree_ for forest in stacker.models_ for e in forest.estimators_]
    states = [t.__getstate__() for t in trees]
    nodes = np.concatenate([s["nodes"] for s in states])
    meta = {"format": STORE_FORMAT, "version": STORE_VERSION,
            "params": {k: getattr(stacker, k) for k in _PARAMS},
            "weights": stacker.weights_, "totals": getattr(stacker, "totals_", None),
            "n_features": int(stacker.models_[0].n_features_in_)}
    arrays = {f"node_{name}": np.ascontiguousarray(nodes[name]) for name in NODE_FIELDS}
    with open(path, "wb") as fh:
        np.savez(fh, meta=np.array(json.dumps(meta)), fill=np.asarray(stacker.fill_, float),
                 value=np.concatenate([s["values"][:, 0, 0] for s in states]),
                 tree_nodes=np.array([s["node_count"] for s in states], np.int64),
                 tree_depth=np.array([s["max_depth"] for s in states], np.int64),
                 forest_trees=np.array([len(f.estimators_) for f in stacker.models_], np.int64), **arrays)


def load(path) -> Stacker:
    """A stacker stored by ``save``, rebuilt as scikit-learn forests (what ``predict`` and SHAP use);
    ``ValueError`` naming what is wrong if the file is anything else.  Only plain arrays are read
    (``allow_pickle=False``), and every tree is checked before scikit-learn walks it: children
    inside the tree and after their parent, features inside the feature count, depths within the
    stacker's."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a stacker file ({exc})") from exc
    need = {"meta", "fill", "value", "tree_nodes", "tree_depth", "forest_trees"} | {f"node_{n}" for n in NODE_FIELDS}
    if not need <= data.keys():
        raise ValueError(f"not a stacker file (it lacks {', '.join(sorted(need - data.keys()))})")
    try:
        meta = json.loads(str(data["meta"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"its description is not JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
        raise ValueError("not a stacker file (format name missing)")
    if meta.get("version") != STORE_VERSION:
        raise ValueError(f"stacker format version {meta.get('version')} is not the {STORE_VERSION} this code reads")
    try:
        stacker = Stacker(**{k: meta["params"][k] for k in _PARAMS})
        stacker.weights_ = {d: float(meta["weights"][d]) for d in DAMAGE_TYPES}
        if meta["totals"] is not None:
            stacker.totals_ = {c: (float(a), float(b)) for c, (a, b) in meta["totals"].items()}
        stacker.fill_ = np.asarray(data["fill"], float)
        n_features = int(meta["n_features"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"its description is incomplete ({exc!r})") from exc
    want = len(stacker.feature_names())
    forests = data["forest_trees"]
    if forests.shape != (len(JOINT_COLUMNS),) or n_features != want or stacker.fill_.shape != (len(JOINT_COLUMNS),):
        raise ValueError(f"{forests.size} forests of {n_features} features, not {len(JOINT_COLUMNS)} of {want}")
    stacker.models_ = _forests(data, n_features, stacker.depth)
    return stacker


def _forests(data: dict, n_features: int, depth: int) -> list[ExtraTreesRegressor]:
    """The forests of a stored stacker, every tree checked (``load``)."""
    from sklearn.tree import DecisionTreeRegressor
    from sklearn.tree._tree import NODE_DTYPE, Tree

    counts, depths, per_forest = data["tree_nodes"], data["tree_depth"], data["forest_trees"]
    flat = [data[f"node_{n}"] for n in NODE_FIELDS] + [data["value"]]
    if any(a.dtype.kind not in "iu" for a in (counts, depths, per_forest)) or any(a.dtype.kind not in "biuf" for a in flat):
        raise ValueError("its tree arrays are not all numbers")
    total = int(counts.sum()) if counts.ndim == 1 and counts.size else 0
    if (counts.ndim != 1 or depths.shape != counts.shape or per_forest.ndim != 1 or (counts < 1).any()
            or int(per_forest.sum()) != len(counts) or (per_forest < 1).any()
            or any(a.shape != (total,) for a in flat)):
        raise ValueError("its tree arrays do not agree in length")
    nodes = np.zeros(total, dtype=NODE_DTYPE)
    for name in NODE_FIELDS:
        nodes[name] = data[f"node_{name}"]
    start = np.repeat(np.cumsum(counts) - counts, counts)          # each node's tree's first node
    local = np.arange(total) - start
    size = np.repeat(counts, counts)
    left, right, feature = nodes["left_child"], nodes["right_child"], nodes["feature"]
    leaf = left == -1
    inner_ok = (left > local) & (left < size) & (right > local) & (right < size) & (feature >= 0) & (feature < n_features)
    if not np.all(np.where(leaf, right == -1, inner_ok)) or not np.all(np.isfinite(data["value"])):
        raise ValueError("a tree's nodes point outside it (damaged or not a stacker)")
    if (depths < 0).any() or (depth is not None and (depths > depth).any()):
        raise ValueError(f"a tree deeper than the stacker's depth {depth}")
    value = np.asarray(data["value"], float)
    first = np.cumsum(counts) - counts
    one = np.ones(1, np.intp)
    trees = []
    for k, (a, n) in enumerate(zip(first.tolist(), counts.tolist())):
        tree = Tree(n_features, one, 1)
        tree.__setstate__({"max_depth": int(depths[k]), "node_count": n, "nodes": nodes[a:a + n],
                           "values": value[a:a + n].reshape(n, 1, 1)})
        est = DecisionTreeRegressor(max_depth=depth)
        est.tree_, est.n_outputs_, est.n_features_in_, est.max_features_ = tree, 1, n_features, n_features
        trees.append(est)
    forests, k = [], 0
    for n_trees in per_forest.tolist():
        forest = _forest(0, n_trees, depth)
        forest.estimators_, forest.estimator_ = trees[k:k + n_trees], DecisionTreeRegressor(max_depth=depth)
        forest.n_outputs_, forest.n_features_in_ = 1, n_features
        forests.append(forest)
        k += n_trees
    return forests
