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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from challenge.catalogue import (EROSION, JOINT_COLUMNS, NARROWING, SCORE_COLUMNS, TOTAL, TOTAL_EROSION,
                                 TOTAL_NARROWING, select)

#: (lowest, highest, weight) for integer gold Overall_Tol; above the last bin: 64; non-integers: 0
WEIGHT_BINS = ((0, 0, 1.0), (1, 1, 2.0), (2, 3, 2.143547), (4, 7, 3.863745), (8, 20, 8.0),
               (21, 55, 16.0), (56, 148, 32.0))
WEIGHT_ABOVE = 64.0

ABS, RMSE = "abs", "rmse"


@dataclass(frozen=True)
class Metric:
    """One official metric, defined here once: the scorer, the ranking, the reports and the plots are
    built from ``OFFICIAL``.

    ``key``: its name in JSON and CSV files; ``kind``: ``ABS`` (the SC1 formula on one total column)
    or ``RMSE`` (each patient's RMSE over ``columns``, weighted over patients); ``label``: its line in
    reports; ``heading``: its column heading in the leaderboard and its plot's title; ``ranked``: the
    bootstrap leaderboard ranks teams on it."""

    key: str
    kind: str
    columns: tuple[str, ...]
    label: str
    heading: str
    ranked: bool = False

    def errors(self, diff: np.ndarray) -> np.ndarray:
        """Per-patient errors from the log2 differences of every ``SCORE_COLUMNS`` cell (``_log_diff``)."""
        if self.kind == ABS:
            return np.abs(diff[:, SCORE_COLUMNS.index(self.columns[0])])
        idx = [SCORE_COLUMNS.index(c) for c in self.columns]
        return np.sqrt(np.mean(diff[:, idx] ** 2, axis=1))


OFFICIAL = (
    Metric("sc1", ABS, (TOTAL,), "SC1 overall (Overall_Tol)", "SC1 overall", ranked=True),
    Metric("sc2", RMSE, select(damage=NARROWING), "SC2 narrowing", "SC2 narrowing", ranked=True),
    Metric("sc2_hand", RMSE, select(damage=NARROWING, kind="hand"), "SC2 narrowing, hands", "SC2 hands"),
    Metric("sc2_foot", RMSE, select(damage=NARROWING, kind="foot"), "SC2 narrowing, feet", "SC2 feet"),
    Metric("sc2_total", ABS, (TOTAL_NARROWING,), "SC2 Overall_narrowing", "SC2 total"),
    Metric("sc3", RMSE, select(damage=EROSION), "SC3 erosion", "SC3 erosion", ranked=True),
    Metric("sc3_hand", RMSE, select(damage=EROSION, kind="hand"), "SC3 erosion, hands", "SC3 hands"),
    Metric("sc3_foot", RMSE, select(damage=EROSION, kind="foot"), "SC3 erosion, feet", "SC3 feet"),
    Metric("sc3_total", ABS, (TOTAL_EROSION,), "SC3 Overall_erosion", "SC3 total"),
)
METRICS = {m.key: m for m in OFFICIAL}
OFFICIAL_KEYS = tuple(METRICS)
#: the metrics the bootstrap leaderboard ranks on
RANKED = tuple(m.key for m in OFFICIAL if m.ranked)


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


def patient_errors(pred: np.ndarray, gold: np.ndarray, key: str) -> np.ndarray:
    """Per-patient error of one official metric (before weighting); negative predictions count as 0."""
    return METRICS[key].errors(_log_diff(pred, gold))


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
    for m in OFFICIAL:
        out[m.key] = None if m.kind == RMSE and zero else weighted_mean(m.errors(diff), w)
    return out


def score_frames(pred: pd.DataFrame, gold: pd.DataFrame) -> dict[str, float | None]:
    """The nine official numbers for predictions and gold indexed by Patient_ID (columns by name)."""
    return score_arrays(*align(pred, gold))


def per_patient(pred: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """Per-patient errors of every official metric and the patient weights (index Patient_ID)."""
    p, g = align(pred, gold)
    diff = _log_diff(p, g)
    out = pd.DataFrame({m.key: m.errors(diff) for m in OFFICIAL}, index=gold.index)
    out.insert(0, "weight", patient_weights(g[:, SCORE_COLUMNS.index(TOTAL)]))
    return out
