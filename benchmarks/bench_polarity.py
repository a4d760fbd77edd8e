"""How sure is the choice of polarity?  ``localize.Localizer.predict``'s choice on every test image of a phantom cohort.

For each test image it runs the bundle's localizer on the image and on its negative (as
``ra2 predict`` does) and counts, against the cohort's record of which films are stored inverted
(``cohort.json``, ``inverted``): negatives read inverted, negatives missed, upright films read
inverted.  It also prints the ratio of the negative's mean heatmap peak to the image's (above 1:
read inverted) for upright films and for negatives: how far apart the two lie.

    .venv/bin/python benchmarks/bench_polarity.py --bundle BUNDLE --cohort COHORT
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, help="a trained bundle")
    ap.add_argument("--cohort", required=True, help="a phantom cohort (its cohort.json and test/)")
    args = ap.parse_args(argv)

    from challenge.catalogue import kind_of
    from challenge.dataset import scan_folder
    from challenge.images import read_grey
    from submission.predict import Method

    method = Method(args.bundle)
    records = json.loads((Path(args.cohort) / "cohort.json").read_text())["images"]
    folder = scan_folder(Path(args.cohort) / "test")
    ratios = {True: [], False: []}
    wrong = []
    for patient, limbs in folder.images.items():
        for limb, path in sorted(limbs.items()):
            if kind_of(limb) not in method.kinds:
                continue
            img = read_grey(path)
            localizer = method.stages[kind_of(limb)].localizer
            pair = np.stack([localizer.canonical(img, limb)[0], localizer.canonical(1.0 - img, limb)[0]])
            _, conf = localizer.predict_canonical(pair)
            negative = bool(records[folder.stem(patient, limb)].get("inverted"))
            ratio = float(conf[1] / conf[0])
            ratios[negative].append(ratio)
            if (ratio > 1) != negative:
                wrong.append(f"{folder.stem(patient, limb)} ({'negative' if negative else 'upright'}, ratio {ratio:.2f})")
    up, neg = np.array(ratios[False]), np.array(ratios[True])
    print(f"{len(up) + len(neg)} test images, {len(neg)} stored as negatives")
    print(f"  negatives read inverted {int((neg > 1).sum())}, missed {int((neg <= 1).sum())}; "
          f"upright films read inverted {int((up > 1).sum())}")
    for name, r in (("upright", up), ("negatives", neg)):
        if len(r):
            print(f"  {name:9s} negative/image peak ratio: min {r.min():.3f}  median {np.median(r):.3f}  "
                  f"max {r.max():.3f}")
    for w in wrong:
        print(f"  wrong: {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
