"""The paper's localisation metric: share of landmarks within a normalised distance.

The distance between a predicted and a gold point is taken after dividing x by
the image width and y by its height (so 0.02 is 2 % of the image); the shares of
points within 0.01 and within 0.02 (the threshold) and the median distance are
reported overall and per joint group, as the landmark scheme groups them (finger,
wrist, toe for the built-in schemes).  A gold point with no prediction counts as a miss.
Image names and landmark names are matched as ``challenge.landmarks.normalise_landmarks``
does (file extensions and letter case aside).

``score_landmark_files`` (``ra2 score-landmarks``): image sizes come from the images (header
only) or from ``width``/``height`` columns in a file.  Predicted images and landmarks that match
nothing in the gold file are listed in its warnings; when no predicted point matches a gold point
there is no result (``UsageError`` naming both files).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from challenge.catalogue import KINDS
from challenge.errors import ParameterError, UsageError, listed
from challenge.schemes import DEFAULT_SCHEME, Scheme, default_group, load_scheme

THRESHOLD = 0.02
#: the finer share reported beside the threshold's
FINE = 0.01
GROUPS = ("finger", "wrist", "toe")


def _group(scheme: Scheme | None, image: str, landmark: str) -> str:
    from challenge.landmarks import kind_of_stem

    kind = kind_of_stem(image)
    kinds = [kind] if kind else list(KINDS)
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
        raise UsageError(f"no image size for {len(unknown)} predicted image(s) ({listed(unknown, 3)}): give the "
                         "folder of the images or width/height columns")
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
    landmark the scheme does not know is still scored, in its default group), with ``warnings``: the
    files' own, and the predicted images and landmarks that match nothing in the gold file.  Raises
    ``UsageError`` when no predicted point matches a gold point."""
    from challenge.landmarks import image_sizes, normalise_landmarks, read_landmarks, sizes_from_columns

    if not (np.isfinite(threshold) and threshold > 0):
        raise ParameterError("threshold", threshold, "must be a number above 0")
    scheme = load_scheme(scheme or DEFAULT_SCHEME) if not isinstance(scheme, Scheme) else scheme
    frames, warnings = [], []
    for path in (pred_path, gold_path):
        report = normalise_landmarks(read_landmarks(path), None, file=str(path))
        frame = report.frame
        for kind, names in scheme.landmarks.items():     # the scheme's spelling, in any letter case
            spelled = {n.casefold(): n for n in names}
            frame["landmark"] = [spelled.get(n.casefold(), n) if _kind(i) in (kind, None) else n
                                 for i, n in zip(frame["image"], frame["landmark"])]
        warnings.extend(report.warnings)
        frames.append(frame)
    pred, gold = frames
    by_case = {}
    for image in gold["image"]:                        # a patient id in another letter case is the same image
        by_case.setdefault(image.casefold(), image)
    pred["image"] = [by_case.get(i.casefold(), i) for i in pred["image"]]
    warnings.extend(_unmatched(pred, gold, pred_path, gold_path))
    sizes = sizes_from_columns(pred, gold)
    if images_dir is not None:
        sizes.update(image_sizes(images_dir))
    result = localisation_metric(pred, gold, sizes, threshold=threshold, fine=fine, scheme=scheme)
    result.update(pred=str(pred_path), gold=str(gold_path), scheme=scheme.name, warnings=warnings)
    return result


def _unmatched(pred: pd.DataFrame, gold: pd.DataFrame, pred_path, gold_path) -> list[str]:
    """Warnings listing the predicted images and landmark names that match nothing in the gold file;
    ``UsageError`` when no predicted point matches a gold point (nothing to score)."""
    points = set(zip(gold["image"], gold["landmark"]))
    predicted = list(zip(pred["image"], pred["landmark"]))
    if not points.intersection(predicted):
        raise UsageError(f"nothing matched: no predicted landmark of {pred_path} is a landmark of an image in "
                         f"{gold_path} (image and landmark names compared, letter case and file extensions aside)")
    images = set(gold["image"])
    strays = sorted({i for i, _ in predicted if i not in images})
    names = sorted({n for i, n in predicted if i in images and (i, n) not in points})
    out = []
    if strays:
        out.append(f"{pred_path}: {len(strays)} predicted image(s) are not in the gold file {gold_path} "
                   f"(ignored): {listed(strays)}")
    if names:
        out.append(f"{pred_path}: landmark name(s) {listed(names)} match no gold landmark of their images in "
                   f"{gold_path} (ignored)")
    return out


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
