"""How long storing and loading a fitted stacker takes: plain arrays in one ``.npz`` (what a bundle
uses, ``submission.stack.save``), joblib (a pickle, what bundles used before) and, where it is
installed, skops (which builds only the types a loader allows, and was not kept for its time).

    .venv/bin/python benchmarks/bench_stacker_store.py --trees 20

The stacker has 86 forests (one per joint column) of ``--trees`` trees, depth 4, fitted on random
features of ``--patients`` rows; the time per tree scales to a profile's forests (``full``: 500).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", type=int, default=20)
    ap.add_argument("--patients", type=int, default=300)
    args = ap.parse_args(argv)
    import joblib

    from challenge.catalogue import JOINT_COLUMNS
    from submission import stack
    from submission.stack import Stacker

    rng = np.random.default_rng(0)
    x, y = rng.random((args.patients, len(JOINT_COLUMNS))), rng.random((args.patients, len(JOINT_COLUMNS)))
    st = Stacker(n_trees=args.trees, inner_trees=max(1, args.trees // 4), depth=4, summaries=True,
                 calibrated_totals=True).fit(x, y)
    n = sum(len(m.estimators_) for m in st.models_)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s"
        rows = [("npz", timed(lambda: stack.save(st, path)), timed(lambda: stack.load(path))),
                ("joblib", timed(lambda: joblib.dump(st, path)), timed(lambda: joblib.load(path)))]
        try:
            import skops.io as sio
        except ImportError:
            print("skops is not installed: not timed")
        else:
            rows.append(("skops", timed(lambda: sio.dump(st, path)),
                         timed(lambda: sio.load(path, trusted=sio.get_untrusted_types(file=path)))))
    print(f"{n} trees (86 forests x {args.trees})")
    for name, save, load in rows:
        print(f"  {name:<7} store {save:6.2f} s, load {load:6.2f} s: {1000 * save / n:.2f} + {1000 * load / n:.2f} ms "
              f"a tree; for 86 x 500 trees about {save / n * 43000:.0f} + {load / n * 43000:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
