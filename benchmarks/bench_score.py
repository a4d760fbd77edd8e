"""Time `ra2 score` on a large file: reading + validating + the nine official metrics.

Usage: python benchmarks/bench_score.py [--patients 100000] [--repeats 3]
Prints the median wall time of each phase and of the whole scoring.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from challenge import catalogue as cat
from challenge.tables import with_totals, write_scores
from evaluator.files import score_files


def make_files(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    ids = [f"B{i:06d}" for i in range(n)]
    sev = rng.gamma(0.6, 1.0, n)
    gold = pd.DataFrame(0.0, index=ids, columns=list(cat.SCORE_COLUMNS))
    for j in cat.JOINTS:
        gold[j.column] = np.minimum(rng.poisson(sev), j.max_score)
    gold = with_totals(gold)
    pred = gold + rng.normal(0, 0.8, gold.shape)
    pred = pred.sample(frac=1, random_state=seed)[list(rng.permutation(pred.columns))]
    write_scores(gold, folder / "gold.csv", decimals=None)
    write_scores(pred, folder / "pred.csv", recompute_totals=False)
    return folder / "pred.csv", folder / "gold.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pred, gold = make_files(Path(tmp), args.patients)
        print(f"{args.patients} patients, predictions {pred.stat().st_size / 1e6:.1f} MB")
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = score_files(pred, gold)
            times.append(time.perf_counter() - t0)
        print(f"score (read + validate both files + official + paper metrics): median {statistics.median(times):.2f} s "
              f"over {args.repeats} runs (min {min(times):.2f}, max {max(times):.2f})")
        print("sc1 %.4f  sc2 %.4f  sc3 %.4f" % tuple(result["official"][k] for k in ("sc1", "sc2", "sc3")))
    helps = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ra2", "score", "--help"], check=True, capture_output=True)
        helps.append(time.perf_counter() - t0)
    print(f"ra2 score --help: median {statistics.median(helps):.2f} s over {args.repeats} runs")


if __name__ == "__main__":
    main()
