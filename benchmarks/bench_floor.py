"""How low can a method's SC2 and SC3 go on the realistic phantoms?  Score-level predictors, no images.

    .venv/bin/python benchmarks/bench_floor.py [--train 4000] [--test 73] [--repeats 20] [--seed 123]

The realistic phantoms' gold erosion scores are a reading of what the images show, with noise of
its own (``phantoms.scores.READER1``), so even a method that reads every image perfectly keeps an
error.  This draws patients' scores as ``ra2 synth`` does (``phantoms.scores.patient_draw``; no
images are rendered) and scores, on ``--repeats`` test sets of ``--test`` patients, predictors that
know more than any method can:

* ``train-mean``: each column's mean over ``--train`` drawn patients (the baseline);
* ``reader2``: the phantom second reader;
* ``what the image shows``: the score the images were drawn from, taken as the answer;
* ``E[gold | image]``: the mean of log2(gold + 1) over the training draws with the same shown score
  in the same pool of joints: the best answer from one joint's image alone;
* ``E[gold | latent]``: the mean of log2(gold + 1) over re-readings of the patient's latent damage
  itself, which no image carries fully.

It prints each one's SC2-hand and SC3-hand (official metrics) and their medians as a share of
train-mean's over the test sets: the reachable floor to set a method's phantom figures against.
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from challenge import catalogue as cat
from challenge.tables import with_totals
from evaluator.official import score_frames
from phantoms import scores as S

#: each joint column's pool (limb kind, damage type), highest score and gold reading noise, catalogue order
POOL = np.array([cat.KINDS.index(j.kind) * len(cat.DAMAGE_TYPES) + cat.DAMAGE_TYPES.index(j.damage)
                 for j in cat.JOINTS])
TOP = np.array([j.max_score for j in cat.JOINTS])
SIGMA1 = np.array([S.READER1[j.damage] for j in cat.JOINTS])


def draw(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n patients: log latent, shown, gold and reader-2 scores (patients × 86 joints, catalogue order)."""
    out = {k: [] for k in ("latent", "shown", "gold", "reader2")}
    for _ in range(n):
        latent, shown, gold = S.patient_draw(rng)
        out["latent"].append(latent)
        for key, scores in (("shown", shown), ("gold", gold), ("reader2", S.reader2_scores(latent, rng))):
            out[key].append([scores[c] for c in cat.JOINT_COLUMNS])
    return {k: np.asarray(v, float) for k, v in out.items()}


def frame(values: np.ndarray) -> pd.DataFrame:
    return with_totals(pd.DataFrame(values, columns=list(cat.JOINT_COLUMNS)))


def given_image(train: dict, shown: np.ndarray) -> np.ndarray:
    """E[log2(gold + 1) | shown score, pool of joints], from the training draws, as a score."""
    out = np.log2(shown + 1)
    for pool in np.unique(POOL):
        cols = POOL == pool
        for value in np.unique(train["shown"][:, cols]):
            seen = train["shown"][:, cols] == value
            here = shown[:, cols] == value
            block = out[:, cols]
            block[here] = np.log2(train["gold"][:, cols][seen] + 1).mean()
            out[:, cols] = block
    return 2 ** out - 1


def given_latent(latent: np.ndarray, rng: np.random.Generator, readings: int = 400) -> np.ndarray:
    """E[log2(gold + 1) | latent] over ``readings`` re-readings by the gold reader, as a score."""
    cuts = S.thresholds(read=True)
    total = np.zeros(latent.shape)
    for _ in range(readings):
        reading = latent + SIGMA1 * rng.standard_normal(latent.shape)
        gold = np.zeros(latent.shape)
        for pool in range(len(cuts)):
            cols = POOL == pool
            gold[:, cols] = np.searchsorted(cuts[pool], reading[:, cols], side="right")
        total += np.log2(np.minimum(gold, TOP) + 1)
    return 2 ** (total / readings) - 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=4000, help="drawn patients for train-mean and E[gold | image]")
    ap.add_argument("--test", type=int, default=73, help="patients per test set (the real held-out cohort's 73)")
    ap.add_argument("--repeats", type=int, default=20, help="test sets")
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    train = draw(args.train, rng)
    rows = []
    for rep in range(args.repeats):
        test = draw(args.test, rng)
        predictors = {"train-mean": np.tile(train["gold"].mean(axis=0), (args.test, 1)),
                      "reader2": test["reader2"], "what the image shows": test["shown"],
                      "E[gold | image]": given_image(train, test["shown"]),
                      "E[gold | latent]": given_latent(test["latent"], rng)}
        gold = frame(test["gold"])
        for name, values in predictors.items():
            s = score_frames(frame(values), gold)
            rows.append({"repeat": rep, "predictor": name, "sc2_hand": s["sc2_hand"], "sc3_hand": s["sc3_hand"]})
    table = pd.DataFrame(rows)
    base = table[table.predictor == "train-mean"].set_index("repeat")
    print(f"realistic phantoms' scores: {args.repeats} test sets of {args.test} patients, "
          f"{args.train} training draws (seed {args.seed}); medians over the test sets")
    print(f"{'predictor':22s} {'SC2-hand':>9s} {'x train-mean':>13s} {'SC3-hand':>9s} {'x train-mean':>13s}")
    for name, part in table.groupby("predictor", sort=False):
        part = part.set_index("repeat")
        print(f"{name:22s} {part.sc2_hand.median():9.3f} {(part.sc2_hand / base.sc2_hand).median():13.2f} "
              f"{part.sc3_hand.median():9.3f} {(part.sc3_hand / base.sc3_hand).median():13.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
