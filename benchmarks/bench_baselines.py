"""SC1/SC2/SC3 of every baseline and of the second reader on a phantom cohort.

    .venv/bin/python benchmarks/bench_baselines.py [--train 100] [--test 50] [--seed 0] [--out DIR]
                                                   [--preset realistic|easy]

Prints one row per predictor; lower is better.  The second reader is the upper limit a method
can hope to reach on these labels.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from baselines.predictors import BASELINES, predict_baseline
from challenge.tables import read_scores
from evaluator.official import score_frames
from phantoms.cohort import PRESETS, make_cohort


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=100)
    ap.add_argument("--test", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="cohort folder (default: a temporary one)")
    ap.add_argument("--preset", choices=PRESETS, default="realistic", help="phantom preset (default realistic)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or Path(tmp) / "cohort")
        t0 = time.perf_counter()
        make_cohort(root, args.train, args.test, args.seed, preset=args.preset)
        print(f"{args.preset} cohort {args.train}/{args.test} seed {args.seed}: {time.perf_counter() - t0:.1f} s")
        gold = read_scores(root / "gold" / "test.csv", gold=True)
        rows = [("reader2", read_scores(root / "gold" / "reader2.csv"), 0.0)]
        for name in BASELINES:
            t0 = time.perf_counter()
            pred = predict_baseline(name, root / "train", root / "test", seed=args.seed)
            rows.append((name, pred, time.perf_counter() - t0))
        print(f"{'predictor':14s} {'SC1':>7s} {'SC2':>7s} {'SC3':>7s} {'time s':>7s}")
        for name, pred, took in rows:
            s = score_frames(pred, gold)
            cells = [f"{s[k]:7.4f}" if s[k] is not None else f"{'undef':>7s}" for k in ("sc1", "sc2", "sc3")]
            print(f"{name:14s} {' '.join(cells)} {took:7.1f}")


if __name__ == "__main__":
    main()
