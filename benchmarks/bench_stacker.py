"""The symmetry stacker's choices, measured on a trained bundle without retraining any network.

    .venv/bin/python benchmarks/bench_stacker.py --bundle DIR --cohort DIR [--folds 5] [--repeats 1]
        [--variants "as trained" "limb summaries" ...] [--out bench_stacker.json]

The bundle's out-of-fold patch predictions of its training patients (``stacker_features.csv``, what
its stacker was fitted on) and their gold scores (COHORT/train/training.csv) are all a stacker
needs.  Each variant of ``submission.stack.Stacker`` is scored two ways:

- cross-validated on the training patients: fitted on ``--folds`` − 1 folds of them, predicting the
  held-out fold, the official metrics over all of them (about four times as many patients as a
  test split; the same folds for every variant); with ``--repeats`` N, N such cross-validations,
  each with other folds and another seed of the trees, and their medians;
- on the test split (COHORT/test, gold in COHORT/gold/test.csv): fitted on all training patients,
  applied to the bundle's patch predictions of the test images (predicted once without the stacker
  and kept in ``--out``'s folder).

Beside them, the patch predictions alone ("no stacker"), their totals the sums of the joints.
Results also go to ``--out`` (JSON).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

#: what each variant changes in the bundle's stacker (``Stacker`` parameters)
VARIANTS = {
    "as trained": {},
    "limb summaries": {"summaries": True},
    "no limb summaries": {"summaries": False},
    "depth 6": {"depth": 6},
    "calibrated totals": {"calibrated_totals": True},
    "totals as sums": {"calibrated_totals": False},
    "limb summaries, calibrated totals": {"summaries": True, "calibrated_totals": True},
}
KEYS = ("sc1", "sc2", "sc3", "sc2_hand", "sc3_hand", "sc2_foot", "sc3_foot", "sc2_total", "sc3_total")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="a trained bundle folder (with a stacker)")
    ap.add_argument("--cohort", required=True, help="the phantom cohort it was trained on (train/, test/, gold/)")
    ap.add_argument("--folds", type=int, default=5, help="cross-validation folds over the training patients")
    ap.add_argument("--repeats", type=int, default=1, help="cross-validations, each with other folds and tree seeds")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--out", default="bench_stacker.json", help="where the results go (JSON)")
    args = ap.parse_args(argv)
    if args.folds < 2:
        ap.error("--folds: at least 2")
    if args.repeats < 1:
        ap.error("--repeats: at least 1")

    import pandas as pd
    from sklearn.model_selection import KFold

    from challenge.catalogue import ID, JOINT_COLUMNS
    from challenge.errors import UsageError
    from challenge.tables import read_scores, with_totals
    from evaluator.official import score_frames
    from submission.bundle import Bundle
    from submission.data import metric_weights
    from submission.predict import predict_folder
    from submission.stack import Stacker
    from submission.units import log_scores, to_scores

    cohort, bundle_dir = Path(args.cohort), Path(args.bundle)
    try:
        bundle = Bundle.load(bundle_dir)
    except UsageError as exc:
        raise SystemExit(str(exc)) from None
    features = bundle_dir / Bundle.FEATURES
    if not features.is_file():
        raise SystemExit(f"{features}: no out-of-fold features (a bundle trained with --no-stack has none)")
    x_train = pd.read_csv(features, index_col=ID)[list(JOINT_COLUMNS)]
    gold_train = read_scores(cohort / "train" / "training.csv", gold=True).loc[x_train.index]
    y_train, w_train = log_scores(gold_train), metric_weights(gold_train)
    gold_test = read_scores(cohort / "gold" / "test.csv", gold=True)

    work = Path(args.out).with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    patch_csv = work / "patch_predictions.csv"
    if not patch_csv.is_file():
        predict_folder(bundle_dir, cohort / "test", cohort / "test" / "template.csv", patch_csv, stack=False,
                       progress=False)
    x_test = log_scores(read_scores(patch_csv)).loc[gold_test.index]

    def official(log_pred: pd.DataFrame, gold: pd.DataFrame, totals: pd.DataFrame | None = None) -> dict:
        pred = to_scores(log_pred)
        if totals is not None:                       # the stacker's own totals instead of the sums
            pred[list(totals.columns)] = totals
        scores = score_frames(pred, with_totals(gold))
        return {k: scores[k] for k in KEYS}

    def totals_of(st, x: pd.DataFrame) -> pd.DataFrame | None:
        t = st.predict_totals(x.to_numpy())
        return None if t is None else pd.DataFrame(t, index=x.index)

    trained = bundle.load_stacker()
    base = dict(n_trees=trained.n_trees, depth=trained.depth, summaries=trained.summaries,
                calibrated_totals=trained.calibrated_totals)
    splits = [list(KFold(args.folds, shuffle=True, random_state=r).split(x_train)) for r in range(args.repeats)]
    rows = {"no stacker": {"cv": official(x_train, gold_train), "cv_runs": [], "test": official(x_test, gold_test)}}
    for name in args.variants:
        runs = []
        for r, folds in enumerate(splits):
            params = {**base, "seed": r, **VARIANTS[name]}
            held = pd.DataFrame(np.nan, index=x_train.index, columns=x_train.columns)
            held_totals = []
            for train, val in folds:
                st = Stacker(**params).fit(x_train.iloc[train].to_numpy(), y_train.iloc[train].to_numpy(),
                                           sample_weight=w_train.iloc[train].to_numpy())
                held.iloc[val] = st.predict(x_train.iloc[val].to_numpy())
                held_totals.append(totals_of(st, x_train.iloc[val]))
            totals = None if held_totals[0] is None else pd.concat(held_totals).loc[x_train.index]
            runs.append(official(held, gold_train, totals))
        st = Stacker(**{**base, "seed": 0, **VARIANTS[name]}).fit(x_train.to_numpy(), y_train.to_numpy(),
                                                                   sample_weight=w_train.to_numpy())
        test = pd.DataFrame(st.predict(x_test.to_numpy()), index=x_test.index, columns=x_test.columns)
        rows[name] = {"cv": {k: float(np.median([run[k] for run in runs])) for k in KEYS}, "cv_runs": runs,
                      "test": official(test, gold_test, totals_of(st, x_test)), "blend_weights": st.weights_,
                      "total_lines": getattr(st, "totals_", None)}
        print(f"{name}: SC1 / SC2 / SC3 per cross-validation "
              + ", ".join(f"{run['sc1']:.4f} / {run['sc2']:.4f} / {run['sc3']:.4f}" for run in runs), flush=True)

    print(f"\n{len(x_train)} training patients ({args.folds}-fold cross-validation, median of {args.repeats}) / "
          f"{len(x_test)} test patients")
    print(f"{'variant':34s} " + " ".join(f"{k:>9s}" for k in KEYS))
    for part in ("cv", "test"):
        print(f"-- {part}")
        for name, row in rows.items():
            print(f"{name:34s} " + " ".join(f"{row[part][k]:9.4f}" if row[part][k] is not None else "      n/a"
                                           for k in KEYS))
    Path(args.out).write_text(json.dumps({"bundle": str(bundle_dir), "cohort": str(cohort), "folds": args.folds,
                                          "repeats": args.repeats,
                                          "variants": rows}, indent=1) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
