"""Phantom generation speed: patients per second at the default image size.

    .venv/bin/python benchmarks/bench_synth.py [--patients 30] [--repeats 3] [--size-scale 1.0]

Each repeat writes a fresh cohort (all four images, masks, landmarks and tables per patient) into
a temporary folder; the median over repeats is printed.  The project asks for at least 5 patients/s.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from phantoms.cohort import make_cohort


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size-scale", type=float, default=1.0)
    args = ap.parse_args(argv)
    n_test = max(1, args.patients // 4)
    n_train = args.patients - n_test
    rates = []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            info = make_cohort(Path(tmp) / "c", n_train, n_test, seed=rep, size_scale=args.size_scale)
            took = time.perf_counter() - t0
        sizes = sorted(r["long_side"] for r in info["images"].values())
        rates.append(args.patients / took)
        print(f"repeat {rep}: {args.patients} patients in {took:.2f} s = {rates[-1]:.1f} patients/s "
              f"(image long side median {sizes[len(sizes) // 2]} px, max {sizes[-1]} px)")
    print(f"median: {statistics.median(rates):.1f} patients/s")


if __name__ == "__main__":
    main()
