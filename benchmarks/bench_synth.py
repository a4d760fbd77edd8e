"""Phantom generation speed: patients per second at the default image size.

    .venv/bin/python benchmarks/bench_synth.py [--patients 30] [--repeats 3] [--size-scale 1.0]
                                               [--preset realistic|easy] [--workers N]

Each repeat writes a fresh cohort (all four images, masks, landmarks and tables per patient) into
a temporary folder; the median over repeats is printed.  The project asks for at least 3 patients/s
on 2 cores with the realistic preset at its real sizes (long side median ~1,500 px).
"""
from __future__ import annotations

import argparse
import os
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
    ap.add_argument("--preset", default="realistic", choices=("realistic", "easy"))
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: make_cohort's choice)")
    args = ap.parse_args(argv)
    n_test = max(1, args.patients // 4)
    n_train = args.patients - n_test
    rates, cpu_rates = [], []
    for rep in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), os.times()
            info = make_cohort(Path(tmp) / "c", n_train, n_test, seed=rep, size_scale=args.size_scale,
                               preset=args.preset, workers=args.workers)
            took = time.perf_counter() - t0
            c1 = os.times()
            cpu = (c1.user - c0.user) + (c1.system - c0.system) + (c1.children_user - c0.children_user) \
                + (c1.children_system - c0.children_system)
        sizes = sorted(r["long_side"] for r in info["images"].values())
        rates.append(args.patients / took)
        cpu_rates.append(args.patients / cpu)
        print(f"repeat {rep}: {args.patients} patients in {took:.2f} s = {rates[-1]:.1f} patients/s; "
              f"{cpu:.1f} CPU-s = {cpu_rates[-1]:.2f} patients per CPU-second "
              f"(image long side median {sizes[len(sizes) // 2]} px, max {sizes[-1]} px)")
    print(f"median: {statistics.median(rates):.1f} patients/s wall; {statistics.median(cpu_rates):.2f} patients "
          f"per CPU-second, i.e. {2 * statistics.median(cpu_rates):.1f} patients/s on 2 free cores "
          f"(load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
