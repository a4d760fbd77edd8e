"""The official RA2 leaderboard metrics, as the organisers' scorer computed them.

Published meaning throughout: SC1 = overall damage (Overall_Tol), SC2 =
joint space narrowing (``_J__`` columns), SC3 = erosion (``_E__`` columns).

* Every patient gets one weight from the gold Overall_Tol (``patient_weights``).
* Negative predictions are set to 0; all errors are taken in log2(x + 1) space.
* SC1 = Σ w·|log2(g+1) − log2(p+1)| / Σ w on Overall_Tol.
* SC2 / SC3 = Σ w·RMSE_i / Σ w, RMSE_i over patient i's narrowing / erosion columns;
  ``_hand`` / ``_foot`` restrict the RMSE to LH/RH or LF/RF columns; ``_total`` is the
  SC1 formula on Overall_narrowing / Overall_erosion.
* Undefined (None): SC2/SC3 and their hand/foot parts when every joint prediction in
  the file is 0; any metric whose weights sum to 0.

Everything is vectorised over patients (numpy), so 100,000 patients take well under a second.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from challenge.catalogue import (EROSION, JOINT_COLUMNS, NARROWING, SCORE_COLUMNS, TOTAL, TOTAL_EROSION,
                                 TOTAL_NARROWING, select)

#: (lowest, highest, weight) for integer gold Overall_Tol; above the last bin: 64; non-integers: 0
WEIGHT_BINS = ((0, 0, 1.0), (1, 1, 2.0), (2, 3, 2.143547), (4, 7, 3.863745), (8, 20, 8.0),
               (21, 55, 16.0), (56, 148, 32.0))
WEIGHT_ABOVE = 64.0

OFFICIAL_KEYS = ("sc1", "sc2", "sc2_hand", "sc2_foot", "sc2_total", "sc3", "sc3_hand", "sc3_foot", "sc3_total")
#: key -> (kind, columns): 'abs' = SC1 formula on one column, 'rmse' = weighted per-patient RMSE over columns
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sc1": ("abs", (TOTAL,)),
    "sc2": ("rmse", select(damage=NARROWING)),
    "sc2_hand": ("rmse", select(damage=NARROWING, kind="hand")),
    "sc2_foot": ("rmse", select(damage=NARROWING, kind="foot")),
    "sc2_total": ("abs", (TOTAL_NARROWING,)),
    "sc3": ("rmse", select(damage=EROSION)),
    "sc3_hand": ("rmse", select(damage=EROSION, kind="hand")),
    "sc3_foot": ("rmse", select(damage=EROSION, kind="foot")),
    "sc3_total": ("abs", (TOTAL_EROSION,)),
}
LABELS = {
    "sc1": "SC1 overall (Overall_Tol)", "sc2": "SC2 narrowing", "sc2_hand": "SC2 narrowing, hands",
    "sc2_foot": "SC2 narrowing, feet", "sc2_total": "SC2 Overall_narrowing", "sc3": "SC3 erosion",
    "sc3_hand": "SC3 erosion, hands", "sc3_foot": "SC3 erosion, feet", "sc3_total": "SC3 Overall_erosion",
}


def patient_weights(gold_total) -> np.ndarray:
    """The official weight of each patient from its gold Overall_Tol."""
    g = np.asarray(gold_total, dtype=float)
    w = np.zeros(g.shape)
    integer = np.isfinite(g) & (g == np.floor(g))
    for lo, hi, weight in WEIGHT_BINS:
        w[integer & (g >= lo) & (g <= hi)] = weight
    w[integer & (g > WEIGHT_BINS[-1][1])] = WEIGHT_ABOVE
    return w


def align(pred: pd.DataFrame, gold: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and gold as float arrays (patients of gold × the 89 score columns), matched by name."""
    missing = gold.index.difference(pred.index)
    if len(missing):
        raise ValueError(f"no prediction for gold patient(s) {list(missing[:5])}: the score is undefined")
    cols = list(SCORE_COLUMNS)
    return (pred.loc[gold.index, cols].to_numpy(dtype=float), gold[cols].to_numpy(dtype=float))


def _log_diff(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """log2(gold + 1) − log2(pred + 1) for every cell, predictions clipped at 0 first."""
    return np.log2(gold + 1.0) - np.log2(np.maximum(pred, 0.0) + 1.0)


def _errors_from_diff(diff: np.ndarray, key: str) -> np.ndarray:
    kind, cols = METRICS[key]
    if kind == "abs":
        return np.abs(diff[:, SCORE_COLUMNS.index(cols[0])])
    idx = [SCORE_COLUMNS.index(c) for c in cols]
    return np.sqrt(np.mean(diff[:, idx] ** 2, axis=1))


def patient_errors(pred: np.ndarray, gold: np.ndarray, key: str) -> np.ndarray:
    """Per-patient error of one official metric (before weighting); negative predictions count as 0."""
    return _errors_from_diff(_log_diff(pred, gold), key)


def weighted_mean(errors: np.ndarray, weights: np.ndarray) -> float | None:
    total = weights.sum()
    if not total > 0:
        return None
    return float(np.dot(weights, errors) / total)


def all_joints_zero(pred: np.ndarray) -> bool:
    """True when every joint prediction (after clipping) is 0: SC2/SC3 are then undefined."""
    return not np.any(pred[:, len(SCORE_COLUMNS) - len(JOINT_COLUMNS):])   # the joints close SCORE_COLUMNS


def score_arrays(pred: np.ndarray, gold: np.ndarray) -> dict[str, float | None]:
    """The nine official numbers from aligned arrays (columns in ``SCORE_COLUMNS`` order)."""
    pred = np.maximum(pred, 0.0)
    w = patient_weights(gold[:, SCORE_COLUMNS.index(TOTAL)])
    zero = all_joints_zero(pred)
    diff = _log_diff(pred, gold)
    out = {}
    for key in OFFICIAL_KEYS:
        kind, _ = METRICS[key]
        out[key] = None if kind == "rmse" and zero else weighted_mean(_errors_from_diff(diff, key), w)
    return out


def score_frames(pred: pd.DataFrame, gold: pd.DataFrame) -> dict[str, float | None]:
    """The nine official numbers for predictions and gold indexed by Patient_ID (columns by name)."""
    return score_arrays(*align(pred, gold))


def per_patient(pred: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """Per-patient errors of every official metric and the patient weights (index Patient_ID)."""
    p, g = align(pred, gold)
    diff = _log_diff(p, g)
    out = pd.DataFrame({key: _errors_from_diff(diff, key) for key in OFFICIAL_KEYS}, index=gold.index)
    out.insert(0, "weight", patient_weights(g[:, SCORE_COLUMNS.index(TOTAL)]))
    return out
