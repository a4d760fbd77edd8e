"""The method's target units, numpy and pandas only (no Keras).

The scorer of a limb kind has one output per joint column name of that kind (``kind_columns``, catalogue
order, no limb prefix), in *unit* space: log2(score + 1) / log2(max + 1), in [0, 1] like its sigmoid
outputs.  Tables of predictions (patients × the 86 joint columns) are in the metric's log2(score + 1)
space; ``to_scores`` turns one into clipped scores with their totals.  Which patch (landmark) carries
which column is the landmark scheme's (``Scheme.carry_matrix``); ``carried`` reads a scorer's rows
through it.
"""
from __future__ import annotations

from itertools import groupby

import numpy as np
import pandas as pd

from challenge.catalogue import ID, JOINT_COLUMNS, JOINTS, SCORE_COLUMNS, joint_names
from challenge.schemes import Scheme
from challenge.tables import clip_to_range, with_totals


def kind_columns(kind: str) -> tuple[str, ...]:
    """Column names (no limb prefix) of a limb kind, in catalogue order: the scorer's outputs."""
    return joint_names(kind)


def column_damages(kind: str) -> tuple[str, ...]:
    """The damage type of each output column of a kind (``kind_columns`` order)."""
    of = {j.name: j.damage for j in JOINTS if j.kind == kind}
    return tuple(of[c] for c in kind_columns(kind))


def damage_flags(kind: str, damages) -> np.ndarray:
    """Which output columns of a kind (``kind_columns`` order) are of one of the ``damages`` types."""
    return np.array([d in tuple(damages) for d in column_damages(kind)])


def damage_groups(kind: str) -> tuple[int, ...]:
    """Lengths of the runs of one damage type in a kind's output columns (the scorer's heads)."""
    return tuple(len(list(run)) for _, run in groupby(column_damages(kind)))


def column_max(kind: str) -> tuple[int, ...]:
    """The highest score of every output column of a kind."""
    tops = {j.name: j.max_score for j in JOINTS if j.kind == kind}
    return tuple(tops[c] for c in kind_columns(kind))


def ordinal_tops(kind: str, damages) -> tuple[int, ...] | None:
    """The scorer's ``ordinal`` argument for the ``damages`` types whose heads are ordinal: each
    column's highest score where its type is one of them, else 0; None where none is."""
    flags = damage_flags(kind, damages)
    return tuple(int(t) if f else 0 for t, f in zip(column_max(kind), flags)) if flags.any() else None


def column_top(kind: str) -> np.ndarray:
    """log2(max + 1) of every output column of a kind, to map targets to [0, 1]."""
    return np.log2(np.array(column_max(kind), dtype=float) + 1)


def to_unit(scores: np.ndarray, kind: str) -> np.ndarray:
    """Scores of a kind's output columns (``kind_columns`` order) in unit space."""
    return np.log2(np.asarray(scores, dtype=float) + 1) / column_top(kind)


def carried(scheme: Scheme, kind: str, landmarks, values: np.ndarray):
    """``(row, column name, value)`` for every column that row i's landmark (``landmarks[i]``, an index
    into ``scheme.landmarks[kind]``) carries, ``values`` being (N, K) in ``kind_columns`` order: a
    patch's prediction of the columns its landmark does not carry is not used."""
    carry, cols = scheme.carry_matrix(kind), kind_columns(kind)
    for i, (li, row) in enumerate(zip(landmarks, values)):
        for k in np.flatnonzero(carry[li]):
            yield i, cols[k], float(row[k])


def joint_matrix(patients, cols=None) -> pd.DataFrame:
    """An all-NaN (patients × 86 joint columns) frame, to be filled with log2-space predictions."""
    return pd.DataFrame(np.nan, index=pd.Index(list(patients), name=ID), columns=list(cols or JOINT_COLUMNS))


def log_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The joint columns of a score table in log2(score + 1) space (negative scores as 0)."""
    return np.log2(scores[list(JOINT_COLUMNS)].clip(lower=0) + 1)


def to_scores(log_pred: pd.DataFrame) -> pd.DataFrame:
    """log2-space joint predictions -> clipped scores with totals, all 89 columns."""
    joints = 2 ** log_pred[list(JOINT_COLUMNS)] - 1
    frame = pd.DataFrame(0.0, index=log_pred.index, columns=list(SCORE_COLUMNS))
    frame[list(JOINT_COLUMNS)] = joints
    return clip_to_range(with_totals(frame))
