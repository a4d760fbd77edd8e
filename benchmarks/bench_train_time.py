"""How long a profile takes to train on a cohort of a given size, from measured parts.

Every network trains for a fixed number of optimiser steps whatever the number
of patients, so the training time of a profile is its step counts times the
time of one step, plus the parts that do grow with the cohort: reading the
images, the out-of-fold patch predictions and the stacker.  This script
measures each part on this host and prints them with their sum:

* reading the training folder (``data.load_training``) of a phantom cohort of
  ``--patients`` patients (made with ``ra2 synth`` if the folder is empty);
* the median time of one optimiser step of each network (localizer, refiner,
  hand and foot scorer) on batches from the training's own data streams, split into making
  the batch (sampling, augmentation) and the network's forward and backward pass;
* one stacker fit on (patients x 86) features with the profile's trees.

    .venv/bin/python benchmarks/bench_train_time.py --profile full --patients 300
    .venv/bin/python benchmarks/bench_train_time.py --profile full --set hand.depth=4 --set foot.depth=4

``--set PATH=VALUE`` (repeatable) changes a setting of the profile first, named by its dotted path
(``submission.settings.Settings.paths``).

The sum is a projection, not one timed training: it leaves out Python start-up
and the out-of-fold predictions (seconds), and a shared host's speed moves
between the parts; run ``ra2 train`` itself to time one training.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np


def median_step(model, stream, repeats: int) -> tuple[float, float]:
    """Median seconds of making a batch of ``stream`` and of ``model.train_on_batch`` on it, timed apart,
    as the training loop does them one after the other (the first 3 trace the graph)."""
    making, training = [], []
    for i in range(repeats + 3):
        t = time.perf_counter()
        batch = stream[i % len(stream)]
        t1 = time.perf_counter()
        model.train_on_batch(*batch)
        if i >= 3:
            making.append(t1 - t)
            training.append(time.perf_counter() - t1)
    return float(np.median(making)), float(np.median(training))


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=list(PROFILES), default="full")
    ap.add_argument("--patients", type=int, default=300)
    ap.add_argument("--cohort", default=None,
                    help="a phantom cohort to use as it is (default /tmp/ra2_train_time/N, made with N/1 patients, "
                         "seed 11, unless this code drew the one there)")
    ap.add_argument("--repeats", type=int, default=10, help="timed steps per network")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="change a setting of the profile by its dotted path, e.g. hand.depth=4 (repeatable)")
    args = ap.parse_args(argv)
    from bench_scorer import changed

    st = changed(PROFILES[args.profile], args.set)
    logging.basicConfig(level=logging.WARNING)

    import keras

    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from phantoms.cohort import cohort_differs, make_cohort
    from challenge.catalogue import KINDS
    from submission.data import load_training, metric_weights
    from submission.localize import LocalizerData, build_localizer, heatmap_loss
    from submission.refine import RefinerData, build_refiner
    from submission.stack import Stacker
    from submission.train import kind_stages
    from submission.units import log_scores

    scheme = load_scheme(DEFAULT_SCHEME)
    cohort = Path(args.cohort or f"/tmp/ra2_train_time/{args.patients}")
    if args.cohort:
        if not (cohort / "train" / "training.csv").is_file():
            raise SystemExit(f"--cohort {cohort}: no train/training.csv there")
    elif why := cohort_differs(cohort, args.patients, 1, 11):
        print(f"making the cohort in {cohort}: {why}")
        t = time.time()
        make_cohort(cohort, args.patients, 1, 11)
        print(f"made a {args.patients}-patient phantom cohort in {time.time() - t:.0f} s: {cohort}")
    t = time.time()
    stages = {kind: kind_stages(kind, scheme, st) for kind in KINDS}
    data, scores, _ = load_training(cohort / "train", scheme, stages, progress=False)
    parts = {"read the training folder": time.time() - t}
    split = {}

    def timed(name: str, steps: int, medians: tuple[float, float]) -> None:
        parts[name] = steps * sum(medians)
        split[name] = medians

    for kind, d in data.items():
        n = len(scheme.landmarks[kind])
        loc = build_localizer(st.localizer.size, n, base=st.localizer.base, depth=st.localizer.depth)
        loc.compile(optimizer="adam", loss=heatmap_loss)
        stream = LocalizerData(np.stack(d.loc_images), np.stack(d.loc_points), sigma=st.localizer.sigma, batch=8,
                               seed=0)
        timed(f"{kind} localizer: {st.localizer.steps} steps", st.localizer.steps,
              median_step(loc, stream, args.repeats))
        if st.refines:
            contexts, points, landmarks = d.refiner.arrays()
            ref = build_refiner(st.refiner.crop, n, base=st.refiner.base)
            ref.compile(optimizer="adam", loss=heatmap_loss)
            stream = RefinerData(contexts, points, landmarks, n_landmarks=n, crop=st.refiner.crop,
                                 pitch=d.refiner.pitch, sigma=1.5, batch=32, seed=0, per_epoch=32 * 20,
                                 jitter=0.015, max_jitter=0.05, turn=True)
            timed(f"{kind} refiner: {st.refiner.steps} steps", st.refiner.steps,
                  median_step(ref, stream, args.repeats))
        # the scorer as the training builds it (augmentation and ordinal heads included)
        sc, losses, weights, stream, _ = stages[kind].scorer.stream(d.samples(scheme, kind, scores))
        sc.compile(optimizer="adam", loss=losses, loss_weights=weights)
        steps = st.scorer(kind).steps * (st.oof_folds if st.stack else 1)
        timed(f"{kind} scorers: {st.oof_folds if st.stack else 1} x {st.scorer(kind).steps} steps", steps,
              median_step(sc, stream, args.repeats))
    if st.stack:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(len(scores), 86))
        t = time.time()
        Stacker(n_trees=st.stacker.trees, depth=st.stacker.depth, summaries=st.stacker.summaries,
                calibrated_totals=st.stacker.totals, seed=0).fit(
            x, log_scores(scores).to_numpy(), sample_weight=metric_weights(scores).to_numpy())
        parts[f"stacker: 86 columns x {st.stacker.trees} trees"] = time.time() - t

    changed = f" ({', '.join(args.set)})" if args.set else ""
    print(f"\nprofile {args.profile}{changed}, {len(scores)} patients, Keras {keras.__version__} on "
          f"{keras.backend.backend()}")
    for name, seconds in parts.items():
        how = ""
        if name in split:
            making, training = split[name]
            how = (f"   a step {1000 * (making + training):6.1f} ms: batch {1000 * making:6.1f} ms "
                   f"({making / (making + training):4.0%}), network {1000 * training:6.1f} ms")
        print(f"  {name:<44} {seconds:8.0f} s{how}")
    total = sum(parts.values())
    print(f"  {'projected training time':<44} {total:8.0f} s = {total / 3600:.2f} h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
