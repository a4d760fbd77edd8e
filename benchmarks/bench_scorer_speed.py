"""What the hand scorers cost at prediction for a patch size or another setting: the out-of-fold
ensemble of a profile (``oof_folds`` scorers of its shape, averaged in one model as ``Method`` loads
them) on one hand image's patches, median milliseconds over ``--calls``.  The networks are
untrained: only the arithmetic counts, so no bundle or cohort is needed.

    .venv/bin/python benchmarks/bench_scorer_speed.py [--profile full] [--patch 48 64] [--calls 30]
    .venv/bin/python benchmarks/bench_scorer_speed.py --set hand.depth=4 --set hand.base=10
    .venv/bin/python benchmarks/bench_scorer_speed.py --patch 64 --xla

Each ``--patch`` side and each ``--set PATH=VALUE`` (a setting's dotted path) is one variant of the
profile (with ``--set`` and no ``--patch``, the profile as it is comes first); ``--xla`` also times
each variant compiled with XLA (``jit_compile``, which Keras leaves off on a machine without a GPU).

Timings are only comparable within one run: start it when the host is otherwise idle.
"""
from __future__ import annotations

import argparse
import time
import numpy as np


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=list(PROFILES), default="full")
    ap.add_argument("--patch", type=int, nargs="+", help="hand patch sides in pixels (default 48 64 without --set)")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="a variant of the profile with this setting changed, by its dotted path, e.g. "
                         "hand.depth=4 (repeatable)")
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--xla", action="store_true", help="also time each variant compiled with XLA")
    args = ap.parse_args(argv)
    from bench_scorer import changed

    if args.calls < 1:
        ap.error("--calls: at least 1")
    profile = PROFILES[args.profile]
    patches = args.patch or ([] if args.set else [48, 64])
    variants = [(f"hand patches {px} px", profile.with_values({"hand.patch": px})) for px in patches]
    if args.set and not args.patch:
        variants.append((f"hand patches {profile.hand.patch} px", profile))
    for text in args.set:
        variants.append((f"hand patches {profile.hand.patch} px, {text}", changed(profile, [text])))
    for _, settings in variants:
        step = 2 ** settings.hand.depth                   # the encoder halves the patch this often
        if settings.hand.patch < step or settings.hand.patch % step:
            ap.error(f"hand patches of {settings.hand.patch} px must be a positive multiple of {step} for a "
                     f"scorer of depth {settings.hand.depth}")

    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from submission.geometry import CONTEXT
    from submission.score import Scorer
    from submission.units import kind_columns

    scheme, n_out = load_scheme(DEFAULT_SCHEME), len(kind_columns("hand"))

    runs = [(label, settings, xla) for label, settings in variants for xla in ((False, True) if args.xla else (False,))]
    for label, settings, xla in runs:
        px = settings.hand.patch
        scorer = Scorer.from_settings("hand", scheme, settings.hand, seg=settings.seg)
        scorer.models = [scorer.network(n_out) for _ in range(settings.oof_folds)]
        scorer.ensemble.jit_compile = xla
        label = f"{label}, XLA" if xla else label
        side = int(round(px * CONTEXT))
        n = scorer.n_landmarks
        patches = np.random.default_rng(0).random((n, side, side), dtype=np.float32)
        times = []
        for i in range(args.calls + 3):                  # the first calls trace the graph
            t = time.perf_counter()
            scorer.predict(patches, np.arange(n))
            if i >= 3:
                times.append(time.perf_counter() - t)
        print(f"{args.profile}, {label}: {settings.oof_folds} scorers on one hand image's "
              f"{n} patches, median {1000 * np.median(times):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
