"""Landmark files: CSV ``image,landmark,x,y`` in pixels, and import from labelme JSON.

``image`` is the image file's stem (``PHT0001-LH``), ``landmark`` a scheme's
landmark name without side prefix (``pip2``, ``mtp1``), ``x``/``y`` pixel
coordinates in the image *as stored* (x to the right, y down).  Extra columns
(for example ``width``/``height`` of the image) are kept when reading.

Files as users write them are accepted by ``normalise_landmarks``: an ``image``
cell may be a file name with its extension (``UAB001-LH.jpg``, ``.png``, ``.dcm``)
or a stem, in any letter case (it becomes the stem the dataset scanner uses); a
landmark name matches the scheme in any case (it becomes the scheme's spelling).
A name the scheme does not know is a warning (an error only when no name of a limb
kind matches), and a point outside its image an error naming image, landmark and
size: it usually means 0-1 normalised or swapped x/y coordinates.

labelme (the annotation tool) writes one JSON file per image; every ``point``
shape's label is a landmark name (``ra2 landmarks import DIR --out landmarks.csv``).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd

from .catalogue import KINDS, kind_of
from .errors import SHOWN, UsageError, listed, problem_lines
from .tables import write_atomic

log = logging.getLogger(__name__)

LANDMARK_COLUMNS = ("image", "landmark", "x", "y")
#: extensions an ``image`` cell may carry (dropped: the landmark file names images by stem)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".dcm", ".dicom", ".tif", ".tiff", ".bmp")
_STEM = re.compile(r"^(?P<pid>.+)-(?P<limb>LH|RH|LF|RF)$", re.IGNORECASE)


class LandmarkError(UsageError):
    """A landmark file that cannot be used."""


def read_landmarks(path: str | Path) -> pd.DataFrame:
    """A landmark CSV as a frame with columns image, landmark (text), x, y (float) and any extras;
    ``image`` cells as stems (``image_stem``: a file extension dropped, the limb upper-cased).

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
    # header names in any letter case (Image,Landmark,X,Y)
    frame.columns = [str(c).strip().lower() if str(c).strip().lower() in LANDMARK_COLUMNS else str(c).strip()
                     for c in frame.columns]
    missing = [c for c in LANDMARK_COLUMNS if c not in frame.columns]
    if missing:
        hint = next((f"; the header is separated by {sep!r}, write commas" for sep in (";", "\t")
                     if len(frame.columns) == 1 and sep in frame.columns[0]), "")
        raise LandmarkError(f"{path}: missing column(s) {missing} (expected header {','.join(LANDMARK_COLUMNS)})"
                            f"{hint}")
    problems = []
    for col in ("image", "landmark"):
        frame[col] = frame[col].fillna("").astype(str).str.strip()
        for i in np.flatnonzero(frame[col].to_numpy() == ""):
            problems.append(f"line {i + 2}, column {col}: empty cell")
    frame["image"] = [image_stem(c) if c else c for c in frame["image"]]      # UAB001-lh.jpg -> UAB001-LH
    for col in ("x", "y"):
        values = pd.to_numeric(frame[col], errors="coerce")
        for i in np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float))):
            problems.append(f"line {i + 2}, column {col}: {_not_a_number(frame[col].iloc[i])}")
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


def _not_a_number(cell) -> str:
    """What is wrong with a coordinate cell, in the user's words (pandas has parsed some of them already)."""
    if isinstance(cell, str):
        return f"not a number: {cell!r}"
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return "empty cell or NaN; give the pixel coordinate"
    return f"not a finite number: {float(cell):g}"


def write_landmarks(frame: pd.DataFrame, path: str | Path, *, decimals: int = 2) -> Path:
    """Write landmarks (columns image, landmark, x, y; extras kept after them) atomically, sorted."""
    missing = [c for c in LANDMARK_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"landmark frame lacks column(s) {missing}")
    extras = [c for c in frame.columns if c not in LANDMARK_COLUMNS]
    out = frame[list(LANDMARK_COLUMNS) + extras].copy()
    out[["x", "y"]] = out[["x", "y"]].astype(float).round(decimals)
    return write_atomic(out, path)


class Caseless(dict):
    """A dict whose text keys are also found in another letter case (``PIP2`` finds ``pip2``)."""

    def _key(self, name):
        if dict.__contains__(self, name):
            return name
        folded = str(name).casefold()
        return next((k for k in self if str(k).casefold() == folded), name)

    def __getitem__(self, name):
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name):
        return dict.__contains__(self, self._key(name))

    def get(self, name, default=None):
        return dict.get(self, self._key(name), default)


def landmark_table(frame: pd.DataFrame) -> dict[str, dict[str, tuple[float, float]]]:
    """image stem -> landmark -> (x, y); image stems and landmark names are found in any letter case."""
    out: dict[str, dict[str, tuple[float, float]]] = Caseless()
    for image, name, x, y in frame[list(LANDMARK_COLUMNS)].itertuples(index=False):
        out.setdefault(image, Caseless())[name] = (float(x), float(y))
    return out


def _labelme_file(path: Path) -> list[dict]:
    """The rows of one labelme JSON file; ``LandmarkError`` naming the file (and the shape, by its index
    and label) for anything malformed.  Shapes other than points are logged and ignored."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise LandmarkError(f"{path}: not a labelme JSON file ({exc})") from exc
    if not isinstance(doc, dict):
        raise LandmarkError(f"{path}: not a labelme JSON file (the top level is {_json_kind(doc)}, not an object)")
    shapes = doc.get("shapes")
    if not isinstance(shapes, list):
        got = "no 'shapes' list" if shapes is None else f"'shapes' is {_json_kind(shapes)}, not a list"
        raise LandmarkError(f"{path}: not a labelme JSON file ({got})")
    named = doc.get("imagePath")
    if named is not None and not isinstance(named, str):
        raise LandmarkError(f"{path}: imagePath is {_json_kind(named)}, not the image's file name")
    image = image_stem(named or path.stem)
    size = {}
    for key, column in (("imageWidth", "width"), ("imageHeight", "height")):
        value = doc.get(key)
        if value is None:
            continue
        if not _is_number(value) or not float(value).is_integer() or value < 1:
            raise LandmarkError(f"{path}: {key} {json.dumps(value)[:40]} is not a whole number of pixels (at least 1)")
        size[column] = int(value)
    if len(size) < 2:
        size = {}                   # one of the two alone says nothing about the image
    rows, seen = [], {}
    for k, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise LandmarkError(f"{path}: shape {k}: is {_json_kind(shape)}, not a labelme shape (an object)")
        label = shape.get("label")
        label = "" if label is None else str(label).strip()
        kind = shape.get("shape_type") or "point"
        if kind != "point":
            log.warning("%s: shape %d (%r) is a %s, not a point: ignored", path, k, label, kind)
            continue
        where = f"{path}: shape {k} ({label!r})"
        if not label:
            raise LandmarkError(f"{where}: a point needs a label (the landmark name)")
        points = shape.get("points")
        if not isinstance(points, list) or len(points) != 1:
            count = f"{len(points)} points" if isinstance(points, list) else f"points is {_json_kind(points)}"
            raise LandmarkError(f"{where}: a point shape needs exactly one [x, y] pair ({count})")
        point = points[0]
        if not isinstance(point, list) or len(point) != 2:
            got = f"{len(point)} values" if isinstance(point, list) else _json_kind(point)
            raise LandmarkError(f"{where}: the point is not one [x, y] pair ({got})")
        bad = [(axis, v) for axis, v in zip("xy", point) if not _is_number(v) or not np.isfinite(float(v))]
        if bad:
            axis, v = bad[0]
            raise LandmarkError(f"{where}: {axis} {json.dumps(v)[:40]} is not a finite number")
        if label in seen:
            raise LandmarkError(f"{where}: landmark {label!r} is labelled twice (also shape {seen[label]})")
        seen[label] = k
        x, y = (float(v) for v in point)
        rows.append({"image": image, "landmark": label, "x": x, "y": y, **size, "where": where})
    return rows


def _is_number(value) -> bool:
    """A JSON number (not a boolean, not text) that fits a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _json_kind(value) -> str:
    """What a JSON value is, in words: 'a list', 'text', 'null' ..."""
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def import_labelme(paths) -> pd.DataFrame:
    """Landmarks from labelme JSON files (or folders of them) as a landmark frame.

    The image is named by the file's ``imagePath`` stem (else the JSON file's stem); the frame's
    ``attrs["where"]`` says where each row came from (file and shape), for the messages about it.
    """
    files: list[Path] = []
    for p in [paths] if isinstance(paths, (str, Path)) else paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.glob("*.json") if f.is_file())
            if not found:
                raise LandmarkError(f"{p}: no labelme .json files in the folder")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise LandmarkError(f"{p}: no such file or folder")
    files = list(dict.fromkeys(files))          # a file given both by itself and in its folder: read once
    rows, source = [], {}
    for f in files:
        got = _labelme_file(f)
        for r in got:
            key = (r["image"], r["landmark"])
            if key in source:
                raise LandmarkError(f"{f}: landmark {r['landmark']!r} of image {r['image']!r} is annotated in more "
                                    f"than one JSON file (also in {source[key]})")
            source[key] = f
        rows.extend(got)
    columns = list(LANDMARK_COLUMNS) + [c for c in ("width", "height") if any(c in r for r in rows)]
    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["where"] = [r["where"] for r in rows]
    return frame


# ------------------------------------------------------------------ files as users write them
def image_stem(cell: str) -> str:
    """The dataset scanner's stem for an ``image`` cell: folders and a known image extension dropped
    (any case), the limb upper-cased: ``uab001-lh.JPG`` -> ``uab001-LH``, ``C:\\x\\P1-RF.png`` -> ``P1-RF``."""
    name = PureWindowsPath(str(cell).strip()).name     # handles both / and \\
    stem, dot, ext = name.rpartition(".")
    if dot and "." + ext.lower() in IMAGE_EXTENSIONS and stem:
        name = stem
    m = _STEM.match(name)
    return f"{m.group('pid')}-{m.group('limb').upper()}" if m else name


def kind_of_stem(stem: str) -> str | None:
    """'hand' or 'foot' for a challenge image stem, None if it names no limb."""
    m = _STEM.match(stem)
    if not m:
        return None
    return kind_of(m.group("limb").upper())


@dataclass
class LandmarkReport:
    """A landmark frame normalised to the scheme and the folder, with every problem found."""

    frame: pd.DataFrame
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def raise_errors(self, file) -> None:
        if self.errors:
            raise LandmarkError(f"{file} cannot be used ({len(self.errors)} error(s)):\n{problem_lines(self.errors)}")


def normalise_landmarks(frame: pd.DataFrame, scheme=None, *, stems=None, sizes=None,
                        file: str | None = None) -> LandmarkReport:
    """Landmarks (from ``read_landmarks``) as the method reads them, and what is wrong with them.

    * ``image`` -> the scanner's stem (extension dropped, limb upper-cased); with ``stems``
      (the stems of the folder's images) matched to them in any case;
    * ``landmark`` -> the ``scheme``'s spelling of the name for the image's limb kind, in any case;
      names the scheme does not know: one warning per kind listing them beside the scheme's
      names (their rows are dropped), an error if no name of that kind matches;
    * with ``sizes`` (stem -> (width, height)): a point outside its image is an error naming the
      image, landmark and size; all points of the file (or of an image) within 0..1 is an error
      (normalised coordinates) even without sizes.
    A landmark given twice for one image after normalising is an error.
    """
    file = file or frame.attrs.get("path", "landmarks")
    out = frame.copy()
    report = LandmarkReport(out)
    where = frame.attrs.get("where")       # import_labelme's "FILE: shape K ('label')" of each row
    if where is not None and len(where) == len(out):
        at = dict(zip(out.index, where))
    else:
        at = {idx: f"{file}, line {i + 2}" for i, idx in enumerate(out.index)}
    out["image"] = [image_stem(c) for c in out["image"]]
    if stems is not None:
        by_case = {}
        for s in stems:
            by_case.setdefault(str(s).casefold(), str(s))
        out["image"] = [by_case.get(c.casefold(), c) for c in out["image"]]
        absent = sorted(set(out["image"]) - set(map(str, stems)))
        if absent:
            report.warnings.append(f"{file}: {len(absent)} image(s) have landmarks but no image file in the folder "
                                   f"(ignored): {listed(absent)}")
    kinds = out["image"].map(kind_of_stem)
    odd = sorted(set(out.loc[kinds.isna(), "image"]))
    if odd:
        report.warnings.append(f"{file}: {len(odd)} image name(s) are not challenge image names "
                               f"PATIENT-LH/RH/LF/RF: {listed(odd)}")
    keep = np.ones(len(out), bool)
    if stems is not None:
        keep &= ~out["image"].isin(absent).to_numpy()        # said to be ignored: they are
    if scheme is not None:
        names = out["landmark"].astype(str).str.strip().to_numpy(dtype=object)
        for kind in KINDS:
            rows = (kinds == kind).to_numpy()
            if not rows.any():
                continue
            known = {n.casefold(): n for n in scheme.landmarks.get(kind, ())}
            spelled = [known.get(str(n).casefold()) for n in names[rows]]
            unknown = sorted({str(n) for n, k in zip(names[rows], spelled) if k is None})
            names[rows] = [k if k is not None else n for n, k in zip(names[rows], spelled)]
            if unknown:
                said = (f"{file}: {kind} landmark name(s) {listed(unknown)} are not in scheme {scheme.name!r}, "
                        f"whose {kind} landmarks are {', '.join(scheme.landmarks.get(kind, ()))}")
                if all(k is None for k in spelled):
                    report.errors.append(said + " (no name matches: is it the right --scheme?)")
                else:
                    report.warnings.append(said + " (those rows are ignored)")
                keep &= ~(rows & np.isin(names, unknown))
        out["landmark"] = names
    dup = out.duplicated(["image", "landmark"], keep="first").to_numpy() & keep
    for idx in out.index[dup][:SHOWN]:
        report.errors.append(f"{at[idx]}: landmark {out.at[idx, 'landmark']!r} of image "
                             f"{out.at[idx, 'image']!r} is given twice (letter case and file extensions aside)")
    _check_units(out, keep, sizes, report, file, at)
    report.frame = out[keep].reset_index(drop=True)
    report.frame.attrs.update(frame.attrs)
    if "where" in frame.attrs:
        report.frame.attrs["where"] = [at[idx] for idx in out.index[keep]]
    return report


def _check_units(out: pd.DataFrame, keep, sizes, report: LandmarkReport, file, at) -> None:
    """Normalised (0..1) coordinates and points outside their images (``at``: index -> where the row is)."""
    used = out[keep]
    if not len(used):
        return
    xy = used[["x", "y"]].to_numpy(float)
    if np.nanmax(np.abs(xy)) <= 1.0:
        report.errors.append(f"{file}: every coordinate is between 0 and 1: they look normalised to the image size; "
                             "give x and y in pixels of the image as stored")
        return
    tiny = [img for img, g in used.groupby("image")
            if len(g) > 1 and np.nanmax(np.abs(g[["x", "y"]].to_numpy(float))) <= 1]
    for img in tiny[:SHOWN]:
        report.errors.append(f"{file}: image {img}: every point is between 0 and 1 (normalised coordinates?); "
                             "give pixels")
    if not sizes:
        return
    outside = []
    for idx, img, name, x, y in used[["image", "landmark", "x", "y"]].itertuples():
        size = sizes.get(img)
        if size is None or img in tiny:
            continue
        w, h = size
        if not (0 <= x <= w and 0 <= y <= h):
            outside.append((idx, img, name, x, y, w, h))
    for idx, img, name, x, y, w, h in outside[:SHOWN]:
        swapped = 0 <= y <= w and 0 <= x <= h
        hint = "x and y swapped?" if swapped else "0-1 normalised or swapped coordinates, or another image's points?"
        report.errors.append(f"{at[idx]}: image {img}, landmark {name}: point ({x:g}, {y:g}) lies "
                             f"outside the {w} x {h} image (x 0..{w}, y 0..{h}; {hint})")
    if len(outside) > SHOWN:
        report.errors.append(f"{file}: and {len(outside) - SHOWN} more points outside their images")


def load_landmarks(path: str | Path, scheme, *, stems=None, sizes=None, warn: bool = True) -> pd.DataFrame:
    """``read_landmarks`` + ``normalise_landmarks``: warnings logged (unless ``warn`` is False, e.g. when
    ``challenge.training.check_training_folder`` has said them already), errors raised as ``LandmarkError``."""
    report = normalise_landmarks(read_landmarks(path), scheme, stems=stems, sizes=sizes, file=str(path))
    for w in report.warnings if warn else ():
        log.warning("%s", w)
    report.raise_errors(path)
    return report.frame


def image_sizes(images) -> dict[str, tuple[int, int]]:
    """image stem -> (width, height) of every challenge image in a folder (a path or a scanned
    ``challenge.dataset.Folder``), read from the headers only; an unreadable image is left out.

    An image rotated by its EXIF tag reports the size it has once turned, as ``read_grey`` returns it.
    """
    from .dataset import Folder, scan_folder
    from .images import ImageReadError, image_size

    folder = images if isinstance(images, Folder) else scan_folder(images)
    out = {}
    for patient, limbs in folder.images.items():
        for limb, path in limbs.items():
            try:
                out[folder.stem(patient, limb)] = image_size(path)    # DICOM too; EXIF turns applied
            except ImageReadError:
                continue
    return out


def sizes_from_columns(*frames: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """image -> (width, height) from ``width``/``height`` columns of landmark frames (the first wins)."""
    out = {}
    for frame in frames:
        if {"width", "height"} <= set(frame.columns):
            for image, w, h in frame[["image", "width", "height"]].itertuples(index=False):
                if np.isfinite(w) and np.isfinite(h):
                    out.setdefault(image, (int(w), int(h)))
    return out


def import_landmarks(sources, scheme, images=None) -> pd.DataFrame:
    """``import_labelme`` + ``normalise_landmarks`` of labelme files or folders of them: image sizes from
    the JSON files and, with ``images`` (the image folder), from the images, whose stems the names are
    matched to; warnings logged, errors raised as ``LandmarkError``."""
    from .dataset import scan_folder

    sources = [Path(s) for s in sources]
    frame = import_labelme(sources)
    sizes, stems = sizes_from_columns(frame), None
    if images is not None:
        folder = scan_folder(images)
        stems = [folder.stem(p, limb) for p, limbs in folder.images.items() for limb in limbs]
        sizes.update(image_sizes(folder))
    report = normalise_landmarks(frame, scheme, stems=stems, sizes=sizes, file="the labelme files")
    for w in report.warnings:
        log.warning("%s", w)
    report.raise_errors(", ".join(map(str, sources)))
    return report.frame
