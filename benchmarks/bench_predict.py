"""Prediction-time choices of a trained bundle, measured without retraining: the scorer's and the
refiner's test-time turns, the refiner's passes and the size of the out-of-fold scorer ensemble.

    .venv/bin/python benchmarks/bench_predict.py --bundle DIR --cohort DIR [--repeats 2]
        [--variants "as trained" "no turns" ...]

The cohort is a phantom cohort as ``ra2 synth`` writes it (COHORT/test images and template,
COHORT/gold truth).  Every variant predicts the whole test split with the model loaded once; the
script prints, per variant, SC1/SC2/SC3 with their hand parts, the share of landmarks within 0.02
per group and the median over ``--repeats`` of the seconds per image (reading included), beside
the median seconds to merely decode the same images, and the ratio of the two; then the median
milliseconds per image of each stage (``Method.seconds``: localizer with its frame and polarity check, refiner, patches,
scorer).  A first pass that is not timed traces the networks on one image of each limb kind.
Results also go to ``--out`` (JSON).

Timings are only comparable within one run: start it when the host is otherwise idle.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

#: the scorers' test-time turn switched off (both limb kinds)
_NO_SCORER_TURN = {"hand.turn": False, "foot.turn": False}
#: what each variant changes at prediction: settings (dotted ``Settings`` paths) and the number of
#: out-of-fold scorers kept (None: all of them)
VARIANTS = {
    "as trained": ({}, None),
    "no scorer turn": (_NO_SCORER_TURN, None),
    "no refiner turn": ({"refiner.turned": False}, None),
    "no turns": ({**_NO_SCORER_TURN, "refiner.turned": False}, None),
    "refiner turned": ({"refiner.turned": True}, None),
    "two refiner passes": ({"refiner.passes": 2}, None),
    "one scorer": ({}, 1),
    "one scorer, no turns": ({**_NO_SCORER_TURN, "refiner.turned": False}, 1),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="a trained bundle folder")
    ap.add_argument("--cohort", required=True, help="a phantom cohort (test/ and gold/)")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per variant")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--out", default="bench_predict.json", help="where the results go (JSON)")
    args = ap.parse_args(argv)

    from challenge.catalogue import kind_of
    from challenge.dataset import scan_folder
    from challenge.images import read_grey
    from challenge.landmarks import image_sizes, read_landmarks
    from challenge.tables import read_scores
    from evaluator.landmarks import localisation_metric
    from evaluator.official import score_frames
    from submission.data import Stages
    from submission.predict import Method, predict_folder
    from submission.refine import Refiner
    from submission.score import Scorer

    cohort, bundle = Path(args.cohort), Path(args.bundle)
    test, work = cohort / "test", Path(args.out).with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    gold = read_scores(cohort / "gold" / "test.csv", gold=True)
    gold_marks, sizes = read_landmarks(cohort / "gold" / "landmarks.csv"), image_sizes(test)
    paths = [p for limbs in scan_folder(test).images.values() for p in limbs.values()]

    method = Method(bundle)
    trained, loaded = method.settings, method.stages

    def stages(name: str) -> dict:
        """The loaded networks in stages built from the variant's settings (and scorers)."""
        changes, n_scorers = VARIANTS[name]
        settings = trained.with_values(changes)
        return {k: Stages(st.localizer,
                          st.refiner and Refiner.from_settings(k, method.scheme, settings.refiner,
                                                               model=st.refiner.model),
                          Scorer.from_settings(k, method.scheme, settings.scorer(k), seg=settings.seg,
                                               patch_mm=st.scorer.patch_mm, models=st.scorer.models[:n_scorers]))
                for k, st in loaded.items()}

    variant_stages = {name: stages(name) for name in args.variants}

    def use(name: str) -> None:
        method.settings = trained.with_values(VARIANTS[name][0])
        method.stages = variant_stages[name]

    stages: dict[str, dict[str, list[float]]] = {name: {} for name in args.variants}

    def run(name: str, preds: Path, marks: Path | None = None) -> float:
        use(name)
        method.seconds = stages[name]
        s = predict_folder(bundle, test, test / "template.csv", preds, landmarks_out=marks, progress=False,
                           method=method)
        return s["seconds"] / s["images"]

    folder = scan_folder(test)
    firsts = {}                                          # one image of each limb kind
    for limbs in folder.images.values():
        for limb, path in limbs.items():
            firsts.setdefault(kind_of(limb), (limb, path))
    for name in args.variants:                           # untimed: traces every network each variant uses
        use(name)
        for limb, path in firsts.values():
            method.analyse(read_grey(path), limb)
    result = {"bundle": str(bundle), "cohort": str(cohort), "images": len(paths), "variants": {}}
    decode = []
    seconds: dict[str, list[float]] = {name: [] for name in args.variants}
    for rep in range(args.repeats):
        t = time.perf_counter()
        for p in paths:
            read_grey(p)
        decode.append((time.perf_counter() - t) / len(paths))
        for name in args.variants:
            slug = name.replace(" ", "_").replace(",", "")
            seconds[name].append(run(name, work / f"{slug}.csv", work / f"{slug}_landmarks.csv"))
    result["decode_s_per_image"] = float(np.median(decode))
    print(f"{len(paths)} test images; decoding {1000 * result['decode_s_per_image']:.1f} ms per image (median of "
          f"{args.repeats})\n")
    print(f"{'variant':22s} {'SC1':>6s} {'SC2':>6s} {'SC3':>6s} {'SC2-h':>6s} {'SC3-h':>6s}  "
          f"{'within 0.02 finger / wrist / toe':>33s}  {'s/image':>7s} {'x decode':>8s}")
    for name in args.variants:
        slug = name.replace(" ", "_").replace(",", "")
        sc = score_frames(read_scores(work / f"{slug}.csv"), gold)
        loc = localisation_metric(read_landmarks(work / f"{slug}_landmarks.csv"), gold_marks, sizes)
        within = {g: v["within"] for g, v in loc["groups"].items()}
        medians = {g: v["median"] for g, v in loc["groups"].items()}
        per_image = float(np.median(seconds[name]))
        result["variants"][name] = {**{k: sc[k] for k in ("sc1", "sc2", "sc3", "sc2_hand", "sc3_hand")},
                                    "within": within, "median_distance": medians, "seconds_per_image": per_image,
                                    "seconds_per_image_runs": seconds[name],
                                    "ratio_to_decode": per_image / result["decode_s_per_image"]}
        marks = " / ".join(f"{100 * within[g]:.2f}" for g in ("finger", "wrist", "toe") if g in within)
        cells = " ".join(f"{sc[k]:6.3f}" if sc[k] is not None else "   n/a"
                         for k in ("sc1", "sc2", "sc3", "sc2_hand", "sc3_hand"))
        print(f"{name:22s} {cells}  {marks:>33s}  {per_image:7.3f} {per_image / result['decode_s_per_image']:8.1f}")
    names = list(next(iter(stages.values())))
    print(f"\nmedian ms per image and stage (decoding {1000 * result['decode_s_per_image']:.1f})\n"
          f"{'variant':22s} " + " ".join(f"{n:>9s}" for n in names))
    for name in args.variants:
        ms = {n: 1000 * float(np.median(v)) for n, v in stages[name].items()}
        result["variants"][name]["stage_ms"] = ms
        print(f"{name:22s} " + " ".join(f"{ms.get(n, float('nan')):9.1f}" for n in names))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
