"""Reading, checking and writing the challenge's CSV files, always by column name.

* ``read_table``: any challenge CSV as text cells (BOM, CRLF, quoting and
  trailing empty columns handled); raises ``TableError`` for unusable input.
* ``check_scores``: every problem of a predictions / gold / training file
  against a template, as ``Problem`` objects naming file, row and column.
* ``read_scores``: a checked score file as floats, indexed by Patient_ID, in
  catalogue column order whatever the file's order.
* ``write_predictions``: fill a template by name, keep its column order, totals
  as sums of the joints, written atomically.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .catalogue import (BY_COLUMN, COLUMNS, EROSION_COLUMNS, ID, JOINT_COLUMNS, NARROWING_COLUMNS,
                        SCORE_COLUMNS, TOTAL, TOTAL_EROSION, TOTAL_NARROWING, max_score)
from .errors import TableError, problem_lines  # TableError is also imported from here
from .outputs import write_csv


@dataclass(frozen=True)
class Problem:
    level: str          # "error" or "warning"
    file: str
    row: str | None     # the patient, or "line N" where there is no usable patient id
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{self.level}: {', '.join(where)}: {self.message}"


def _header(text: str) -> list[str]:
    end = text.find("\n")
    first = next(csv.reader([text if end < 0 else text[:end]]), [])
    return [h.strip() for h in first]


def read_table(path: str | Path) -> pd.DataFrame:
    """A challenge CSV as a frame: Patient_ID as text, other columns as floats where every
    cell parses (empty cells are NaN) and as stripped text otherwise.

    Handles a byte-order mark, CRLF line ends, quoted fields and trailing unnamed empty
    columns.  Raises ``TableError`` for a file that cannot be used at all.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TableError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if b"\x00" in raw[:65536]:
        raise TableError(f"{path}: not a text CSV file (it contains NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: not a text CSV file (byte {exc.start} is not UTF-8)") from exc
    if not text.strip():
        raise TableError(f"{path}: the file is empty")
    header = _header(text)
    while header and header[-1] == "":
        header.pop()                       # a spreadsheet's trailing commas
    if ID not in header:
        sep = next((c for c in (";", "\t") if len(header) == 1 and c in header[0]), None)
        hint = f"the columns are separated by {sep!r}; save it with commas" if sep else "is this a challenge CSV file?"
        raise TableError(f"{path}: no {ID} column in the header ({hint})")
    dupes = sorted({h for h in header if header.count(h) > 1})
    names, seen = [], {}
    for h in header:                       # make names unique so pandas can read; duplicates are reported
        seen[h] = seen.get(h, 0) + 1
        names.append(h if seen[h] == 1 else f"{h}\x00{seen[h]}")
    try:
        frame = pd.read_csv(io.StringIO(text), header=0, names=names, usecols=range(len(names)),
                            dtype={n: str for n in names if n == ID or n not in SCORE_COLUMNS},
                            keep_default_na=False, na_values=[""], skipinitialspace=True,
                            skip_blank_lines=True, index_col=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise TableError(f"{path}: not a well-formed CSV file ({str(exc).strip()})") from exc
    # the float parser reads "nan" as a missing value: re-read such columns as text to tell "" from "nan"
    gaps = [n for n in names if pd.api.types.is_numeric_dtype(frame[n]) and frame[n].isna().any()]
    if gaps:
        text_cols = pd.read_csv(io.StringIO(text), header=0, names=names, usecols=gaps, dtype=str,
                                keep_default_na=False, skipinitialspace=True, index_col=False)
        for n in gaps:
            frame[n] = text_cols[n].astype(object)
    for n in names:
        if not pd.api.types.is_numeric_dtype(frame[n]) or n == ID:
            frame[n] = frame[n].astype(object).where(frame[n].notna(), "").astype(str).str.strip().astype(object)
    frame.columns = pd.Index([n.split("\x00")[0] for n in names], dtype=object)
    frame.attrs["path"] = str(path)
    frame.attrs["duplicate_columns"] = dupes
    return frame


def _column_values(series: pd.Series) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Floats for a score column and (row, message) for every unusable cell."""
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float)
        bad = []
        for i in np.flatnonzero(~np.isfinite(values)):
            bad.append((i, "empty cell" if np.isnan(values[i]) else f"not a finite number: {float(values[i]):g}"))
        return values, bad
    cells = series.astype(str).str.strip()
    values = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
    bad = []
    for i in np.flatnonzero(~np.isfinite(values)):
        cell = cells.iloc[i]
        if cell == "":
            bad.append((i, "empty cell"))
        elif np.isnan(values[i]) and cell.lower() not in ("nan",):
            bad.append((i, f"not a number: {cell!r}"))
        else:
            bad.append((i, f"not a finite number: {cell!r}"))
    return values, bad


def check_scores(frame: pd.DataFrame, template: pd.DataFrame | None = None, *, name: str | None = None,
                 gold: bool = False, strict: bool = False, cells: bool = True, per_column: int = 20,
                 training: bool = False) -> list[Problem]:
    """All problems of a score file (predictions, gold or training labels).

    With a ``template``, the Patient_ID sets must be equal.  ``gold=True`` also
    warns about non-integer scores and totals that differ from the sums of the joints.
    ``strict=True`` (a gold file the scores are measured against; implies ``gold``): negative,
    above-maximum and non-integer joint scores are errors, since the official metrics cannot use
    them.  ``training=True`` (training labels) is ``strict`` for a file a network learns from.
    ``cells=False`` checks the structure only (columns, patients), as for a template.
    Cell problems are listed row by row up to ``per_column`` of a kind per column, then
    summarised in one line (a broken 100,000-patient file stays readable).
    """
    file = name or frame.attrs.get("path", "<table>")
    out: list[Problem] = []
    strict = strict or training
    gold = gold or strict
    bad_level = "error" if strict else "warning"

    def err(row, col, msg):
        out.append(Problem("error", file, row, col, msg))

    def warn(row, col, msg):
        out.append(Problem("warning", file, row, col, msg))

    header = list(frame.columns)
    dupes = frame.attrs.get("duplicate_columns", [])
    for col in dupes:
        err(None, col, "column appears more than once in the header")
    for col in COLUMNS:
        if col not in header:
            err(None, col, "required column is missing")
    for col in header:
        if col not in COLUMNS:
            err(None, col or "(unnamed)", "unknown column (expected the 90 challenge columns)")
    if ID not in header or ID in dupes:
        return out
    ids = frame[ID].to_numpy(dtype=object)
    if len(frame) == 0:
        err(None, None, "the file has a header but no patients")
    labels = np.array([pid if pid else f"line {i + 2}" for i, pid in enumerate(ids)], dtype=object)
    for i in np.flatnonzero(ids == ""):
        err(labels[i], ID, "empty Patient_ID")
    counts = pd.Series(ids[ids != ""]).value_counts()
    for pid in counts[counts > 1].index:
        err(pid, ID, f"patient appears {counts[pid]} times")
    if template is not None and ID in template.columns:
        want, have = set(template[ID]) - {""}, set(ids) - {""}
        for pid in sorted(want - have):
            err(pid, ID, "patient of the template has no row in this file")
        for pid in sorted(have - want):
            err(pid, ID, "patient is not in the template")

    def emit(level, col, rows, message, what):
        """One problem per row, at most ``per_column`` of a kind per column, then one summary line."""
        for i in rows[:per_column]:
            out.append(Problem(level, file, labels[i], col, message(i)))
        if len(rows) > per_column:
            out.append(Problem(level, file, f"{len(rows) - per_column} more rows", col, f"also {what}"))

    values = {}
    for col in SCORE_COLUMNS if cells else ():
        if col not in header or col in dupes:
            continue
        v, bad = _column_values(frame[col])
        kinds: dict[str, list] = {}
        for i, msg in bad:
            kinds.setdefault(msg.split(":")[0], []).append((i, msg))
        for kind, items in kinds.items():
            msgs = dict(items)
            emit("error", col, [i for i, _ in items], msgs.__getitem__, kind)
        top = max_score(col)
        joint = col in JOINT_COLUMNS
        level = bad_level if joint else "warning"   # totals: recomputed for training; gold's own are warned about
        fix = (f" (a {'training label' if training else 'gold score'} must be an integer 0..{top})"
               if strict and joint else "")
        # a negative gold total has no log2(total + 1): the metrics it weighs would be undefined
        emit("error" if strict and not training else level, col, np.flatnonzero(v < 0),
             lambda i: f"negative value {v[i]:g}" + (fix or (" (a gold total cannot be negative)" if strict else
                                                             " (the official scorer sets it to 0)")), "negative values")
        emit(level, col, np.flatnonzero(v > top), lambda i: f"value {v[i]:g} is above the column's maximum {top}"
             + fix, f"values above {top}")
        if gold:
            emit(level, col, np.flatnonzero(np.isfinite(v) & (v != np.floor(v))),
                 lambda i: f"non-integer {'training' if training else 'gold'} score {v[i]:g}"
                 + (" (the patient gets weight 0)" if col == TOTAL else fix), "non-integer scores")
        values[col] = v
    if gold and len(values) == len(SCORE_COLUMNS):
        ero = np.sum([values[c] for c in EROSION_COLUMNS], axis=0)
        nar = np.sum([values[c] for c in NARROWING_COLUMNS], axis=0)
        for col, expected in ((TOTAL_EROSION, ero), (TOTAL_NARROWING, nar), (TOTAL, ero + nar)):
            emit("warning", col, np.flatnonzero(np.abs(values[col] - expected) > 1e-9),
                 lambda i: f"total {values[col][i]:g} differs from the sum of its joints {expected[i]:g}",
                 "totals that differ from the sums of their joints")
    return out


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]


def _summary(path, problems: list[Problem], use: str = "") -> str:
    return f"{path} cannot be used{' ' + use if use else ''} ({len(problems)} error(s)):\n{problem_lines(problems)}"


def read_scores(path: str | Path, *, gold: bool = False) -> pd.DataFrame:
    """A valid score file as floats indexed by Patient_ID, columns in catalogue order.

    Raises ``TableError`` listing the problems if the file is not valid.
    """
    frame = read_table(path)
    bad = errors(check_scores(frame, gold=gold))
    if bad:
        raise TableError(_summary(path, bad))
    out = as_scores(frame)
    out.attrs["path"] = str(path)
    return out


def as_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """A checked table (from ``read_table``) as floats indexed by Patient_ID, columns in catalogue order."""
    out = frame.set_index(ID)[list(SCORE_COLUMNS)].apply(pd.to_numeric).astype(float)
    out.index = out.index.astype(str)
    return out


def read_template(path: str | Path) -> pd.DataFrame:
    """A template: Patient_ID filled, the 89 score columns present (their cells are ignored)."""
    frame = read_table(path)
    bad = errors(check_scores(frame, cells=False))
    if bad:
        raise TableError(_summary(path, bad, "as a template"))
    return frame


def with_totals(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with Overall_erosion / Overall_narrowing / Overall_Tol recomputed as sums of the joints."""
    out = scores.copy()
    out[TOTAL_EROSION] = out[list(EROSION_COLUMNS)].sum(axis=1)
    out[TOTAL_NARROWING] = out[list(NARROWING_COLUMNS)].sum(axis=1)
    out[TOTAL] = out[TOTAL_EROSION] + out[TOTAL_NARROWING]
    return out


def clip_to_range(scores: pd.DataFrame) -> pd.DataFrame:
    """Joint columns clipped to [0, max]; totals recomputed."""
    out = scores.copy()
    for col in JOINT_COLUMNS:
        out[col] = out[col].clip(0, BY_COLUMN[col].max_score)
    return with_totals(out)


def template_frame(patient_ids, columns=COLUMNS) -> pd.DataFrame:
    """An empty template (all score cells empty) for the given patients."""
    frame = pd.DataFrame({c: [""] * len(patient_ids) for c in columns}, dtype=object)
    frame[ID] = list(patient_ids)
    return frame


def write_atomic(frame: pd.DataFrame, out_path: str | Path) -> Path:
    """Write a CSV to a temporary file beside ``out_path`` and rename it into place (``outputs.write_csv``)."""
    return write_csv(out_path, frame)


def write_scores(scores: pd.DataFrame, out_path: str | Path, template: pd.DataFrame | str | Path | None = None,
                 *, recompute_totals: bool = True, decimals: int | None = 4) -> Path:
    """Write scores (indexed by Patient_ID, columns by name) in the template's row and column order.

    Every template patient must be present in ``scores``.  Totals are the sums of
    the joints unless ``recompute_totals`` is False.
    """
    if template is None:
        tmpl = template_frame(list(scores.index))
    elif isinstance(template, pd.DataFrame):
        tmpl = template
    else:
        tmpl = read_template(template)
    scores = scores.copy()
    scores.index = scores.index.astype(str)
    if recompute_totals:
        scores = with_totals(scores)
    ids = list(tmpl[ID])
    missing = [p for p in ids if p not in scores.index]
    if missing:
        raise ValueError(f"no scores for template patient(s) {missing[:5]}")
    body = scores.loc[ids, list(SCORE_COLUMNS)]
    if decimals is not None:
        body = body.round(decimals)
    out = pd.DataFrame({ID: ids})
    for col in tmpl.columns:
        if col != ID:
            out[col] = body[col].to_numpy()
    return write_atomic(out, out_path)
