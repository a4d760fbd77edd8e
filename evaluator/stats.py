"""The paper's statistics beside the official metrics.

* ``agreement``: Pearson r and RMSE on the raw score scale per damage type × limb
  kind (all patient × joint cells of that group) and per joint column — used both
  for a method against gold and for a second human reader against gold (the
  "clinical upper limit").
* ``paired_wilcoxon``: one-sided paired Wilcoxon signed-rank test, is A better
  (lower error) than B, with the median difference.
* ``bootstrap_ranking``: the organisers' ranking: seeded bootstrap resamples,
  Bayes factor against the best team, ties at K ≤ 3.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from challenge.catalogue import DAMAGE_TYPES, JOINT_COLUMNS, KINDS, SCORE_COLUMNS, TOTAL, select

from .official import ABS, METRICS, RANKED, align, patient_weights

GROUPS = tuple((damage, kind) for damage in DAMAGE_TYPES for kind in KINDS)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r, or None when either side is constant (r is undefined)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(x, float) - np.asarray(y, float)) ** 2)))


def agreement(pred: pd.DataFrame, gold: pd.DataFrame) -> dict:
    """Pearson r and RMSE (raw scale, negatives clipped to 0) per damage type × limb kind,
    per image-level total of that group, and per joint column."""
    p, g = align(pred, gold)
    p = np.maximum(p, 0.0)
    col = {c: i for i, c in enumerate(SCORE_COLUMNS)}
    groups = {}
    for damage, kind in GROUPS:
        idx = [col[c] for c in select(damage=damage, kind=kind)]
        groups[f"{damage}_{kind}"] = {
            "r": pearson(p[:, idx], g[:, idx]), "rmse": rmse(p[:, idx], g[:, idx]),
            "r_patient_total": pearson(p[:, idx].sum(1), g[:, idx].sum(1)),
            "rmse_patient_total": rmse(p[:, idx].sum(1), g[:, idx].sum(1)),
        }
    columns = {c: {"r": pearson(p[:, col[c]], g[:, col[c]]), "rmse": rmse(p[:, col[c]], g[:, col[c]])}
               for c in JOINT_COLUMNS}
    return {"groups": groups, "columns": columns}


@dataclass(frozen=True)
class PairedTest:
    n: int                   # pairs used (non-zero differences count for the test)
    median_difference: float  # median of A − B (negative: A has lower error)
    statistic: float | None
    p_value: float | None    # one-sided: H1 = A's errors are lower than B's

    def as_dict(self) -> dict:
        return {"n": self.n, "median_difference": self.median_difference,
                "statistic": self.statistic, "p_value": self.p_value}


def paired_wilcoxon(errors_a, errors_b) -> PairedTest:
    """One-sided paired Wilcoxon signed-rank test that A's errors are lower than B's."""
    a, b = np.asarray(errors_a, float), np.asarray(errors_b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired test needs equal lengths, got {a.size} and {b.size}")
    d = a - b
    median = float(np.median(d)) if d.size else float("nan")
    if d.size == 0 or np.all(d == 0):
        return PairedTest(int(d.size), median, None, None)
    res = stats.wilcoxon(a, b, alternative="less")
    return PairedTest(int(d.size), median, float(res.statistic), float(res.pvalue))


# ---------------------------------------------------------------- bootstrap ranking


def _bootstrap_sc1(preds: np.ndarray, gold: np.ndarray, weights: np.ndarray, key: str,
                   rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """SC1-type metric of each team on patient resamples: (n_boot, teams)."""
    c = SCORE_COLUMNS.index(METRICS[key].columns[0])
    err = np.abs(np.log2(gold[:, c] + 1)[None, :] - np.log2(preds[:, :, c] + 1))   # teams × patients
    n = gold.shape[0]
    out = np.empty((n_boot, preds.shape[0]))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        w = weights[idx]
        out[b] = (err[:, idx] @ w) / w.sum() if w.sum() > 0 else np.nan
    return out


def _bootstrap_rmse(preds: np.ndarray, gold: np.ndarray, weights: np.ndarray, key: str,
                    rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """SC2/SC3 of each team on resamples of patient × joint rows: (n_boot, teams).

    Each resample draws (patient, joint) rows with replacement; a patient's RMSE is
    taken over its drawn rows, and patients with no drawn row drop out of the mean.
    """
    idx_cols = [SCORE_COLUMNS.index(c) for c in METRICS[key].columns]
    sq = (np.log2(gold[:, idx_cols] + 1)[None] - np.log2(preds[:, :, idx_cols] + 1)) ** 2  # teams × patients × joints
    teams, n, j = sq.shape
    sq = sq.reshape(teams, n * j)
    patient_of_row = np.repeat(np.arange(n), j)
    out = np.empty((n_boot, teams))
    for b in range(n_boot):
        rows = rng.integers(0, n * j, n * j)
        pat = patient_of_row[rows]
        counts = np.bincount(pat, minlength=n)
        present = counts > 0
        sums = np.stack([np.bincount(pat, weights=sq[t, rows], minlength=n) for t in range(teams)])
        rm = np.sqrt(sums[:, present] / counts[present])
        w = weights[present]
        out[b] = (rm @ w) / w.sum() if w.sum() > 0 else np.nan
    return out


def bootstrap_ranking(preds: dict[str, pd.DataFrame], gold: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0,
                      tie_k: float = 3.0) -> dict:
    """Rank teams on SC1/SC2/SC3 with paired bootstrap resamples and Bayes factors against the best.

    For each metric the best team is the one with the lowest score on the full test
    set; for every other team K = #(resamples where the best is better or equal) /
    #(resamples where the best is worse); K ≤ ``tie_k`` counts as tied with the best.
    Returns {"names", "metrics": {key: {"scores", "K", "tied", "rank", "samples"}}}.
    """
    from .official import score_arrays  # local: keep the module graph flat

    names = list(preds)
    arrays = [align(preds[n], gold) for n in names]
    g = arrays[0][1]
    p = np.maximum(np.stack([a[0] for a in arrays]), 0.0)
    w = patient_weights(g[:, SCORE_COLUMNS.index(TOTAL)])
    full = [score_arrays(p[t], g) for t in range(len(names))]
    out = {"names": names, "n_boot": n_boot, "seed": seed, "tie_k": tie_k, "metrics": {}}
    rng = np.random.default_rng(seed)
    for key in RANKED:
        scores = np.array([np.nan if f[key] is None else f[key] for f in full])
        if np.all(np.isnan(scores)):
            out["metrics"][key] = {"scores": [None] * len(names), "K": [None] * len(names),
                                   "tied": [False] * len(names), "rank": [None] * len(names), "samples": None}
            continue
        sampler = _bootstrap_sc1 if METRICS[key].kind == ABS else _bootstrap_rmse
        samples = sampler(p, g, w, key, rng, n_boot)
        best = int(np.nanargmin(scores))
        ks, tied = [], []
        for t in range(len(names)):
            if t == best:
                ks.append(None)
                tied.append(True)
                continue
            if np.isnan(scores[t]):
                ks.append(None)
                tied.append(False)
                continue
            better = int(np.sum(samples[:, best] <= samples[:, t]))
            worse = int(np.sum(samples[:, best] > samples[:, t]))
            k = float("inf") if worse == 0 else better / worse
            ks.append(k)
            tied.append(k <= tie_k)
        order = np.argsort(np.where(np.isnan(scores), np.inf, scores), kind="stable")
        rank = [None] * len(names)
        for r, t in enumerate(order, start=1):
            rank[t] = None if np.isnan(scores[t]) else (1 if tied[t] else r)
        out["metrics"][key] = {"scores": [None if np.isnan(s) else float(s) for s in scores], "K": ks,
                               "tied": tied, "rank": rank, "samples": samples}
    return out
