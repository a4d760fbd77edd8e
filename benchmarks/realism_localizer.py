"""The hand localizer alone of the calibration's reference method, once per seed (bench_realism's
``--landmark-seeds``): about a minute a seed on 2 cores instead of the whole training's 20-30.

    PYTHONPATH=TREE python benchmarks/realism_localizer.py COHORT OUT SEED...

Runs with ``PYTHONPATH`` at a worktree of commit e9a0b2b and uses that commit's own code (its
``load_training``, ``train_localizer``, ``canonical`` and ``predict_canonical``, called as its
``ra2 train --seed N`` and ``ra2 predict`` call them), so a seed's landmarks are the ones the whole
training with that seed predicts: for seed 0 on one cohort both gave the same shares to the last
digit. Writes ``OUT/seed{N}.csv`` (image,landmark,x,y,width,height, the test hands only) and keeps
the canonical training hands in ``OUT/train_hand.npz``; a seed whose file exists is not retrained.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(cohort: Path, out: Path, seeds: list[int]) -> None:
    from challenge.dataset import scan_folder
    from challenge.images import read_grey
    from challenge.landmarks import write_landmarks
    from challenge.schemes import DEFAULT_SCHEME, load_scheme
    from submission.bundle import Settings
    from submission.data import kind_of, load_training
    from submission.localize import canonical, predict_canonical, train_localizer

    out.mkdir(parents=True, exist_ok=True)
    seeds = [s for s in seeds if not (out / f"seed{s}.csv").is_file()]
    if not seeds:
        return
    settings, scheme = Settings(), load_scheme(DEFAULT_SCHEME)
    cache = out / "train_hand.npz"
    if cache.is_file():
        z = np.load(cache)
        images, points = z["images"], z["points"]
    else:
        data, _, _ = load_training(cohort / "train", scheme, settings, progress=False)
        images, points = np.stack(data["hand"].loc_images), np.stack(data["hand"].loc_points)
        np.savez(cache, images=images, points=points)
    folder = scan_folder(cohort / "test")
    tests = []
    for patient in folder.patients:
        for limb, path in sorted(folder.images[patient].items()):
            if kind_of(limb) == "hand":
                img = read_grey(path)
                tests.append((folder.stem(patient, limb), img.shape, *canonical(img, limb, settings.loc_size)))
    names = scheme.landmarks["hand"]
    for seed in seeds:
        path = out / f"seed{seed}.csv"
        t0 = time.perf_counter()
        model = train_localizer(images, points, steps=settings.loc_steps, epochs=settings.loc_epochs,
                                base=settings.loc_base, depth=settings.loc_depth, sigma=settings.loc_sigma,
                                seed=seed, progress=False)
        rows = []
        for stem, (h, w), cimg, frame in tests:
            found, _ = predict_canonical(model, cimg[None], both_ways=settings.both_ways)
            xy = frame.to_stored(found[0])
            xy[:, 0], xy[:, 1] = np.clip(xy[:, 0], 0, w - 1), np.clip(xy[:, 1], 0, h - 1)
            rows += [{"image": stem, "landmark": n, "x": x, "y": y, "width": w, "height": h}
                     for n, (x, y) in zip(names, xy)]
        write_landmarks(pd.DataFrame(rows), path)
        print(f"hand localizer, seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(s) for s in sys.argv[3:]])
