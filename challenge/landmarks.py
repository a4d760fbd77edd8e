"""Landmark files: CSV ``image,landmark,x,y`` in pixels, and import from labelme JSON.

``image`` is the image file's stem (``PHT0001-LH``), ``landmark`` a scheme's
landmark name without side prefix (``pip2``, ``mtp1``), ``x``/``y`` pixel
coordinates in the image *as stored* (x to the right, y down).  Extra columns
(for example ``width``/``height`` of the image) are kept when reading.

labelme (the annotation tool) writes one JSON file per image; every ``point``
shape's label is a landmark name.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UsageError
from .tables import write_atomic

log = logging.getLogger(__name__)

LANDMARK_COLUMNS = ("image", "landmark", "x", "y")


class LandmarkError(UsageError):
    """A landmark file that cannot be used."""


def read_landmarks(path: str | Path) -> pd.DataFrame:
    """A landmark CSV as a frame with columns image, landmark (text), x, y (float) and any extras.

    Raises ``LandmarkError`` naming the file, line and column of the first problems.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"image": str, "landmark": str}, keep_default_na=False,
                            na_values=[""], encoding="utf-8-sig", skipinitialspace=True)
    except FileNotFoundError as exc:
        raise LandmarkError(f"{path}: no such file") from exc
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise LandmarkError(f"{path}: not a landmark CSV file ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in LANDMARK_COLUMNS if c not in frame.columns]
    if missing:
        raise LandmarkError(f"{path}: missing column(s) {missing} (expected header {','.join(LANDMARK_COLUMNS)})")
    problems = []
    for col in ("image", "landmark"):
        frame[col] = frame[col].fillna("").astype(str).str.strip()
        for i in np.flatnonzero(frame[col].to_numpy() == ""):
            problems.append(f"line {i + 2}, column {col}: empty cell")
    for col in ("x", "y"):
        values = pd.to_numeric(frame[col], errors="coerce")
        for i in np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float))):
            problems.append(f"line {i + 2}, column {col}: not a number: {frame[col].iloc[i]!r}")
        frame[col] = values.astype(float)
    dup = frame.duplicated(["image", "landmark"], keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        problems.append(f"line {i + 2}: landmark {frame['landmark'].iloc[i]!r} of image "
                        f"{frame['image'].iloc[i]!r} appears twice")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise LandmarkError(f"{path}: " + f"\n{path}: ".join(problems[:10]) + more)
    frame.attrs["path"] = str(path)
    return frame


def write_landmarks(frame: pd.DataFrame, path: str | Path, *, decimals: int = 2) -> Path:
    """Write landmarks (columns image, landmark, x, y; extras kept after them) atomically, sorted."""
    missing = [c for c in LANDMARK_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"landmark frame lacks column(s) {missing}")
    extras = [c for c in frame.columns if c not in LANDMARK_COLUMNS]
    out = frame[list(LANDMARK_COLUMNS) + extras].copy()
    out[["x", "y"]] = out[["x", "y"]].astype(float).round(decimals)
    return write_atomic(out, path)


def landmark_table(frame: pd.DataFrame) -> dict[str, dict[str, tuple[float, float]]]:
    """image stem -> landmark -> (x, y)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for image, name, x, y in frame[list(LANDMARK_COLUMNS)].itertuples(index=False):
        out.setdefault(image, {})[name] = (float(x), float(y))
    return out


def _labelme_file(path: Path) -> list[dict]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LandmarkError(f"{path}: not a labelme JSON file ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise LandmarkError(f"{path}: not a labelme JSON file (no 'shapes' list)")
    image = Path(str(doc.get("imagePath") or path.name)).stem
    rows, seen = [], set()
    for k, shape in enumerate(doc["shapes"]):
        label = str(shape.get("label", "")).strip()
        kind = shape.get("shape_type") or "point"
        if kind != "point":
            log.warning("%s: shape %d (%r) is a %s, not a point: ignored", path, k, label, kind)
            continue
        points = shape.get("points") or []
        if not label or len(points) != 1 or len(points[0]) != 2:
            raise LandmarkError(f"{path}: shape {k}: a point needs a label and exactly one [x, y] pair")
        if label in seen:
            raise LandmarkError(f"{path}: landmark {label!r} is labelled twice")
        seen.add(label)
        x, y = (float(v) for v in points[0])
        rows.append({"image": image, "landmark": label, "x": x, "y": y})
    return rows


def import_labelme(paths) -> pd.DataFrame:
    """Landmarks from labelme JSON files (or folders of them) as a landmark frame.

    The image is named by the file's ``imagePath`` stem (else the JSON file's stem).
    """
    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        p = Path(p)
        files.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    rows = []
    for f in files:
        rows.extend(_labelme_file(f))
    frame = pd.DataFrame(rows, columns=list(LANDMARK_COLUMNS))
    dup = frame.duplicated(["image", "landmark"])
    if dup.any():
        first = frame[dup].iloc[0]
        raise LandmarkError(f"image {first['image']!r} is annotated in more than one JSON file")
    return frame
