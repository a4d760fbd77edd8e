"""Do a hand's joint patches see its erosions?  Where the realistic phantoms put them, against the patch.

For each hand erosion column, draws hands as the realistic generator does (``phantoms.xray``),
erodes that column alone at a score of 3 of 5 and measures how far each cortical break lies from
the landmark that carries the column (svh21 scheme), in mm, as the larger of the x and y distances
(a square patch sees a break when that is below its half side).  The patch's half side in mm is
measured on the hand images of a cohort (``patch_side`` at the profile's ``hand.patch_scale`` over
the image's pixels per mm, median over the images), and each column's share of breaks inside it is
printed at the plain side and at 2 and 3 times it.  No image is rendered; about a second.

    .venv/bin/python benchmarks/bench_patch_field.py --cohort /tmp/real24/cohort
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from submission.profiles import PROFILES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", required=True, help="a realistic phantom cohort (its cohort.json gives the sizes)")
    ap.add_argument("--profile", choices=list(PROFILES), default="full")
    ap.add_argument("--hands", type=int, default=60, help="hands drawn per column")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from challenge.catalogue import EROSION, JOINTS
    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from phantoms import xray
    from submission.geometry import patch_side

    record = Path(args.cohort) / "cohort.json"
    if not record.is_file():
        raise SystemExit(f"--cohort {args.cohort}: no cohort.json there")
    images = [i for i in json.loads(record.read_text()).get("images", {}).values()
              if i.get("limb", "").endswith("H") and i.get("px_per_mm")]
    if not images:
        raise SystemExit(f"{record}: no hand image with its pixels per mm (a realistic cohort records them)")
    scale = PROFILES[args.profile].hand.patch_scale
    half = float(np.median([patch_side(i["width"], i["height"], scale) / i["px_per_mm"] for i in images])) / 2
    print(f"{len(images)} hand images: a hand patch ({args.profile}, hand.patch_scale {scale}) is "
          f"{2 * half:.1f} mm wide (median), half side {half:.1f} mm")

    scheme = load_scheme(DEFAULT_SCHEME)
    sites = xray.erosion_sites("hand")
    columns = list(dict.fromkeys(j.name for j in JOINTS if j.kind == "hand" and j.damage == EROSION))
    rng = np.random.default_rng(args.seed)
    print(f"{'column':18} {'landmark':9} {'median mm':>9} {'90 % mm':>8}   inside the patch at 1 / 2 / 3 × its side")
    for name in columns:
        landmark = scheme.carries["hand"][name]
        far = []
        for _ in range(args.hands):
            hand = xray.build_hand({}, {}, xray.Build.draw(rng), rng)
            hand.lesions = []
            xray.add_erosions(hand, [(3, 5, sites[name])], rng)
            at = np.asarray(hand.landmarks[landmark], float)
            # the breaks, without each erosion's faint inner lucency (the widest, shallowest disc)
            far += [float(np.max(np.abs(np.asarray(les.centre) - at))) for les in hand.lesions if les.depth > 0.15]
        far = np.array(far)
        inside = " / ".join(f"{np.mean(far <= k * half):4.0%}" for k in (1, 2, 3))
        print(f"{name:18} {landmark:9} {np.median(far):9.1f} {np.percentile(far, 90):8.1f}   {inside}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
