"""``ra2 review --uncertainty U.csv``: the method's own uncertainty (``ra2 predict --uncertainty-out``), read
and checked, for the site to colour and sort by.

The file has the columns ``Patient_ID,image,name,measure,value``, one row per analysed image and
measure (``submission.predict.uncertainty_rows``):

* ``scorer_sd``: ``name`` is a joint column; the spread (population sd) of the K out-of-fold scorers'
  answers for it, in the column's score units;
* ``heatmap_width``: ``name`` is a landmark; the root-mean-square distance of its final heatmap's
  probability from the point found, as a share of the image's long side;
* ``heatmap_peak``: the same map's height at its peak (0-1; a low, flat peak is an unsure landmark).

What the site receives (``for_site``): per patient the spread of each joint column and the patient's
sum of them, per image each landmark's width and peak (shown in its marker's tooltip and in the joint
strip; the width colours the markers), and the bounds of the "most uncertain" classes
(``cuts``): the top ``TOP`` share (10 %) and the next ``NEXT`` share (20 %) of all cells, and of all
landmarks.
No numpy or Keras beyond pandas: this module only reads a table.
"""
from __future__ import annotations

import math

import numpy as np

from challenge.catalogue import ID, JOINT_COLUMNS, LIMBS
from challenge.errors import UsageError
from challenge.tables import TableError, read_table

COLUMNS = (ID, "image", "name", "measure", "value")
MEASURES = ("scorer_sd", "heatmap_width", "heatmap_peak")
JOINTS = frozenset(JOINT_COLUMNS)
#: the share of cells (landmarks) coloured most uncertain, and the share after it coloured less strongly
TOP, NEXT = 0.10, 0.20


def read_uncertainty(path, patients) -> dict:
    """The uncertainty file for the ``patients`` of the predictions: ``{"spread": {pid: {column: sd}},
    "width": {pid: {limb: {landmark: width}}}, "peak": {pid: {limb: {landmark: peak}}}}``.  A file that is
    not one, or a row that cannot be one (unknown measure or column, a negative or non-finite value, an image of another patient, a
    row given twice) is a ``UsageError`` naming the file, its line and what is wrong; rows of
    patients not in the predictions are counted and skipped (``skipped``)."""
    try:
        frame = read_table(path)
    except TableError as exc:
        raise UsageError(f"--uncertainty: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(f"--uncertainty: {path}: no column {', '.join(missing)} (the file of ra2 predict "
                         f"--uncertainty-out has {','.join(COLUMNS)})")
    known = set(patients)
    spread: dict = {}
    width: dict = {}
    peak: dict = {}
    seen: set = set()
    skipped = 0
    for line, row in enumerate(frame[list(COLUMNS)].itertuples(index=False), start=2):
        pid, image, name, measure, text = (str(v).strip() if v is not None else "" for v in row)

        def bad(what: str):
            return UsageError(f"--uncertainty: {path}, line {line}: {what}")

        if measure not in MEASURES:
            raise bad(f"measure {measure!r} is none of {', '.join(MEASURES)}")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise bad(f"value {text!r} is not a finite number of at least 0")
        pid_part, _, limb = image.rpartition("-")
        if pid_part != pid or limb not in LIMBS:
            raise bad(f"image {image!r} is not {pid}-LIMB (LIMB one of {', '.join(LIMBS)})")
        if (image, name, measure) in seen:
            raise bad(f"{image} {name} {measure} is given twice")
        seen.add((image, name, measure))
        if measure == "scorer_sd":
            if name not in JOINTS or not name.startswith(limb + "_"):
                raise bad(f"{name!r} is not a joint column of {limb}")
        if pid not in known:
            skipped += 1
            continue
        if measure == "scorer_sd":
            spread.setdefault(pid, {})[name] = value
        elif measure == "heatmap_width":
            width.setdefault(pid, {}).setdefault(limb, {})[name] = value
        else:
            peak.setdefault(pid, {}).setdefault(limb, {})[name] = value
    if not spread and not width and not peak:
        raise UsageError(f"--uncertainty: {path}: no row of a patient of the predictions"
                         f"{f' ({skipped} row(s) of other patients)' if skipped else ''}")
    return {"spread": spread, "width": width, "peak": peak, "skipped": skipped}


def cuts(values, top: float = TOP, after: float = NEXT) -> list[float] | None:
    """The class bounds of the "most uncertain" colours: a value above the first is in the top ``top``
    share, one above the second (and not the first) in the next ``after`` share; each bound is the
    largest value left out of its share, so ties at a bound leave a class smaller, never larger, and 0
    is never coloured.  None without values."""
    v = np.sort(np.asarray(list(values), dtype=float))[::-1]
    if not len(v):
        return None
    n1, n2 = math.ceil(top * len(v) - 1e-9), math.ceil((top + after) * len(v) - 1e-9)
    return [float(v[n]) if n < len(v) else 0.0 for n in (n1, n2)]


def for_site(unc: dict, patients) -> dict:
    """What ``data/index.js`` carries: per patient its joints' spreads and their sum, the cut points of
    the cells' and the landmarks' classes (``cuts``)."""
    sd = unc["spread"]
    cells = [v for pid in patients for v in sd.get(pid, {}).values()]
    widths = [v for pid in patients for limb in unc["width"].get(pid, {}).values() for v in limb.values()]
    return {"cell_cuts": cuts(cells), "landmark_cuts": cuts(widths), "top": TOP, "next": NEXT,
            "cells": len(cells), "landmarks": len(widths)}
