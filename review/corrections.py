"""A reader's corrections: the page's edits applied to the predictions and landmarks a site was built from.

Edits are what the page keeps: ``{"scores": {patient: {joint column: value}},
"landmarks": {image stem: {landmark: [x, y]}}}`` and, optionally, ``"review": {patient: "reviewed"}``
(the patients a reader marked reviewed).  ``save_corrections`` checks every edit (known patient,
joint column, value within the column's range; known landmark, finite coordinates inside its
image: 0 <= x < width, 0 <= y < height of the image the site was built from; known patient marked
"reviewed") and writes, each atomically, into ``SITE/corrections/``:

* ``predictions.csv``: the predictions with the corrected joints, in the source file's row and
  column order (valid under ``ra2 validate``).  The totals are the method's own (calibrated, not
  sums of the joints): a patient nobody edited keeps every predicted value as read; an edited
  patient's totals move by the edited joints' differences, new - predicted (``moved_totals``);
* ``landmarks.csv``: the landmark file with the moved landmarks (image,landmark,x,y and any extras);
* ``review_state.csv``: Patient_ID,state for every patient (``review_states``);
* ``edits.json``: the edits themselves, which the page reloads.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from challenge.catalogue import (BY_COLUMN, EROSION_COLUMNS, ID, JOINT_COLUMNS, NARROWING_COLUMNS, TOTAL,
                                 TOTAL_EROSION, TOTAL_NARROWING)
from challenge.errors import UsageError
from challenge.outputs import write_json

CORRECTIONS = "corrections"
#: a patient's review state: nobody marked it, a reader marked it reviewed, or it has edits
NOT_REVIEWED, REVIEWED, CORRECTED = "not reviewed", "reviewed", "corrected"
#: the decimals of a moved total (sums of floats; an untouched value is written as read)
TOTAL_DECIMALS = 6


class CorrectionError(UsageError):
    """Edits that cannot be applied (unknown patient, column or landmark, a value out of range)."""


def site_index(site: str | Path) -> dict:
    """The site's ``data/index.js`` as a dict."""
    path = Path(site) / "data" / "index.js"
    try:
        text = path.read_text(encoding="utf-8")
        head = "window.RA2_INDEX = "
        if not text.startswith(head):
            raise ValueError("it does not assign window.RA2_INDEX")
        return json.loads(text[len(head):].rstrip().rstrip(";"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{site}: not a review site written by 'ra2 review' ({path}: {exc})") from exc


def _patient_page(site: Path, key: str) -> dict:
    """A patient's ``data/patients/KEY.js`` as a dict."""
    path = site / "data" / "patients" / f"{key}.js"
    try:
        text = path.read_text(encoding="utf-8").strip()
        head, tail = "RA2_LOADED(", ");"
        if not (text.startswith(head) and text.endswith(tail)):
            raise ValueError("it does not call RA2_LOADED")
        return json.loads(text[len(head):-len(tail)])
    except (OSError, ValueError) as exc:
        raise UsageError(f"{site}: a broken review site ({path}: {exc})") from exc


def image_sizes(site: str | Path, stems) -> dict:
    """{image stem: (width, height)} in pixels of the images the site was built from (the landmarks'
    frame), for the patients of ``stems``; an image the site could not read has none."""
    site = Path(site)
    keys = {p["id"]: p["key"] for p in site_index(site)["patients"]}
    sizes = {}
    for pid in {str(stem).rsplit("-", 1)[0] for stem in stems} & keys.keys():
        for image in _patient_page(site, keys[pid])["images"].values():
            if image.get("width") and image.get("height"):
                sizes[image["stem"]] = (image["width"], image["height"])
    return sizes


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CorrectionError(f"{where}: {value!r} is not a finite number")
    return float(value)


def check_edits(edits) -> dict:
    """The edits' structure (two dicts of dicts, and a "review" dict of "reviewed" when given), or
    ``CorrectionError``."""
    if not isinstance(edits, dict) or not isinstance(edits.get("scores", {}), dict) \
            or not isinstance(edits.get("landmarks", {}), dict) or not isinstance(edits.get("review", {}), dict):
        raise CorrectionError("edits must be {'scores': {...}, 'landmarks': {...}}")
    for part in ("scores", "landmarks"):
        for key, inner in edits.get(part, {}).items():
            if not isinstance(inner, dict):
                raise CorrectionError(f"edits {part}[{key!r}] must be an object")
    for key, mark in edits.get("review", {}).items():
        if mark != REVIEWED:
            raise CorrectionError(f"edits review[{key!r}] must be {REVIEWED!r}, not {mark!r}")
    out = {"scores": edits.get("scores", {}), "landmarks": edits.get("landmarks", {})}
    if "review" in edits:
        out["review"] = edits["review"]
    return out


def moved_totals(predicted, corrected, patients):
    """``corrected`` with the totals of ``patients`` moved by their joints' differences from
    ``predicted`` (new - predicted, per damage; never below 0) and every other patient's totals as
    predicted: the method's totals are calibrated, not sums, so an edit shifts them and never resums them."""
    out = corrected.copy()
    out[list((TOTAL, TOTAL_EROSION, TOTAL_NARROWING))] = predicted[[TOTAL, TOTAL_EROSION, TOTAL_NARROWING]]
    for pid in patients:
        ero = float((corrected.loc[pid, list(EROSION_COLUMNS)] - predicted.loc[pid, list(EROSION_COLUMNS)]).sum())
        nar = float((corrected.loc[pid, list(NARROWING_COLUMNS)]
                     - predicted.loc[pid, list(NARROWING_COLUMNS)]).sum())
        for col, delta in ((TOTAL_EROSION, ero), (TOTAL_NARROWING, nar), (TOTAL, ero + nar)):
            if delta:
                out.at[pid, col] = max(0.0, round(float(predicted.at[pid, col]) + delta, TOTAL_DECIMALS))
    return out


def review_states(patients, edits: dict) -> dict:
    """{patient: state} for ``patients``: "corrected" with an edited score or moved landmark,
    else "reviewed" when marked, else "not reviewed" (what the page shows and downloads)."""
    edits = check_edits(edits)
    moved = {str(stem).rsplit("-", 1)[0] for stem, points in edits["landmarks"].items() if points}
    marked = edits.get("review", {})
    return {pid: CORRECTED if edits["scores"].get(pid) or pid in moved else REVIEWED if pid in marked
            else NOT_REVIEWED for pid in patients}


def apply_edits(site: str | Path, edits: dict):
    """(corrected scores, the CSV column order, corrected landmarks frame or None)."""
    from challenge.landmarks import read_landmarks
    from challenge.tables import as_scores, read_table

    site = Path(site)
    edits = check_edits(edits)
    frame = read_table(site / "data" / "source" / "predictions.csv")
    columns = list(frame.columns)
    predicted = as_scores(frame)
    scores = predicted.copy()
    for pid in edits.get("review", {}):
        if pid not in scores.index:
            raise CorrectionError(f"patient {pid!r} (marked reviewed) is not in the predictions")
    for pid, cells in edits["scores"].items():
        if pid not in scores.index:
            raise CorrectionError(f"patient {pid!r} is not in the predictions")
        for col, value in cells.items():
            if col not in JOINT_COLUMNS:
                raise CorrectionError(f"patient {pid}: {col!r} is not a joint score column")
            v = _number(value, f"patient {pid}, column {col}")
            top = BY_COLUMN[col].max_score
            if not 0 <= v <= top:
                raise CorrectionError(f"patient {pid}, column {col}: {v:g} is outside 0-{top}")
            scores.at[pid, col] = v
    scores = moved_totals(predicted, scores, [pid for pid, cells in edits["scores"].items() if cells])
    landmarks = None
    source = site / "data" / "source" / "landmarks.csv"
    if source.is_file():
        landmarks = read_landmarks(source)
        where = {(im, lm): i for i, (im, lm) in enumerate(zip(landmarks["image"], landmarks["landmark"]))}
        sizes = image_sizes(site, edits["landmarks"])
        for stem, moved in edits["landmarks"].items():
            for name, xy in moved.items():
                if (stem, name) not in where:
                    raise CorrectionError(f"image {stem!r} has no landmark {name!r} in the landmark file")
                if not isinstance(xy, (list, tuple)) or len(xy) != 2:
                    raise CorrectionError(f"image {stem}, landmark {name}: expected [x, y], got {xy!r}")
                x, y = (_number(v, f"image {stem}, landmark {name}") for v in xy)
                if stem not in sizes:
                    raise CorrectionError(f"image {stem}, landmark {name}: the site shows no image {stem} "
                                          "(unreadable or not in the predictions), so it cannot be moved")
                w, h = sizes[stem]
                if not (0 <= x < w and 0 <= y < h):
                    raise CorrectionError(f"image {stem}, landmark {name}: ({x:g}, {y:g}) lies outside the "
                                          f"{w}x{h} px image")
                row = landmarks.index[where[(stem, name)]]
                landmarks.loc[row, ["x", "y"]] = [x, y]
    elif edits["landmarks"]:
        raise CorrectionError("the site was built without a landmark file: no landmark can be moved")
    return scores, columns, landmarks




def save_corrections(site: str | Path, edits: dict, folder: str | Path | None = None) -> dict:
    """Check and apply the edits, write predictions.csv, landmarks.csv, review_state.csv and edits.json
    atomically; returns {'folder', 'files', 'saved', 'scores', 'landmarks', 'reviewed'} (counts of
    corrected cells and points, of patients reviewed or corrected)."""
    import pandas as pd

    from challenge.landmarks import write_landmarks
    from challenge.outputs import write_csv
    from challenge.tables import template_frame, write_scores

    site = Path(site)
    scores, columns, landmarks = apply_edits(site, edits)
    out = Path(folder) if folder is not None else site / CORRECTIONS
    out.mkdir(parents=True, exist_ok=True)
    files = [write_scores(scores, out / "predictions.csv", template_frame(list(scores.index), columns=columns),
                          recompute_totals=False, decimals=None)]
    if landmarks is not None:
        files.append(write_landmarks(landmarks, out / "landmarks.csv"))
    edits = check_edits(edits)
    states = review_states(list(scores.index), edits)
    files.append(write_csv(out / "review_state.csv", pd.DataFrame({ID: list(states), "state": list(states.values())})))
    saved = time.strftime("%H:%M:%S")
    write_json(out / "edits.json", {"saved": time.strftime("%Y-%m-%d %H:%M:%S"), "edits": edits}, indent=1)
    files.append(out / "edits.json")
    return {"folder": str(out), "files": [str(f) for f in files], "saved": saved,
            "scores": sum(len(v) for v in edits["scores"].values()),
            "landmarks": sum(len(v) for v in edits["landmarks"].values()),
            "reviewed": sum(state != NOT_REVIEWED for state in states.values())}


def saved_edits(site: str | Path, folder: str | Path | None = None) -> dict:
    """What was saved last ({'edits': ..., 'saved': time}) or empty edits."""
    path = (Path(folder) if folder is not None else Path(site) / CORRECTIONS) / "edits.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {"edits": check_edits(doc.get("edits")), "saved": doc.get("saved")}
    except FileNotFoundError:
        return {"edits": {"scores": {}, "landmarks": {}}, "saved": None}
    except (OSError, ValueError, CorrectionError) as exc:
        raise UsageError(f"{path}: unreadable saved corrections ({exc}); move it away to start afresh") from exc
