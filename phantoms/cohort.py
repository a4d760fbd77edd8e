"""Phantom cohorts: synthetic radiographs whose ground truth is known exactly (``ra2 synth``).

Two presets.  ``realistic`` (the default) draws scores with ``phantoms.scores`` (real per-joint
distributions, a second reader calibrated on published SvH agreement) and images with
``phantoms.xray`` (posed anatomy, additive attenuation, subtle damage, real sizes).  ``easy`` is the
first generator, described below, kept for fast tests.

Easy preset: every patient has a latent severity that drives all of their joints, with a
hand/foot factor, a damage-type factor, a per-side factor and a per-joint factor
shared by the left and right joint, so that image-level totals correlate across
patients roughly as in the real cohort (see ``TARGETS``).  The scores then shape
the drawings (``phantoms.render``): narrowing closes the joint-space gap,
erosion bites notches into the bone ends.

Layout written by ``make_cohort(out, n_train, n_test, seed)``::

    OUT/train/   {PID}-{LH,RH,LF,RF}.jpg, training.csv, landmarks.csv, masks/{PID}-{LIMB}.png
    OUT/test/    {PID}-{LIMB}.jpg, template.csv (every score cell empty) -- nothing else
    OUT/gold/    test.csv, reader2.csv, landmarks.csv, masks/
    OUT/cohort.json   seed, preset, parameters, the files written, per-image acquisition records,
                      measured statistics

Each patient draws from its own ``numpy.random.default_rng([seed, split, index, stream])``
streams, so a patient does not depend on the others and one seed gives identical bytes.
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from challenge import catalogue as cat
from challenge.dataset import LABELS_FILE, LANDMARKS_FILE, TEMPLATE_FILE
from challenge.errors import ParameterError
from challenge.outputs import replacing, staged_folder, write_json
from challenge.schemes import load_scheme
from challenge.tables import template_frame, with_totals, write_atomic, write_scores

from . import scores as realistic_scores
from . import xray
from .render import (FOOT_EROSION_SITES, HAND_EROSION_SITES, NARROWING_FACTOR, Acquisition, Anatomy,
                     add_erosions, build_foot, build_hand, render_limb)

FORMAT_VERSION = 2
#: the landmark scheme the phantoms are drawn and annotated in (whatever scheme a method is trained with)
SCHEME = "svh21"
#: ``realistic`` (the default of ``ra2 synth``): posed anatomy, additive attenuation, subtle damage, real
#: score distributions, sizes as real (``phantoms.xray``, ``phantoms.scores``); ``easy``: the first
#: generator (capsule bones, visible damage, small images), kept for fast tests.
PRESETS = ("realistic", "easy")
TRAIN_PREFIX, TEST_PREFIX = "PHT", "PHX"
#: realistic preset: the sd (share of the image's long side, on each axis) with which a human
#: annotator places each joint group's landmarks in landmarks.csv, the training's and the gold
#: ones alike.  Finger and toe joint centres are well defined (about 0.4 mm on a 1,500-px hand);
#: the wrist's points (the radius and ulna points, the lunate, the trapezium, the carpometacarpal
#: joints) are placed on less distinct anatomy (about 1.3 mm).  The images are drawn from the exact
#: points; only the written labels scatter (their own random stream: same images as without it).
LABEL_SCATTER = {"finger": 0.0015, "toe": 0.0015, "wrist": 0.005}

#: the latent-severity model (see ``patient_scores``)
SEVERITY = {
    "gamma_shape": 0.7,          # patient severity ~ Gamma(shape, 1)
    "share_quiescent": 0.33,      # share of patients whose severity is scaled down to almost nothing
    "quiescent_scale": 0.03,
    "sigma_hand": 0.15, "sigma_foot": 0.9,          # limb-kind factor (log scale)
    "sigma_type_hand": 0.3, "sigma_type_foot": 0.7,  # damage-type factor per limb kind
    "sigma_side_hand": 0.12, "sigma_side_foot": 0.7,  # left/right factor
    "sigma_joint": 0.6,          # per-joint factor, shared by the mirror joints and both damage types
    "rate": {"hand narrowing": 0.5, "hand erosion": 0.35, "foot narrowing": 0.6, "foot erosion": 0.7},
}
#: joints RA prefers (multiplies the rate); others 1.0
PROPENSITY = {"mcp": 1.25, "pip": 1.0, "wrist": 1.05, "mtp": 1.0}

#: measured correlation name -> (description, target from the contract)
TARGETS = {
    "lr_hand_narrowing": ("left vs right hand, narrowing totals", 0.90),
    "lr_hand_erosion": ("left vs right hand, erosion totals", 0.89),
    "lr_foot_narrowing": ("left vs right foot, narrowing totals", 0.78),
    "lr_foot_erosion": ("left vs right foot, erosion totals", 0.59),
    "ne_hand": ("narrowing vs erosion total per hand image", 0.78),
    "ne_foot": ("narrowing vs erosion total per foot image", 0.61),
    "hand_foot_narrowing": ("hand vs foot of one side, narrowing totals", 0.62),
    "hand_foot_erosion": ("hand vs foot of one side, erosion totals", 0.45),
    "hand_foot": ("hand vs foot of one side, all damage", 0.55),
}

# ----------------------------------------------------------------------------------------------
# scores
# ----------------------------------------------------------------------------------------------


def _rng(seed: int, split: int, index: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, split, index, stream, *more])


def patient_scores(rng: np.random.Generator) -> dict[str, int]:
    """Integer scores for the 86 joint columns of one patient, from a latent severity."""
    p = SEVERITY
    severity = rng.gamma(p["gamma_shape"], 1.0)
    if rng.random() < p["share_quiescent"]:
        severity *= p["quiescent_scale"]
    kind_f = {"hand": np.exp(p["sigma_hand"] * rng.standard_normal()),
              "foot": np.exp(p["sigma_foot"] * rng.standard_normal())}
    type_f = {(k, d): np.exp(p[f"sigma_type_{k}"] * rng.standard_normal())
              for k in cat.KINDS for d in cat.DAMAGE_TYPES}
    side_f = {limb: np.exp(p[f"sigma_side_{cat.kind_of(limb)}"] * rng.standard_normal())
              for limb in cat.LIMBS}
    joint_f: dict[tuple[str, str, str], float] = {}
    scores = {}
    for j in cat.JOINTS:
        key = (j.kind, j.group, j.site)               # same for left/right and both damage types
        if key not in joint_f:
            joint_f[key] = np.exp(p["sigma_joint"] * rng.standard_normal())
        lam = (severity * p["rate"][f"{j.kind} {j.damage}"] * PROPENSITY[j.group] * kind_f[j.kind]
               * type_f[(j.kind, j.damage)] * side_f[j.limb] * joint_f[key])
        scores[j.column] = int(min(rng.poisson(lam), j.max_score))
    return scores


def reader2_scores(scores: dict[str, int], rng: np.random.Generator) -> dict[str, int]:
    """The same joints re-scored by a second reader: mostly ±1 on damaged joints, rarely on healthy ones."""
    out = {}
    for col, value in scores.items():
        top = cat.BY_COLUMN[col].max_score
        if value > 0:
            u = rng.random()
            step = 0 if u < 0.55 else (1 if u < 0.95 else 2) * rng.choice((-1, 1))
        else:
            step = 1 if rng.random() < 0.04 else 0
        out[col] = int(np.clip(value + step, 0, top))
    return out


def cohort_scores(seed: int, n_train: int, n_test: int, preset: str = "realistic"
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gold scores of a cohort (training, test) without drawing any image: the same numbers
    ``make_cohort`` writes for this seed and preset."""
    draw = patient_scores if preset == "easy" else realistic_scores.patient_scores
    train = {pid: draw(_rng(seed, 0, i, 0)) for pid, i in _patients(n_train, TRAIN_PREFIX)}
    test = {pid: draw(_rng(seed, 1, i, 0)) for pid, i in _patients(n_test, TEST_PREFIX)}
    return _frame(train), _frame(test)


def _frame(rows: dict[str, dict[str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index")[list(cat.JOINT_COLUMNS)].astype(int)
    frame.index.name = cat.ID
    return with_totals(frame)[list(cat.SCORE_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# images
# ----------------------------------------------------------------------------------------------


def limb_geometry(scores: dict[str, int], limb: str, anatomy: Anatomy, rng: np.random.Generator):
    """The drawable limb (mm) for one patient's scores: gaps from narrowing, notches from erosion."""
    kind = cat.kind_of(limb)
    scheme = load_scheme(SCHEME)
    narrowing = {scheme.carries[kind][j.name]: scores[j.column]
                 for j in cat.JOINTS if j.limb == limb and j.damage == cat.NARROWING}
    shape = build_hand(narrowing, anatomy) if kind == "hand" else build_foot(narrowing, anatomy)
    # diffuse signs of disease that a global look can pick up: bone loss and soft-tissue swelling
    own = [j for j in cat.JOINTS if j.limb == limb]
    damage = sum(scores[j.column] for j in own) / sum(j.max_score for j in own)
    shape.osteopenia = float(np.clip(2.5 * damage + 0.03 * rng.standard_normal(), 0, 0.45))
    shape.swelling = float(min(3.0, 12 * damage))
    sites = HAND_EROSION_SITES if kind == "hand" else FOOT_EROSION_SITES
    add_erosions(shape, [(scores[j.column], j.max_score, sites[j.name])
                         for j in cat.JOINTS if j.limb == limb and j.damage == cat.EROSION and scores[j.column] > 0],
                 rng)
    return shape


def render_patient_limb(scores: dict[str, int], limb: str, anatomy: Anatomy, rng: np.random.Generator,
                        size_scale: float = 1.0):
    """One stored radiograph (``phantoms.render.Rendered``) of one limb of a patient."""
    kind = cat.kind_of(limb)
    acq = Acquisition.draw(rng, kind, size_scale)          # first, so that it does not depend on the scores
    shape = limb_geometry(scores, limb, anatomy, rng)
    return render_limb(shape, acq, rng, mirror=cat.is_right(limb))


def render_realistic_limb(scores: dict[str, int], limb: str, build: xray.Build, rng: np.random.Generator,
                          size_scale: float = 1.0) -> xray.Shot:
    """One stored radiograph of one limb, realistic preset (``phantoms.xray``)."""
    kind = cat.kind_of(limb)
    exposure = xray.Exposure.draw(rng, kind, size_scale)       # first: it does not depend on the scores
    scheme = load_scheme(SCHEME)
    own = [j for j in cat.JOINTS if j.limb == limb]
    narrow: dict[str, int] = {}
    erode: dict[str, int] = {}
    for j in own:
        into = narrow if j.damage == cat.NARROWING else erode
        name = scheme.carries[kind][j.name]
        value = scores[j.column] if j.damage == cat.NARROWING else round(5 * scores[j.column] / j.max_score)
        into[name] = max(into.get(name, 0), value)      # erosion on a 0-5 scale for hands and feet
    lesion_rng = np.random.default_rng(int(rng.integers(2 ** 62)))   # erosions do not shift the other draws
    shape = (xray.build_hand if kind == "hand" else xray.build_foot)(narrow, erode, build, rng)
    sites = xray.erosion_sites(kind)
    xray.add_erosions(shape, [(scores[j.column], j.max_score, sites[j.name]) for j in own
                              if j.damage == cat.EROSION and scores[j.column] > 0], lesion_rng)
    damage = sum(scores[j.column] for j in own) / sum(j.max_score for j in own)
    # weak patient-level signs next to the spread of normal density and build (see xray)
    osteopenia = float(np.clip(0.12 * damage + 0.04 * rng.standard_normal(), 0, 0.3))
    swelling = float(1.5 * damage)
    return xray.render(shape, exposure, rng, mirror=cat.is_right(limb), osteopenia=osteopenia, swelling=swelling)


def _landmark_rows(stem: str, kind: str, points: dict[str, tuple[float, float]]) -> list[tuple]:
    return [(stem, name, f"{points[name][0]:.2f}", f"{points[name][1]:.2f}")
            for name in load_scheme(SCHEME).landmarks[kind]]


def annotated(points: dict[str, tuple[float, float]], kind: str, long_side: int, rng: np.random.Generator
              ) -> dict[str, tuple[float, float]]:
    """The landmarks as an annotator places them: each moved by a normal draw of its group's
    ``LABEL_SCATTER`` times ``long_side`` on each axis."""
    groups = load_scheme(SCHEME).groups[kind]
    out = {}
    for name, (x, y) in points.items():
        dx, dy = rng.normal(0, LABEL_SCATTER[groups[name]] * long_side, 2)
        out[name] = (x + dx, y + dy)
    return out


def _write_landmarks(rows: list[tuple], path: Path):
    write_atomic(pd.DataFrame(rows, columns=["image", "landmark", "x", "y"]), path)


# ----------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------


def _totals(frame: pd.DataFrame, limb: str, damage: str | None) -> np.ndarray:
    cols = [c for d in ([damage] if damage else cat.DAMAGE_TYPES) for c in cat.select(damage=d, limb=limb)]
    return frame[cols].to_numpy(float).sum(axis=1)


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.std() == 0 or b.std() == 0:
        return None
    return round(float(np.corrcoef(a, b)[0, 1]), 4)


def measured_correlations(frame: pd.DataFrame) -> dict[str, float | None]:
    """The ``TARGETS`` correlations measured on a score frame (one row per patient)."""
    N, E = cat.NARROWING, cat.EROSION

    def pooled(limbs, damage):
        return np.concatenate([_totals(frame, limb, damage) for limb in limbs])

    return {
        "lr_hand_narrowing": _corr(_totals(frame, "LH", N), _totals(frame, "RH", N)),
        "lr_hand_erosion": _corr(_totals(frame, "LH", E), _totals(frame, "RH", E)),
        "lr_foot_narrowing": _corr(_totals(frame, "LF", N), _totals(frame, "RF", N)),
        "lr_foot_erosion": _corr(_totals(frame, "LF", E), _totals(frame, "RF", E)),
        "ne_hand": _corr(pooled(cat.HANDS, N), pooled(cat.HANDS, E)),
        "ne_foot": _corr(pooled(cat.FEET, N), pooled(cat.FEET, E)),
        "hand_foot_narrowing": _corr(pooled(cat.HANDS, N), pooled(cat.FEET, N)),
        "hand_foot_erosion": _corr(pooled(cat.HANDS, E), pooled(cat.FEET, E)),
        "hand_foot": _corr(pooled(cat.HANDS, None), pooled(cat.FEET, None)),
    }


def cohort_statistics(gold: pd.DataFrame, reader2: pd.DataFrame | None = None) -> dict:
    """Distribution and correlation figures for cohort.json."""
    total = gold[cat.TOTAL].to_numpy(float)
    joints = gold[list(cat.JOINT_COLUMNS)].to_numpy(float)
    corr = measured_correlations(gold)
    out = {
        "patients": int(len(gold)),
        "share_total_0_3": round(float(np.mean(total <= 3)), 4),
        "share_zero_joints": round(float(np.mean(joints == 0)), 4),
        "total_mean": round(float(total.mean()), 3),
        "total_median": float(np.median(total)),
        "total_max": float(total.max()),
        "correlations": {k: {"measured": corr[k], "target": t, "what": what} for k, (what, t) in TARGETS.items()},
    }
    if reader2 is not None:
        a = joints
        b = reader2.loc[gold.index, list(cat.JOINT_COLUMNS)].to_numpy(float)
        out["reader2"] = {"icc_total": realistic_scores.icc_a1(a.sum(axis=1), b.sum(axis=1)),
                          "joints_equal": round(float(np.mean(a == b)), 4),
                          "damaged_joints_equal": round(float(np.mean((a == b)[a > 0])), 4) if (a > 0).any() else None,
                          "healthy_joints_equal": round(float(np.mean((a == b)[a == 0])), 4)}
    return out


# ----------------------------------------------------------------------------------------------
# the cohort
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# writing a cohort
# ----------------------------------------------------------------------------------------------

def _patients(n: int, prefix: str) -> list[tuple[str, int]]:
    """(Patient_ID, index) pairs: PHT0001, PHT0002, ..."""
    return [(f"{prefix}{i + 1:04d}", i) for i in range(n)]


def _patient(job: tuple) -> tuple:
    """Draw and write one patient's four images and masks; returns its scores, second reading,
    landmark rows and image records.  Runs in a worker process when there are several."""
    out, name, code, pid, index, seed, size_scale, preset = job
    mask_dir = out / ("train" if name == "train" else "gold") / "masks"
    if preset == "easy":
        scores = patient_scores(_rng(seed, code, index, 0))
        second = reader2_scores(scores, _rng(seed, code, index, 3)) if name == "test" else None
        anatomy = Anatomy.draw(_rng(seed, code, index, 1))
    else:
        latent, shown, scores = realistic_scores.patient_draw(_rng(seed, code, index, 0))
        second = realistic_scores.reader2_scores(latent, _rng(seed, code, index, 3)) if name == "test" else None
        build = xray.Build.draw(_rng(seed, code, index, 1))
    rows, records = [], {}
    for k, limb in enumerate(cat.LIMBS):
        rng = _rng(seed, code, index, 2, k)
        if preset == "easy":
            shot = render_patient_limb(scores, limb, anatomy, rng, size_scale)
        else:
            shot = render_realistic_limb(shown, limb, build, rng, size_scale)     # what the joints are
        stem = f"{pid}-{limb}"
        with replacing(out / name / f"{stem}.jpg") as tmp:
            Image.fromarray(shot.image).save(tmp, "JPEG", quality=shot.record["jpeg_quality"])
        with replacing(mask_dir / f"{stem}.png") as tmp:
            Image.fromarray(shot.mask).save(tmp, "PNG", compress_level=1)
        kind = cat.kind_of(limb)
        marks = shot.landmarks if preset == "easy" else \
            annotated(shot.landmarks, kind, max(shot.image.shape[:2]), _rng(seed, code, index, 4, k))
        rows += _landmark_rows(stem, kind, marks)
        records[stem] = {"split": name, "patient": pid, "limb": limb} | shot.record
    return pid, scores, second, rows, records


def _workers(requested: int | None, patients: int) -> int:
    if requested is not None:
        return max(1, min(requested, patients))
    if patients < 8:
        return 1
    return max(1, min(os.cpu_count() or 1, 4, patients // 4))


def check_parameters(n_train: int, n_test: int, *, size_scale: float = 1.0, preset: str = "realistic",
                     workers: int | None = None) -> None:
    """Refuse, before any work, what ``make_cohort`` cannot draw (``ParameterError`` naming the parameter)."""
    if preset not in PRESETS:
        raise ParameterError("preset", repr(preset), f"unknown (choose from {', '.join(PRESETS)})")
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if not 1 <= n <= 9999:
            raise ParameterError(name, n, "must be between 1 and 9999 patients")
    if not 0.05 <= size_scale <= 4:
        raise ParameterError("size_scale", size_scale, "must be between 0.05 and 4")
    if workers is not None and workers < 1:
        raise ParameterError("workers", workers, "need at least 1")


#: the modules whose code draws a cohort (``generator_digest``)
GENERATOR_MODULES = ("cohort.py", "render.py", "scores.py", "xray.py")


@lru_cache(1)
def generator_digest() -> str:
    """A digest of the code that draws a cohort: the syntax trees of ``GENERATOR_MODULES`` without their
    docstrings, so comments, docstrings and layout do not change it and any change to the code does.
    ``make_cohort`` records it in cohort.json; a cohort with the same preset, seed, counts and size
    scale and the same digest holds the same bytes (given the same numpy and Pillow)."""
    digest = hashlib.sha256()
    for name in GENERATOR_MODULES:
        tree = ast.parse((Path(__file__).parent / name).read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(name.encode() + ast.dump(tree).encode())
    return digest.hexdigest()[:12]


def cohort_differs(out: str | Path, n_train: int, n_test: int, seed: int = 0, *, size_scale: float = 1.0,
                   preset: str = "realistic") -> str | None:
    """Why ``out`` does not hold the cohort that ``make_cohort`` would write with these arguments, or
    None when it does (completely written by this generator, ``generator_digest``).  Benchmarks
    reuse a cohort only when this is None: one drawn by an earlier generator looks just the same."""
    try:
        info = json.loads((Path(out) / "cohort.json").read_text())
    except (OSError, ValueError):
        return "no cohort there"
    if not isinstance(info, dict) or info.get("format") != "ra2-phantom-cohort":
        return "its cohort.json is not a phantom cohort's"
    if info.get("status") == "writing":
        return "it was not completely written"
    p = info.get("parameters", {})
    asked = {"preset": preset, "seed": seed, "n_train": n_train, "n_test": n_test, "size_scale": size_scale}
    held = {"preset": info.get("preset"), "seed": info.get("seed"), "n_train": p.get("n_train"),
            "n_test": p.get("n_test"), "size_scale": p.get("size_scale")}
    diff = [f"{k} {held[k]}, not {v}" for k, v in asked.items() if held[k] != v]
    if diff:
        return "it has " + ", ".join(diff)
    if info.get("generator") != generator_digest():
        return (f"another generator drew it (digest {info.get('generator') or 'not recorded'}, "
                f"this code's {generator_digest()})")
    return None


def make_cohort(out: str | Path, n_train: int, n_test: int, seed: int = 0, *, size_scale: float = 1.0,
                preset: str = "realistic", progress: bool = False, workers: int | None = None) -> dict:
    """Write a phantom cohort in the challenge layout under ``out``; returns the cohort.json dict.

    ``out`` must be new, empty or an earlier ``ra2 synth`` cohort with nothing added to it (else
    ``UsageError`` before anything is drawn).  The cohort is drawn beside it and swapped in whole
    (``challenge.outputs.staged_folder``): an interrupted run leaves the earlier cohort byte for byte.
    ``workers`` processes draw the patients (default: up to 4 for cohorts of 8 patients or more); the
    bytes do not depend on it."""
    check_parameters(n_train, n_test, size_scale=size_scale, preset=preset, workers=workers)
    with staged_folder(out, "synth") as tmp:
        info = _write_cohort(tmp, n_train, n_test, seed, size_scale, preset, progress, workers)
    return info


def _write_cohort(out: Path, n_train: int, n_test: int, seed: int, size_scale: float, preset: str, progress: bool,
                  workers: int | None) -> dict:
    """Draw the cohort into the new folder ``out``; returns its cohort.json dict."""
    for sub in ("train/masks", "test", "gold/masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    jobs = [(out, name, code, pid, index, seed, size_scale, preset)
            for name, code, prefix, n in (("train", 0, TRAIN_PREFIX, n_train), ("test", 1, TEST_PREFIX, n_test))
            for pid, index in _patients(n, prefix)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), unit="patient", desc="ra2 synth")
    results = {}
    n_workers = _workers(workers, len(jobs))
    if n_workers == 1:
        for job in jobs:
            results[job[3]] = _patient(job)
            if bar is not None:
                bar.update()
    else:
        realistic_scores.thresholds(read=False)     # computed once here, inherited by the workers
        realistic_scores.thresholds()
        with ProcessPoolExecutor(n_workers) as pool:
            for res in pool.map(_patient, jobs, chunksize=1):
                results[res[0]] = res
                if bar is not None:
                    bar.update()
    if bar is not None:
        bar.close()

    images, gold, second = {}, {"train": {}, "test": {}}, {}
    landmark_rows = {"train": [], "test": []}
    for job in jobs:
        pid, scores, reread, rows, records = results[job[3]]
        gold[job[1]][pid] = scores
        if reread is not None:
            second[pid] = reread
        landmark_rows[job[1]] += rows
        images.update(records)
    _write_landmarks(landmark_rows["train"], out / "train" / LANDMARKS_FILE)
    _write_landmarks(landmark_rows["test"], out / "gold" / LANDMARKS_FILE)
    train, test = _frame(gold["train"]), _frame(gold["test"])
    reader2 = _frame(second)
    train_ids, test_ids = list(train.index), list(test.index)
    write_scores(train, out / "train" / LABELS_FILE, template_frame(train_ids), decimals=None)
    write_atomic(template_frame(test_ids), out / "test" / TEMPLATE_FILE)
    write_scores(test, out / "gold" / "test.csv", template_frame(test_ids), decimals=None)
    write_scores(reader2, out / "gold" / "reader2.csv", template_frame(test_ids), decimals=None)

    if preset == "easy":
        model = {"severity": SEVERITY, "propensity": PROPENSITY, "narrowing_gap_factor": list(NARROWING_FACTOR)}
    else:
        model = {"latent": realistic_scores.LATENT, "marginals": {f"{k} {d}": list(v) for (k, d), v in
                                                                  realistic_scores.MARGINALS.items()},
                 "reader1": realistic_scores.READER1, "reader2": realistic_scores.READER2,
                 "narrowing_gap_factor": list(xray.NARROWING_FACTOR), "label_scatter": LABEL_SCATTER}
    info = {
        "format": "ra2-phantom-cohort",
        "version": FORMAT_VERSION,
        "seed": seed,
        "preset": preset,
        "generator": generator_digest(),
        "parameters": {"n_train": n_train, "n_test": n_test, "size_scale": size_scale,
                       "landmark_scheme": SCHEME} | model,
        "statistics": cohort_statistics(pd.concat([train, test]), None)
        | {"reader2": cohort_statistics(test, reader2)["reader2"]},
        "images": images,
    }
    write_json(out / "cohort.json", info, indent=1)
    return json.loads((out / "cohort.json").read_text())
