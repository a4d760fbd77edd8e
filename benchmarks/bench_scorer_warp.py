"""The scorer augmentation's warp of one batch: the whole context patch warped and then cropped (as
before), against only the kept crop warped (``geometry.warp(window=)``, the same pixels).

    .venv/bin/python benchmarks/bench_scorer_warp.py --patch 64 --batch 32
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patch", type=int, default=64, help="the side the scorer sees (full: 64 for hands)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    from submission.geometry import CONTEXT, warp
    from submission.score import patch_affine

    rng = np.random.default_rng(0)
    p = args.patch
    c = int(round(p * CONTEXT))
    patches = rng.random((args.batch, c, c)).astype(np.float32)

    def whole():
        for im in patches:
            a = patch_affine(rng, c)
            ox, oy = rng.integers(0, c - p + 1, 2)
            warp(im, a, mode="mirror")[oy:oy + p, ox:ox + p]
            warp(im, a, mode="mirror")[oy:oy + p, ox:ox + p]          # and its mask

    def window():
        for im in patches:
            a = patch_affine(rng, c)
            ox, oy = rng.integers(0, c - p + 1, 2)
            warp(im, a, mode="mirror", window=(ox, oy, p))
            warp(im, a, mode="mirror", window=(ox, oy, p))

    times = {f.__name__: [] for f in (whole, window)}
    for _ in range(args.repeats):
        for f in (whole, window):
            t = time.perf_counter()
            f()
            times[f.__name__].append(time.perf_counter() - t)
    for name, ts in times.items():
        print(f"  {name:<7} {1000 * np.median(ts):6.1f} ms a batch of {args.batch} ({c}-px context, {p}-px crop)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
