"""Benchmark of the method on a phantom cohort (80 training / 40 test patients, seed 7 by default),
trained with a named profile (``--profile small|full|quick``, default small).
``--no-seg-ablation`` skips the ablation that retrains every scorer without segmentation.

Prints and writes (``--out DIR/bench.json``, updated after every stage):
localisation share within 0.02 per joint group; SC1/SC2/SC3 of the full method,
its ablations (no stacker, no segmentation), the baselines and the second
reader; one-sided paired Wilcoxon p-values both ways (full better than each
ablation, and each ablation better than full: "no worse" reads the second);
training seconds; predict seconds per image (median of repeats), peak memory of
a ``ra2 predict`` run, and the ratio to merely decoding the same JPEGs.

Training is compute-bound and the speed of a shared host moves between runs, so
the run first records the host (CPU model, cores, backend) and the median time of
one training step of the full-size localizer and hand scorer on random data:
compare training times across runs only together with those step times.

    .venv/bin/python benchmarks/bench_method.py --profile small --out /tmp/ra2_bench
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from challenge.dataset import scan_folder
from challenge.images import read_grey
from challenge.tables import read_scores, with_totals


def _dump(out: Path, result: dict) -> None:
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=float))


def host_info() -> dict:
    """CPU model, usable cores and the Keras backend and version of this run."""
    import os
    import platform

    import keras

    model, flags = platform.processor(), set()
    try:
        info = dict(map(str.strip, line.split(":", 1)) for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if ":" in line)
        model, flags = info["model name"], set(info["flags"].split())
    except (OSError, KeyError):
        pass
    return {"cpu": model or "unknown", "vector_units": [f for f in ("avx2", "avx512f", "amx_tile") if f in flags],
            "cores": len(os.sched_getaffinity(0)), "backend": keras.backend.backend(), "keras": keras.__version__}


def reference_steps(profile: str = "small", repeats: int = 15) -> dict:
    """Median seconds of one training step of the full-size localizer (hand, batch 8) and hand
    scorer (batch 32), compiled as in training, on a batch that the training's own data streams
    make from random images and patches."""
    import keras

    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from submission.profiles import PROFILES
    from submission.localize import LocalizerData
    from submission.models import build_localizer, build_scorer, heatmap_loss
    from submission.geometry import CONTEXT
    from submission.score import ScorerData, scorer_loss
    from submission.units import damage_groups, kind_columns

    st, rng = PROFILES[profile], np.random.default_rng(0)
    n_lm, n_out, size = len(load_scheme(DEFAULT_SCHEME).landmarks["hand"]), len(kind_columns("hand")), st.localizer.size
    keras.utils.set_random_seed(0)
    loc = build_localizer(size, n_lm, base=st.localizer.base, depth=st.localizer.depth)
    loc.compile(optimizer="adam", loss=heatmap_loss)
    loc_batch = LocalizerData(rng.random((8, size, size), dtype=np.float32),
                              rng.uniform(0.2 * size, 0.8 * size, (8, n_lm, 2)), sigma=st.localizer.sigma, batch=8,
                              seed=0)[0]
    sc = build_scorer(st.hand.patch, n_out, n_lm, base=st.hand.base, depth=st.hand.depth,
                      groups=damage_groups("hand"))
    losses, weights = scorer_loss(True)
    sc.compile(optimizer="adam", loss=losses, loss_weights=weights)
    side = int(round(st.hand.patch * CONTEXT))
    samples = {"patches": rng.random((32, side, side), dtype=np.float32),
               "masks": rng.random((32, side, side), dtype=np.float32).round(), "has_mask": np.ones(32),
               "landmark": rng.integers(0, n_lm, 32), "targets": rng.random((32, n_out)),
               "carried": np.ones((32, n_out))}
    sc_batch = ScorerData(samples, patch=st.hand.patch, n_landmarks=n_lm, seg=True, batch=32, seed=0)[0]
    out = {}
    for name, model, batch in (("localizer", loc, loc_batch), ("hand_scorer", sc, sc_batch)):
        times = []
        for i in range(repeats + 3):
            t = time.perf_counter()
            model.train_on_batch(*batch)
            if i >= 3:  # the first steps trace the graph
                times.append(time.perf_counter() - t)
        out[f"{name}_step_s"] = float(np.median(times))
    return out


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/ra2_bench", help="work folder (cohort, bundles, predictions)")
    ap.add_argument("--train", type=int, default=80)
    ap.add_argument("--test", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the timed prediction")
    ap.add_argument("--preset", choices=("realistic", "easy"), default="realistic",
                    help="phantom preset of the cohort (default realistic; easy: the first, easier phantoms)")
    ap.add_argument("--profile", choices=list(PROFILES), default="small",
                    help="the method's profile (quick: a smoke run of the benchmark itself)")
    ap.add_argument("--no-seg-ablation", dest="noseg", action="store_false",
                    help="skip training the no-segmentation ablation (it retrains every scorer)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from baselines.predictors import BASELINES, predict_baseline
    from phantoms.cohort import cohort_differs, make_cohort
    from evaluator.landmarks import localisation_metric
    from evaluator.official import per_patient, score_frames
    from evaluator.stats import paired_wilcoxon
    from challenge.landmarks import image_sizes, read_landmarks
    from submission.predict import Method, predict_folder
    from submission.profiles import profile_settings
    from submission.train import train_bundle

    out = Path(args.out)
    cohort = out / "cohort"
    why = cohort_differs(cohort, args.train, args.test, args.seed, preset=args.preset)
    if why:
        print(f"making the cohort in {cohort}: {why}")
        make_cohort(cohort, args.train, args.test, args.seed, preset=args.preset)
    train, test, gold_dir = cohort / "train", cohort / "test", cohort / "gold"
    template = test / "template.csv"
    gold = with_totals(read_scores(gold_dir / "test.csv"))
    result = {"cohort": {"train": args.train, "test": args.test, "seed": args.seed, "preset": args.preset},
              "profile": args.profile,
              "host": {**host_info(), **reference_steps(args.profile)}}
    _dump(out, result)

    t = time.time()
    settings = profile_settings(args.profile)
    full = train_bundle(train, out / "bundle_full", settings=settings, seed=0, progress=True)
    result["train_seconds_full"] = time.time() - t
    _dump(out, result)
    method = Method(full)
    runs = {"full": dict(bundle_dir=full, method=method, landmarks_out=out / "landmarks_pred.csv"),
            "no-stack": dict(bundle_dir=full, method=method, stack=False)}
    if args.noseg:
        t = time.time()
        noseg = train_bundle(train, out / "bundle_noseg", settings=replace(settings, seg=False), seed=0,
                             progress=True, localizers_from=full)
        result["train_seconds_noseg_reusing_localizers"] = time.time() - t
        _dump(out, result)
        runs["no-seg"] = dict(bundle_dir=noseg)
    preds = {}
    for name, kw in runs.items():
        predict_folder(images_dir=test, template_path=template, out_path=out / f"pred_{name}.csv", progress=False,
                       **kw)
        preds[name] = read_scores(out / f"pred_{name}.csv")
    for name in BASELINES:
        preds[f"baseline:{name}"] = predict_baseline(name, train, test)
    preds["reader2"] = with_totals(read_scores(gold_dir / "reader2.csv"))
    result["scores"] = {k: score_frames(v, gold) for k, v in preds.items()}
    errors = {k: per_patient(v, gold) for k, v in preds.items()}
    def better(a, b):
        return {m: paired_wilcoxon(errors[a][m], errors[b][m]).as_dict() for m in ("sc1", "sc2", "sc3")}

    ablations = [name for name in runs if name != "full"]
    result["wilcoxon_full_better_than"] = {other: better("full", other) for other in ablations}
    result["wilcoxon_better_than_full"] = {other: better(other, "full") for other in ablations}
    loc = localisation_metric(read_landmarks(out / "landmarks_pred.csv"), read_landmarks(gold_dir / "landmarks.csv"),
                              image_sizes(test))
    result["localisation"] = loc
    _dump(out, result)

    folder = scan_folder(test)
    paths = [p for limbs in folder.images.values() for p in limbs.values()]
    decode, predict = [], []
    for _ in range(args.repeats):
        t = time.time()
        for p in paths:
            read_grey(p)
        decode.append((time.time() - t) / len(paths))
        s = predict_folder(full, test, template, out / "pred_timed.csv", progress=False, method=method)
        predict.append(s["seconds"] / s["images"])
    t = time.time()
    subprocess.run([sys.executable, "-m", "ra2", "predict", "--bundle", str(full), "--images", str(test),
                    "--template", str(template), "--out", str(out / "pred_cli.csv")], check=True,
                   capture_output=True)
    cli_seconds = time.time() - t
    result["speed"] = {
        "images": len(paths), "decode_s_per_image": float(np.median(decode)),
        "predict_s_per_image": float(np.median(predict)),
        "ratio_to_decode": float(np.median(predict) / np.median(decode)),
        "cli_run_seconds_incl_startup": cli_seconds,
        "cli_peak_memory_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "device": s["device"]}
    _dump(out, result)
    print_report(result)
    return 0


def print_report(r: dict) -> None:
    print(f"\nphantom cohort: {r['cohort']}, profile {r.get('profile', 'small')}")
    h = r["host"]
    print(f"host: {h['cpu']} ({' '.join(h['vector_units'])}), {h['cores']} cores, Keras {h['keras']} on "
          f"{h['backend']}; one training step: localizer {h['localizer_step_s']:.3f} s, "
          f"hand scorer {h['hand_scorer_step_s']:.3f} s")
    noseg = r.get("train_seconds_noseg_reusing_localizers")
    print(f"training: full {r['train_seconds_full']:.0f} s" + (
        f", no-seg {noseg:.0f} s (reusing the full bundle's localizers and refiners)" if noseg is not None else
        " (no-seg ablation not trained)"))
    print("localisation (normalised distance to the gold point):")
    for g, s in [("all", r["localisation"]["all"])] + list(r["localisation"]["groups"].items()):
        print(f"  {g:<7} within 0.02 {100 * s['within']:6.2f} %  within 0.01 {100 * s['within_fine']:6.2f} %  "
              f"median {s['median']:.4f}  p95 {s['p95']:.4f}")
    keys = ("sc1", "sc2", "sc2_hand", "sc2_foot", "sc3", "sc3_hand", "sc3_foot")
    print(f"{'predictions':<24} " + " ".join(f"{k.upper():>8}" for k in keys))
    for k, v in r["scores"].items():
        print(f"{k:<24} " + " ".join(f"{v[m]:8.4f}" if v[m] is not None else "     n/a" for m in keys))
    base = {k: v for k, v in r["scores"].items() if k.startswith("baseline:")}
    for m in ("sc1", "sc2", "sc3"):
        name, best = min(((k, v[m]) for k, v in base.items() if v[m] is not None), key=lambda kv: kv[1])
        full = r["scores"]["full"][m]
        print(f"{m}: full {full:.4f} = {full / best:.2f} x the best baseline ({name} {best:.4f}); "
              f"reader 2 {r['scores']['reader2'][m]:.4f}")
    pairs = [(f"full better than {o}", t) for o, t in r["wilcoxon_full_better_than"].items()]
    pairs += [(f"{o} better than full", t) for o, t in r["wilcoxon_better_than_full"].items()]
    for label, tests in pairs:
        print(f"{label}: " + ", ".join(
            f"{m} p={t['p_value']:.3g}" if t["p_value"] is not None else f"{m} p=n/a" for m, t in tests.items()))
    s = r["speed"]
    print(f"predict {s['predict_s_per_image']:.3f} s/image (median of repeats, model loaded), decode "
          f"{s['decode_s_per_image']:.4f} s/image, ratio {s['ratio_to_decode']:.1f}; 'ra2 predict' run "
          f"{s['cli_run_seconds_incl_startup']:.1f} s incl. start-up, peak memory {s['cli_peak_memory_mb']:.0f} MB "
          f"on {s['device']}")


if __name__ == "__main__":
    raise SystemExit(main())
