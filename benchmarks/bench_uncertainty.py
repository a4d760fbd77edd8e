"""Does the method's own uncertainty point at its mistakes?  ``ra2 predict --uncertainty-out`` on a phantom cohort.

Draws (or reuses) a phantom cohort under ``--out``, trains (or reuses) a bundle on its training
split with ``--folds`` out-of-fold scorers per limb kind (``--profile``, every network ``--steps``
steps), predicts the test split with ``--uncertainty-out`` and asks, for every test cell
(patient × joint column of an analysed image):

* the **largest errors**: the ``--share`` (10 %) of cells with the largest absolute error of the
  prediction against the gold score (score units; ties broken at random, seeded);
* how many of them lie in the ``--share`` most uncertain cells by ``scorer_sd`` (the spread of the
  K scorers' answers), against a random ordering (its mean and 95 % range over 2,000 shuffles: the
  mean is the share itself) and against ordering by the predicted score alone (a large prediction
  has room for a large error: the spread should beat that to be worth a colour);
* the same per damage type, the Spearman correlation of spread and error, and for landmarks the
  share of the ``--share`` farthest predicted points (normalised distance to the gold point) among
  the ``--share`` widest heatmaps (``heatmap_width``).

It also times the prediction without and with ``--uncertainty-out`` and checks that the two
predictions files are the same bytes.  Prints a table and writes ``--out/uncertainty.json``.  A
cohort or bundle already in ``--out`` (same arguments) is reused, so a second run only predicts.

    nice -n 15 .venv/bin/python benchmarks/bench_uncertainty.py --out /tmp/ra2_uncertainty
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd


def top_share(values: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of the ``share`` of ``values`` that are largest (at least one; ties broken at random)."""
    n = max(1, int(round(share * len(values))))
    jitter = rng.random(len(values))
    order = np.lexsort((jitter, -np.asarray(values, float)))      # largest first, ties in random order
    mask = np.zeros(len(values), bool)
    mask[order[:n]] = True
    return mask


def found(errors: np.ndarray, ranking: np.ndarray, share: float, rng: np.random.Generator) -> float:
    """The share of the largest errors that the ``share`` top of ``ranking`` holds."""
    worst, flagged = top_share(errors, share, rng), top_share(ranking, share, rng)
    return float((worst & flagged).sum() / worst.sum())


def compare(errors, spread, predicted, share: float, seed: int, shuffles: int = 2000) -> dict:
    """The spread's share of the largest errors, random ordering's (mean, 2.5 and 97.5 %), the
    predicted score's, the best possible (1.0) and the Spearman correlation of spread and error."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    errors, spread = np.asarray(errors, float), np.asarray(spread, float)
    rand = np.array([found(errors, rng.random(len(errors)), share, rng) for _ in range(shuffles)])
    out = {"cells": int(len(errors)), "largest_errors": int(top_share(errors, share, rng).sum()),
           "spread": found(errors, spread, share, rng),
           "random_mean": float(rand.mean()), "random_2.5%": float(np.percentile(rand, 2.5)),
           "random_97.5%": float(np.percentile(rand, 97.5)),
           "spearman": float(spearmanr(spread, errors).statistic)}
    if predicted is not None:
        out["predicted_score"] = found(errors, np.asarray(predicted, float), share, rng)
    return out


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="working folder (cohort, bundle, predictions, results)")
    ap.add_argument("--train", type=int, default=30, help="training patients (default 30)")
    ap.add_argument("--test", type=int, default=20, help="test patients (default 20)")
    ap.add_argument("--size-scale", type=float, default=0.5, help="phantom image size factor (default 0.5)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", default="quick", choices=list(PROFILES), help="the bundle's profile (default quick)")
    ap.add_argument("--steps", type=int, default=150, help="optimiser steps of every network (default 150)")
    ap.add_argument("--folds", type=int, default=4, help="out-of-fold scorers per limb kind (default 4)")
    ap.add_argument("--share", type=float, default=0.10, help="the share of cells called largest / most uncertain")
    args = ap.parse_args(argv)

    from challenge import catalogue as cat
    from challenge.landmarks import read_landmarks
    from challenge.tables import read_scores
    from phantoms.cohort import make_cohort
    from submission.predict import predict_folder
    from submission.train import train_bundle

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.train}_{args.test}_{args.size_scale}_{args.seed}"
    cohort = out / f"cohort_{tag}"
    if not (cohort / "cohort.json").is_file():
        make_cohort(cohort, args.train, args.test, seed=args.seed, size_scale=args.size_scale)
    bundle = out / f"bundle_{tag}_{args.profile}_{args.steps}_{args.folds}"
    seconds = {}
    if not (bundle / "bundle.json").is_file():
        t = time.time()
        settings = replace(PROFILES[args.profile], oof_folds=args.folds)
        settings = settings if args.steps is None else settings.with_steps(args.steps)
        train_bundle(cohort / "train", bundle, settings=settings, seed=args.seed, progress=False)
        seconds["train"] = round(time.time() - t, 1)
    test, gold_dir = cohort / "test", cohort / "gold"
    t = time.time()
    predict_folder(bundle, test, test / "template.csv", out / "plain.csv", progress=False)
    seconds["predict"] = round(time.time() - t, 1)
    t = time.time()
    predict_folder(bundle, test, test / "template.csv", out / "pred.csv", landmarks_out=out / "landmarks.csv",
                   uncertainty_out=out / "uncertainty.csv", progress=False)
    seconds["predict_with_uncertainty"] = round(time.time() - t, 1)
    same = (out / "plain.csv").read_bytes() == (out / "pred.csv").read_bytes()

    pred, gold = read_scores(out / "pred.csv"), read_scores(gold_dir / "test.csv")
    unc = pd.read_csv(out / "uncertainty.csv", dtype={"Patient_ID": str})
    cells = unc[unc["measure"] == "scorer_sd"].copy()
    cells["pred"] = [pred.loc[p, c] for p, c in zip(cells["Patient_ID"], cells["name"])]
    cells["gold"] = [gold.loc[p, c] for p, c in zip(cells["Patient_ID"], cells["name"])]
    cells["error"] = (cells["pred"] - cells["gold"]).abs()
    cells["damage"] = [cat.BY_COLUMN[c].damage for c in cells["name"]]
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "seconds": seconds, "same_predictions": same,
              "all": compare(cells["error"], cells["value"], cells["pred"], args.share, args.seed)}
    for damage, part in cells.groupby("damage"):
        result[damage] = compare(part["error"], part["value"], part["pred"], args.share, args.seed)

    widths = unc[unc["measure"] == "heatmap_width"].set_index(["image", "name"])["value"]
    lm_pred = read_landmarks(out / "landmarks.csv").set_index(["image", "landmark"])
    lm_gold = read_landmarks(gold_dir / "landmarks.csv").set_index(["image", "landmark"])
    both = widths.index.intersection(lm_gold.index).intersection(lm_pred.index)
    if len(both):
        d = np.hypot(lm_pred.loc[both, "x"].to_numpy() - lm_gold.loc[both, "x"].to_numpy(),
                     lm_pred.loc[both, "y"].to_numpy() - lm_gold.loc[both, "y"].to_numpy())
        side = np.maximum(lm_pred.loc[both, "width"].to_numpy(float), lm_pred.loc[both, "height"].to_numpy(float))
        result["landmarks"] = compare(d / side, widths.loc[both].to_numpy(), None, args.share, args.seed)
    (out / "uncertainty.json").write_text(json.dumps(result, indent=2))

    pct = lambda v: f"{100 * v:5.1f} %"  # noqa: E731
    print(f"cohort {args.train} training / {args.test} test phantoms (size x{args.size_scale}, seed {args.seed}); "
          f"bundle {args.profile}, {args.steps} steps, {args.folds} scorers per kind; seconds {seconds}; "
          f"predictions {'the same bytes' if same else 'DIFFERENT'} with --uncertainty-out")
    print(f"share of the {pct(args.share).strip()} largest errors found in the {pct(args.share).strip()} cells "
          "ranked first by:")
    print(f"{'cells':<12}{'n':>6}{'spread':>10}{'random (95 % range)':>28}{'pred. score':>13}{'Spearman':>10}")
    for name in ("all", "erosion", "narrowing", "landmarks"):
        r = result.get(name)
        if r is None:
            continue
        rand = f"{pct(r['random_mean'])} ({pct(r['random_2.5%']).strip()}-{pct(r['random_97.5%']).strip()})"
        ps = pct(r["predicted_score"]) if "predicted_score" in r else "-"
        print(f"{name:<12}{r['cells']:>6}{pct(r['spread']):>10}{rand:>28}{ps:>13}{r['spearman']:>10.2f}")
    print(f"(landmarks: ranked by heatmap width, the errors being the normalised distance to the gold point)\n"
          f"written {out / 'uncertainty.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
