"""The refinement stage on a phantom cohort: first-stage localizer vs refined landmarks.

Writes (or reuses) a phantom cohort under ``--out``, trains the first-stage localizer of each limb
kind on the training images (``localize.Localizer.fit``, the method's settings; kept in
``--out``, named after the cohort and ``--loc-steps``, and reused by a later run), then one refiner
per kind on the same images (``refine.Refiner.fit``, saved as ``--out/refiner_{kind}.keras``),
and prints per joint group (finger, wrist, toe) the share of test landmarks within 0.02 and 0.01
(normalised distance, ``evaluator.landmarks``) and the median distance, for the first stage and the
refined points (one pass, two passes, and with the 180°-turned crops); also the refiner's training
seconds per step (wall clock, and CPU seconds of all threads, which move less with a shared host's
load) and the seconds of one ``Refiner.predict`` call per image.  Results go to ``--out/refine.json``.

    nice -n 10 .venv/bin/python benchmarks/bench_refine.py --out /tmp/ra2_refine --size-scale 2
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from challenge.catalogue import KINDS, kind_of


def read_split(folder: Path, landmarks_csv: Path, scheme) -> list[dict]:
    """Every image of a split folder with its stored landmarks (L, 2) in scheme order."""
    from challenge.dataset import scan_folder
    from challenge.images import read_grey
    from challenge.landmarks import landmark_table, read_landmarks

    table = landmark_table(read_landmarks(landmarks_csv))
    f = scan_folder(folder)
    out = []
    for patient in f.patients:
        for limb, path in sorted(f.images[patient].items()):
            stem = f.stem(patient, limb)
            kind = kind_of(limb)
            points = table.get(stem, {})
            xy = np.array([points.get(n, (np.nan, np.nan)) for n in scheme.landmarks[kind]], dtype=float)
            out.append({"stem": stem, "limb": limb, "kind": kind, "img": read_grey(path), "xy": xy})
    return out


def localizers(train: list[dict], out: Path, scheme, settings, steps: int, cohort: Path) -> dict:
    """The first-stage ``Localizer`` of each kind, trained here or read back from ``out``."""
    import hashlib
    from dataclasses import replace

    import keras

    from submission.data import KindData
    from submission.localize import Localizer

    # named after the cohort's record where it has one: its path is the same for a cohort drawn again there
    record = cohort / "cohort.json"
    tag = hashlib.sha256(record.read_bytes() if record.is_file() else str(cohort.resolve()).encode()).hexdigest()[:8]
    models = {}
    for kind in KINDS:
        path = out / f"localizer_{kind}_{steps}_{tag}.keras"
        stage = Localizer.from_settings(kind, scheme, replace(settings.localizer, steps=steps))
        if path.is_file():
            stage.model = keras.saving.load_model(path, compile=False)
            models[kind] = stage
            continue
        items = [r for r in train if r["kind"] == kind]
        frames = [stage.canonical(r["img"], r["limb"]) for r in items]
        data = KindData(loc_images=[c for c, _ in frames],
                        loc_points=[f.to_canonical(r["xy"]) for (_, f), r in zip(frames, items)])
        models[kind] = stage.fit(data, seed=0, progress=True)
        model_tmp = out / f".{path.name}.tmp.keras"
        stage.model.save(model_tmp)
        model_tmp.rename(path)
    return models


def first_stage(localizer, r: dict) -> np.ndarray:
    cimg, frame = localizer.canonical(r["img"], r["limb"])
    points, _ = localizer.predict_canonical(cimg[None])
    xy = frame.to_stored(points[0])
    h, w = r["img"].shape
    return np.column_stack([np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)])


def metric(test: list[dict], preds: dict, scheme) -> dict:
    """Per group: n, share within 0.02 and 0.01, median and 95th percentile of the normalised distance."""
    from evaluator.landmarks import point_distances

    rows_gold, rows_pred, sizes = [], [], {}
    for r in test:
        names = scheme.landmarks[r["kind"]]
        sizes[r["stem"]] = (r["img"].shape[1], r["img"].shape[0])
        for n, g, p in zip(names, r["xy"], preds[r["stem"]]):
            if np.isfinite(g).all():
                rows_gold.append((r["stem"], n, *g))
                rows_pred.append((r["stem"], n, *p))
    cols = ["image", "landmark", "x", "y"]
    d = point_distances(pd.DataFrame(rows_pred, columns=cols).dropna(), pd.DataFrame(rows_gold, columns=cols), sizes)
    out = {}
    for group, part in [("all", d)] + list(d.groupby("group")):
        v = part["distance"].to_numpy()
        fin = v[np.isfinite(v)]
        out[group] = {"n": int(len(v)), "within_0.02": float(np.mean(v <= 0.02)),
                      "within_0.01": float(np.mean(v <= 0.01)), "median": float(np.median(fin)),
                      "p95": float(np.quantile(fin, 0.95))}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/ra2_refine", help="work folder (cohort, localizers, refine.json)")
    ap.add_argument("--cohort", help="an existing phantom cohort to use instead of writing one under --out")
    ap.add_argument("--train", type=int, default=40)
    ap.add_argument("--test", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size-scale", type=float, default=2.0, help="phantom image size factor (default 2)")
    ap.add_argument("--loc-steps", type=int, default=300, help="first-stage localizer steps (the method's 300)")
    ap.add_argument("--steps", type=int, default=400, help="refiner steps per limb kind")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--pitch", type=float, default=0.0025)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--base", type=int, default=8)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--jitter", type=float, default=0.015)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import keras

    from phantoms.cohort import cohort_differs, make_cohort
    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from submission.settings import Settings
    from submission.data import KindData, RefinerSamples
    from submission.refine import Refiner

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cohort = Path(args.cohort) if args.cohort else out / "cohort"
    if args.cohort:
        if not (cohort / "gold" / "landmarks.csv").is_file():
            raise SystemExit(f"--cohort {cohort}: no gold/landmarks.csv there")
    elif why := cohort_differs(cohort, args.train, args.test, args.seed, size_scale=args.size_scale):
        print(f"making the cohort in {cohort}: {why}")
        make_cohort(cohort, args.train, args.test, args.seed, size_scale=args.size_scale)
    scheme, settings = load_scheme(DEFAULT_SCHEME), Settings()
    t = time.time()
    train = read_split(cohort / "train", cohort / "train" / "landmarks.csv", scheme)
    test = read_split(cohort / "test", cohort / "gold" / "landmarks.csv", scheme)
    long_sides = sorted(max(r["img"].shape) for r in train + test)
    result = {"cohort": str(cohort), "images": {"train": len(train), "test": len(test),
                                                "long_side_median": long_sides[len(long_sides) // 2],
                                                "long_side_min": long_sides[0], "long_side_max": long_sides[-1]},
              "settings": {k: v for k, v in vars(args).items() if k not in ("out", "cohort")},
              "backend": keras.backend.backend(), "read_seconds": time.time() - t}
    loc = localizers(train, out, scheme, settings, args.loc_steps, cohort)

    refiners, timing = {}, {}
    for kind in KINDS:
        t = time.time()
        stage = Refiner(kind, len(scheme.landmarks[kind]), crop=args.crop, pitch=args.pitch, base=args.base,
                        depth=args.depth, steps=args.steps)
        samples = RefinerSamples(context=args.context, pitch=stage.pitch)
        for r in train:
            if r["kind"] == kind:
                samples.add(r["img"], r["limb"], r["xy"])
        cut = time.time() - t
        t, cpu = time.time(), time.process_time()
        refiners[kind] = stage.fit(KindData(refiner=samples), seed=0, progress=True, batch=args.batch,
                                   jitter=args.jitter)
        took, cpu = time.time() - t, time.process_time() - cpu
        stage.save(out)                                          # out/refiner_{kind}.keras
        timing[kind] = {"samples": len(samples), "sample_mb": samples.arrays()[0].nbytes / 2 ** 20,
                        "cut_seconds": cut, "train_seconds": took, "seconds_per_step": took / args.steps,
                        "cpu_seconds_per_step": cpu / args.steps}

    variants = {"first stage": {}, "refined": {}, "refined, 2 passes": {}, "refined, turned": {}}
    seconds = []
    def variant(stage, **changes) -> Refiner:
        return Refiner(stage.kind, stage.n_landmarks, crop=stage.crop, pitch=stage.pitch, model=stage.model, **changes)

    for r in test:
        m = refiners[r["kind"]]
        start = first_stage(loc[r["kind"]], r)
        variants["first stage"][r["stem"]] = start
        t, cpu = time.perf_counter(), time.process_time()
        variants["refined"][r["stem"]] = m.predict(r["img"], r["limb"], start)
        seconds.append((r["kind"], time.perf_counter() - t, time.process_time() - cpu))
        variants["refined, 2 passes"][r["stem"]] = variant(m, passes=2).predict(r["img"], r["limb"], start)
        variants["refined, turned"][r["stem"]] = variant(m, turned=True).predict(r["img"], r["limb"], start)
    for kind in timing:
        timing[kind]["refine_seconds_per_image_median"] = float(np.median([s for k, s, _ in seconds[2:] if k == kind]))
        timing[kind]["refine_cpu_seconds_per_image_median"] = float(np.median([c for k, _, c in seconds[2:]
                                                                              if k == kind]))
    result["timing"] = timing
    result["localisation"] = {name: metric(test, preds, scheme) for name, preds in variants.items()}
    (out / "refine.json").write_text(json.dumps(result, indent=2))
    print_report(result)
    return 0


def print_report(r: dict) -> None:
    im = r["images"]
    print(f"\ncohort {r['cohort']}: {im['train']} training / {im['test']} test images, long side median "
          f"{im['long_side_median']} px ({im['long_side_min']}-{im['long_side_max']}); backend {r['backend']}")
    s = r["settings"]
    print(f"refiner: crop {s['crop']} px at pitch {s['pitch']} (covers {s['crop'] * s['pitch']:.3f} of the long side), "
          f"base {s['base']}, depth {s['depth']}, {s['steps']} steps of {s['batch']}; localizer {s['loc_steps']} steps")
    for kind, t in r["timing"].items():
        print(f"  {kind}: {t['samples']} contexts ({t['sample_mb']:.0f} MB), cut in {t['cut_seconds']:.1f} s, "
              f"trained in {t['train_seconds']:.0f} s ({t['seconds_per_step']:.3f} s/step, CPU "
              f"{t.get('cpu_seconds_per_step', float('nan')):.3f} s/step), Refiner.predict "
              f"{1000 * t['refine_seconds_per_image_median']:.1f} ms/image (CPU "
              f"{1000 * t.get('refine_cpu_seconds_per_image_median', float('nan')):.1f} ms)")
    print(f"{'':<20} {'group':<7} {'n':>5} {'<=0.02':>8} {'<=0.01':>8} {'median':>8} {'p95':>8}")
    for name, groups in r["localisation"].items():
        for g, v in groups.items():
            print(f"{name:<20} {g:<7} {v['n']:>5} {100 * v['within_0.02']:7.2f}% {100 * v['within_0.01']:7.2f}% "
                  f"{v['median']:8.4f} {v['p95']:8.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
