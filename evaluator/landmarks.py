"""The paper's localisation metric: share of landmarks within a normalised distance.

The distance between a predicted and a gold point is taken after dividing x by
the image width and y by its height (so 0.02 is 2 % of the image); the shares of
points within 0.01 and within 0.02 (the threshold) and the median distance are
reported overall and per joint group, as the landmark scheme groups them (finger,
wrist, toe for the built-in schemes).  A gold point with no prediction counts as a miss.
Image names and landmark names are matched as ``challenge.landmarks.normalise_landmarks``
does (file extensions and letter case aside).

``ra2 score-landmarks PRED --gold LANDMARKS [--images DIR] [--scheme NAME]``: image
sizes come from the images (header only) or from ``width``/``height`` columns in a file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from challenge.errors import UsageError
from challenge.schemes import DEFAULT_SCHEME, Scheme, default_group, load_scheme

THRESHOLD = 0.02
#: the finer share reported beside the threshold's
FINE = 0.01
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


def _group(scheme: Scheme | None, image: str, landmark: str) -> str:
    from challenge.landmarks import kind_of_stem

    kind = kind_of_stem(image)
    kinds = [kind] if kind else ["hand", "foot"]
    for k in kinds:
        if scheme is not None and landmark in scheme.groups.get(k, {}):
            return scheme.group_of(k, landmark)
    return default_group(kinds[0], landmark)


def point_distances(pred: pd.DataFrame, gold: pd.DataFrame, sizes: dict[str, tuple[int, int]],
                    scheme: Scheme | None = None) -> pd.DataFrame:
    """One row per gold point: image, landmark, group (the scheme's), normalised distance (inf where not
    predicted)."""
    scheme = scheme if scheme is not None else load_scheme(DEFAULT_SCHEME)
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
                         "group": [_group(scheme, i, n) for i, n in zip(merged["image"], merged["landmark"])],
                         "distance": dist})


def _summary(d: np.ndarray, threshold: float, fine: float = FINE) -> dict:
    finite = d[np.isfinite(d)]
    q = (lambda p: float(np.quantile(finite, p)) if len(finite) else None)
    return {"n": int(len(d)), "missing": int(np.sum(~np.isfinite(d))),
            "within": float(np.mean(d <= threshold)) if len(d) else None,
            "within_fine": float(np.mean(d <= fine)) if len(d) else None,
            "median": q(0.5), "p90": q(0.9), "p95": q(0.95), "max": float(finite.max()) if len(finite) else None}


def localisation_metric(pred: pd.DataFrame, gold: pd.DataFrame, sizes: dict[str, tuple[int, int]], *,
                        threshold: float = THRESHOLD, fine: float = FINE, scheme: Scheme | None = None) -> dict:
    """Shares within ``fine`` and ``threshold`` and distance quantiles, overall and per joint group
    (the scheme's groups: finger, wrist, toe for the built-in schemes)."""
    points = point_distances(pred, gold, sizes, scheme)
    out = {"threshold": threshold, "fine": fine, "all": _summary(points["distance"].to_numpy(), threshold, fine),
           "groups": {}}
    found = list(dict.fromkeys(points["group"]))
    for group in [g for g in GROUPS if g in found] + sorted(g for g in found if g not in GROUPS):
        d = points.loc[points["group"] == group, "distance"].to_numpy()
        out["groups"][group] = _summary(d, threshold, fine)
    return out


def score_landmark_files(pred_path, gold_path, images_dir=None, *, threshold: float = THRESHOLD,
                         fine: float = FINE, scheme: Scheme | str | None = None) -> dict:
    """``localisation_metric`` of two landmark CSV files (names normalised to the scheme's; a gold
    landmark the scheme does not know is still scored, in its default group)."""
    import logging

    from challenge.landmarks import normalise_landmarks, read_landmarks

    if not (np.isfinite(threshold) and threshold > 0):
        raise UsageError(f"--threshold {threshold}: must be a number above 0")
    scheme = load_scheme(scheme or DEFAULT_SCHEME) if not isinstance(scheme, Scheme) else scheme
    frames = []
    for path in (pred_path, gold_path):
        report = normalise_landmarks(read_landmarks(path), None, file=str(path))
        frame = report.frame
        for kind, names in scheme.landmarks.items():     # the scheme's spelling, in any letter case
            spelled = {n.casefold(): n for n in names}
            frame["landmark"] = [spelled.get(n.casefold(), n) if _kind(i) in (kind, None) else n
                                 for i, n in zip(frame["image"], frame["landmark"])]
        for w in report.warnings:
            logging.getLogger(__name__).warning("%s", w)
        frames.append(frame)
    pred, gold = frames
    by_case = {}
    for image in gold["image"]:                        # a patient id in another letter case is the same image
        by_case.setdefault(image.casefold(), image)
    pred["image"] = [by_case.get(i.casefold(), i) for i in pred["image"]]
    sizes = _sizes_from_columns(pred, gold)
    if images_dir is not None:
        sizes.update(image_sizes(images_dir))
    result = localisation_metric(pred, gold, sizes, threshold=threshold, fine=fine, scheme=scheme)
    result.update(pred=str(pred_path), gold=str(gold_path), scheme=scheme.name)
    return result


def _kind(image: str):
    from challenge.landmarks import kind_of_stem

    return kind_of_stem(image)


def format_result(result: dict) -> str:
    fine = result.get("fine", FINE)
    lines = [f"share of landmarks within a normalised distance of {fine:g} and {result['threshold']:g}, "
             "and the median distance:"]
    rows = [("all", result["all"])] + list(result["groups"].items())
    width = max(7, *(len(n) for n, _ in rows))
    for name, s in rows:
        med = "n/a" if s["median"] is None else f"{s['median']:.4f}"
        p95 = "n/a" if s["p95"] is None else f"{s['p95']:.4f}"
        lines.append(f"  {name:<{width}} {100 * s['within_fine']:6.2f} % within {fine:g}   "
                     f"{100 * s['within']:6.2f} % within {result['threshold']:g}   median {med}   p95 {p95}   "
                     f"(n={s['n']}, missing={s['missing']})")
    return "\n".join(lines)


def register(sub) -> None:
    p = sub.add_parser("score-landmarks", help="localisation metric of predicted landmarks",
                       description="Share of predicted landmarks within a normalised distance (x / width, "
                                   "y / height) of the gold points, per joint group, and the distance distribution.")
    p.add_argument("pred", help="predicted landmarks CSV (image,landmark,x,y)")
    p.add_argument("--gold", required=True, help="gold landmarks CSV (image,landmark,x,y)")
    p.add_argument("--images", metavar="DIR", help="the images, for their sizes (else width/height columns)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="normalised distance (default 0.02; the "
                   "share within 0.01 is shown beside it)")
    p.add_argument("--scheme", default=DEFAULT_SCHEME, metavar="NAME_OR_FILE",
                   help="landmark scheme whose joint groups the figures are given for (default svh21)")
    p.add_argument("--json", metavar="OUT", help="write the figures to this JSON file")
    p.set_defaults(func=cmd_score_landmarks)


def cmd_score_landmarks(args) -> int:
    from challenge.outputs import check_output_file, input_files, write_json

    if args.json:
        check_output_file(args.json, "--json", [args.pred, args.gold, *(input_files(args.images) if args.images
                                                                         else [])])
    scheme = load_scheme(args.scheme)
    result = score_landmark_files(args.pred, args.gold, args.images, threshold=args.threshold, scheme=scheme)
    print(format_result(result))
    if args.json:
        write_json(args.json, result)
    return 0
