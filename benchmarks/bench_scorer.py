"""The seg-regressor alone, on one held-out fold, over several seeds: is a scorer change real?

Trains the scorers of the chosen limb kinds on K−1 folds of a training cohort's
patients (true landmarks, no localizer, no stacker) and scores the held-out
fold's patches.  Prints, per seed and as the median over seeds, the plain RMSE
per limb kind and damage type in log2(x + 1) space and the leaderboard's
patient-weighted SC2/SC3 restricted to hands or feet.  The seed-to-seed spread
of one scorer is large (hand-erosion RMSE 0.29–0.36 over three seeds of the same
settings), so compare settings by their medians over a few seeds, and by the
seed-paired differences.

    .venv/bin/python benchmarks/bench_scorer.py --kinds hand --seeds 1 2 3
    .venv/bin/python benchmarks/bench_scorer.py --kinds hand --seeds 1 2 3 --set hand.patch_scale=1.0
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

from challenge.catalogue import KIND_LIMBS, KINDS

TAGS = {"narrowing": "_J__", "erosion": "_E__"}


def parse_setting(settings, text: str) -> tuple[str, object]:
    """``PATH=VALUE`` (``--set``, a setting's dotted path: ``hand.depth=4``) as (path, value of the
    setting's type); a comma list for a tuple."""
    path, _, value = text.partition("=")
    try:
        current = settings.get(path)
    except ValueError:
        raise SystemExit(f"--set {text!r}: expected PATH=VALUE with PATH one of "
                         f"{', '.join(settings.paths())}") from None
    if not value and not isinstance(current, tuple):
        raise SystemExit(f"--set {text!r}: no value")
    try:
        if isinstance(current, tuple):
            return path, tuple(v for v in value.split(",") if v)
        if isinstance(current, bool):
            return path, value.lower() in ("1", "true", "yes")
        return path, (int(value) if isinstance(current, int) else float(value) if isinstance(current, float)
                      else value)
    except ValueError:
        raise SystemExit(f"--set {text!r}: {value!r} is not a value of {path} (like {current!r})") from None


def changed(settings, texts, fixed=None):
    """``settings`` with the ``--set`` texts (and ``fixed``, dotted path -> value) applied; a value a
    setting refuses ends the script with one line."""
    try:
        return settings.with_values({**(fixed or {}), **dict(parse_setting(settings, t) for t in texts)})
    except ValueError as exc:
        raise SystemExit(f"--set: {exc}") from None


def fold_figures(pred, truth, scores, kinds, scheme=None) -> dict:
    """Plain RMSE per kind and damage type (and, with a ``scheme`` whose kind has several joint
    groups, per group too: ``rmse_hand_erosion_wrist``), and the official hand/foot SC2/SC3, on one fold."""
    from challenge.tables import with_totals
    from evaluator.official import score_frames
    from submission.units import to_scores

    out = {}
    for kind in kinds:
        for damage, tag in TAGS.items():
            cols = [c for c in pred.columns if c[:2] in KIND_LIMBS[kind] and tag in c and pred[c].notna().all()]
            if cols:
                err = (pred[cols] - truth[cols]).to_numpy()
                out[f"rmse_{kind}_{damage}"] = float(np.sqrt(np.mean(err ** 2)))
                group = [scheme.group_of(kind, scheme.landmark_of(c)) for c in cols] if scheme else []
                for g in sorted(set(group)) if len(set(group)) > 1 else ():
                    out[f"rmse_{kind}_{damage}_{g}"] = float(np.sqrt(np.mean(err[:, np.array(group) == g] ** 2)))
    official = score_frames(to_scores(pred.fillna(0)), with_totals(scores.loc[pred.index]))
    for kind in kinds:
        for key in ("sc2", "sc3"):
            if official.get(f"{key}_{kind}") is not None:
                out[f"{key}_{kind}"] = float(official[f"{key}_{kind}"])
    return out


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", help="a phantom cohort to use as it is (default: /tmp/ra2_bench/cohort, made "
                                      "with 80/40 patients, seed 7, unless this code drew the one there)")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--folds", type=int, default=3, help="the held-out fold is the first of this many")
    ap.add_argument("--preset", choices=("realistic", "easy"), default="realistic",
                    help="phantom preset of a cohort made here (default realistic)")
    ap.add_argument("--profile", choices=list(PROFILES), default="small",
                    help="the settings the --set options change (default small)")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="override one setting by its dotted path (repeatable), e.g. hand.steps=2000 or "
                         "foot.depth=4")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)

    from phantoms.cohort import cohort_differs, make_cohort
    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from submission.data import load_training
    from submission.train import fit_scorers, kind_stages, patch_predictions
    from submission.units import log_scores

    settings = changed(PROFILES[args.profile], args.set, {"refiner.steps": 0})
    cohort = Path(args.cohort or "/tmp/ra2_bench/cohort")
    if args.cohort:
        if not (cohort / "train" / "training.csv").is_file():
            raise SystemExit(f"--cohort {cohort}: no train/training.csv there")
    elif why := cohort_differs(cohort, 80, 40, 7, preset=args.preset):
        print(f"making the cohort in {cohort}: {why}")
        make_cohort(cohort, 80, 40, 7, preset=args.preset)
    scheme = load_scheme(DEFAULT_SCHEME)
    stages = {kind: kind_stages(kind, scheme, settings) for kind in KINDS}
    data, scores, _ = load_training(cohort / "train", scheme, stages, progress=False)
    data = {k: v for k, v in data.items() if k in args.kinds}
    patients = np.array(sorted(scores.index))
    train, held = next(KFold(args.folds, shuffle=True, random_state=0).split(patients))
    truth = log_scores(scores.loc[patients[held]])

    runs = []
    for seed in args.seeds:
        t = time.time()
        scorers = fit_scorers(data, scheme, scores, settings, patients=set(patients[train]), seed=seed,
                              progress=False)
        fit = time.time() - t
        pred = patch_predictions(scorers, data, scheme, scores, patients[held])
        figures = {"seed": seed, "fit_seconds": fit, **fold_figures(pred, truth, scores, args.kinds, scheme)}
        runs.append(figures)
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()),
              flush=True)
    keys = [k for k in runs[0] if k != "seed"]
    median = {k: float(np.median([r[k] for r in runs])) for k in keys}
    print("median over seeds " + " ".join(f"{k}={v:.4f}" for k, v in median.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": vars(args), "runs": runs, "median": median}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
