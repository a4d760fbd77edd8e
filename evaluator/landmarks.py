"""The paper's localisation metric: share of landmarks within a normalised distance.

The distance between a predicted and a gold point is taken after dividing x by
the image width and y by its height (so 0.02 is 2 % of the image); the share of
points within 0.02 is reported per joint group (finger, wrist, toe) with the
distance distribution.  A gold point with no prediction counts as a miss.

``ra2 score-landmarks PRED --gold LANDMARKS [--images DIR]``: image sizes come
from the images (header only) or from ``width``/``height`` columns in a file.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from challenge.errors import UsageError
from challenge.schemes import landmark_group

THRESHOLD = 0.02
GROUPS = ("finger", "wrist", "toe")


def image_sizes(images_dir: str | Path) -> dict[str, tuple[int, int]]:
    """image stem -> (width, height) of every challenge image in a folder, read from the headers only.

    An image rotated by its EXIF tag reports the size it has once turned, as ``read_grey`` returns it.
    """
    from challenge.dataset import scan_folder
    from challenge.images import ImageReadError, image_size

    folder = scan_folder(images_dir)
    out = {}
    for patient, limbs in folder.images.items():
        for limb, path in limbs.items():
            try:
                out[folder.stem(patient, limb)] = image_size(path)    # DICOM too; EXIF turns applied
            except ImageReadError:
                continue
    return out


def _sizes_from_columns(*frames: pd.DataFrame) -> dict[str, tuple[int, int]]:
    out = {}
    for frame in frames:
        if {"width", "height"} <= set(frame.columns):
            for image, w, h in frame[["image", "width", "height"]].itertuples(index=False):
                if np.isfinite(w) and np.isfinite(h):
                    out.setdefault(image, (int(w), int(h)))
    return out


def point_distances(pred: pd.DataFrame, gold: pd.DataFrame, sizes: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per gold point: image, landmark, group, normalised distance (inf where not predicted)."""
    merged = gold[["image", "landmark", "x", "y"]].merge(
        pred[["image", "landmark", "x", "y"]], on=["image", "landmark"], how="left", suffixes=("_gold", "_pred"))
    predicted = merged["x_pred"].notna() & merged["y_pred"].notna()
    unknown = sorted(set(merged.loc[predicted, "image"]) - set(sizes))
    if unknown:
        raise UsageError(f"no image size for {len(unknown)} predicted image(s), e.g. {unknown[:3]}: give --images DIR "
                         "or width/height columns")
    size = merged["image"].map(lambda s: sizes.get(s, (np.nan, np.nan)))
    w = np.array([v[0] for v in size], float)
    h = np.array([v[1] for v in size], float)
    dx = (merged["x_pred"].to_numpy(float) - merged["x_gold"].to_numpy(float)) / w
    dy = (merged["y_pred"].to_numpy(float) - merged["y_gold"].to_numpy(float)) / h
    dist = np.sqrt(dx ** 2 + dy ** 2)
    dist[~np.isfinite(dist)] = np.inf
    return pd.DataFrame({"image": merged["image"], "landmark": merged["landmark"],
                         "group": merged["landmark"].map(landmark_group), "distance": dist})


def _summary(d: np.ndarray, threshold: float) -> dict:
    finite = d[np.isfinite(d)]
    q = (lambda p: float(np.quantile(finite, p)) if len(finite) else None)
    return {"n": int(len(d)), "missing": int(np.sum(~np.isfinite(d))),
            "within": float(np.mean(d <= threshold)) if len(d) else None,
            "median": q(0.5), "p90": q(0.9), "p95": q(0.95), "max": float(finite.max()) if len(finite) else None}


def localisation_metric(pred: pd.DataFrame, gold: pd.DataFrame, sizes: dict[str, tuple[int, int]], *,
                        threshold: float = THRESHOLD) -> dict:
    """Share within ``threshold`` and distance quantiles, overall and per group (finger, wrist, toe)."""
    points = point_distances(pred, gold, sizes)
    out = {"threshold": threshold, "all": _summary(points["distance"].to_numpy(), threshold), "groups": {}}
    for group in GROUPS:
        d = points.loc[points["group"] == group, "distance"].to_numpy()
        if len(d):
            out["groups"][group] = _summary(d, threshold)
    return out


def score_landmark_files(pred_path, gold_path, images_dir=None, *, threshold: float = THRESHOLD) -> dict:
    """``localisation_metric`` of two landmark CSV files."""
    from challenge.landmarks import read_landmarks

    pred, gold = read_landmarks(pred_path), read_landmarks(gold_path)
    sizes = _sizes_from_columns(pred, gold)
    if images_dir is not None:
        sizes.update(image_sizes(images_dir))
    result = localisation_metric(pred, gold, sizes, threshold=threshold)
    result.update(pred=str(pred_path), gold=str(gold_path))
    return result


def format_result(result: dict) -> str:
    lines = [f"share of landmarks within a normalised distance of {result['threshold']:g}:"]
    rows = [("all", result["all"])] + list(result["groups"].items())
    for name, s in rows:
        med = "n/a" if s["median"] is None else f"{s['median']:.4f}"
        p95 = "n/a" if s["p95"] is None else f"{s['p95']:.4f}"
        lines.append(f"  {name:<7} {100 * s['within']:6.2f} %  (n={s['n']}, missing={s['missing']}, "
                     f"median {med}, p95 {p95})")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("score-landmarks", help="localisation metric of predicted landmarks",
                       description="Share of predicted landmarks within a normalised distance (x / width, "
                                   "y / height) of the gold points, per joint group, and the distance distribution.")
    p.add_argument("pred", help="predicted landmarks CSV (image,landmark,x,y)")
    p.add_argument("--gold", required=True, help="gold landmarks CSV (image,landmark,x,y)")
    p.add_argument("--images", metavar="DIR", help="the images, for their sizes (else width/height columns)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="normalised distance (default 0.02)")
    p.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_score_landmarks)


def cmd_score_landmarks(args) -> int:
    result = score_landmark_files(args.pred, args.gold, args.images, threshold=args.threshold)
    print(format_result(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0
