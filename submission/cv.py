"""``cross_validate``: K-fold cross-validation of the method, its two ablations and a prior baseline.

Per fold, on the held-out patients of the training folder: ``full`` (seg +
stack), ``no-stack`` (the same bundle, patch predictions only), ``no-seg``
(scorers without the mask branch, same localizers, with stacker) and ``prior``
(the training prior for every patient, the floor any method must beat).  Writes
``per_fold.csv`` (fold, method, sc1, sc2, ... as read by ``ra2 compare
--per-fold``), ``per_patient.csv`` (fold, method, Patient_ID, weight and every
official per-patient error) and each fold's predictions.

The folds are independent: ``cross_validate_fold`` runs one of them into a folder of its own
(``ra2 cv --fold K``; the same code ``cross_validate`` runs for each fold in turn) and
``merge_folds`` gathers such folders into the folder ``cross_validate`` writes (``ra2 cv merge``),
so folds, seeds and variants can run as separate jobs (``workflows/cv.cwl``).  The fold assignment
comes from ``split_seed`` (default: the training ``seed``), so that trainings with other seeds share
their folds.

With a ``budget`` (seconds for the whole cross-validation), each fold gets an equal share of the
time left when it starts, less the time its predictions need (measured on the folds before; a
twentieth of the share for the first fold): its full training plans its steps within that share
(``train.train_bundle``) leaving room for a second scorer stage (``scorer_rounds=2``), and its
``no-seg`` ablation retrains the scorers with exactly the steps the full training got, so that the
two differ only in the mask branch.  A budget whose first fold cannot fit the shortest useful
training is refused before any network trains.  A single fold's ``budget`` is that fold's own time.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from challenge.catalogue import ID, JOINT_COLUMNS
from challenge.dataset import LABELS_FILE
from challenge.errors import ParameterError, UsageError
from challenge.outputs import RECORD, file_sha256, staged_folder, write_json
from challenge.schemes import DEFAULT_SCHEME
from challenge.tables import read_scores, template_frame, with_totals, write_atomic, write_scores

from .profiles import resolve_settings
from .settings import Settings

log = logging.getLogger(__name__)
METHODS = ("full", "no-stack", "no-seg", "prior")
#: the share of a fold's time kept for its predictions before any fold has measured them
PREDICT_SHARE = 0.05
#: what ``ra2 cv --fold`` writes beside the fold's files: which fold of which split it is
FOLD_RECORD = "fold.json"
FOLD_FORMAT = "ra2-cv-fold"


def _score(pred_path: Path, gold: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    from evaluator.official import per_patient, score_frames

    pred = read_scores(pred_path)
    return score_frames(pred, gold), per_patient(pred, gold)


def _labels(train_dir: Path, folds: int) -> tuple[pd.DataFrame, np.ndarray]:
    labels = with_totals(read_scores(train_dir / LABELS_FILE))
    patients = np.array(sorted(labels.index))
    if folds < 2 or folds > len(patients):
        raise UsageError(f"{train_dir / 'training.csv'}: {folds} folds asked for, but cross-validation needs "
                         f"between 2 and the number of labelled patients ({len(patients)}) folds")
    return labels, patients


def fold_splits(patients, folds: int, split_seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The K (training, held-out) index pairs of the sorted ``patients``: the same for every training seed."""
    return list(KFold(folds, shuffle=True, random_state=split_seed).split(np.asarray(patients)))


def _tables(table: list[dict], errors: list[pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-fold metric table and the per-patient table (fold and method first), as ``ra2 cv`` writes them."""
    per = pd.concat(errors, ignore_index=True)
    return pd.DataFrame(table), per[["fold", "method"] + [c for c in per.columns if c not in ("fold", "method")]]


def _run_fold(train_dir: Path, fold_dir: Path, k: int, labels: pd.DataFrame, train_ids, test_ids, *,
              settings: Settings, common: dict, progress: bool, share: float | None = None, strict: bool = True,
              started: float | None = None, need=None) -> tuple[list[dict], list[pd.DataFrame], float]:
    """Train, predict and score fold ``k`` into ``fold_dir``; returns its table rows, its per-patient
    tables and the seconds its predictions took.  ``share``: seconds for its two trainings (None: the
    profile's lengths); ``need(least)`` turns a first fold's too-short budget into the error to raise."""
    from .budget import BudgetTooSmall
    from .bundle import Bundle
    from .predict import Method, predict_folder
    from .train import train_bundle

    template = fold_dir / "template.csv"
    write_atomic(template_frame(list(test_ids)), template)
    common = dict(common, patients=list(train_ids), progress=progress)
    if share is None:
        full = train_bundle(train_dir, fold_dir / "bundle_full", settings=replace(settings, seg=True, stack=True),
                            **common)
        noseg = train_bundle(train_dir, fold_dir / "bundle_noseg", settings=replace(settings, seg=False, stack=True),
                             localizers_from=full, **common)
    else:
        try:
            full = train_bundle(train_dir, fold_dir / "bundle_full", settings=replace(settings, seg=True, stack=True),
                                budget=max(share, 1.0), started=started, scorer_rounds=2, strict=strict,
                                **common)
        except BudgetTooSmall as exc:
            if need is None:
                raise
            raise need(exc) from exc
        lengths = replace(Bundle.load(full, verify=False).settings, seg=False)   # the steps the budget gave it
        noseg = train_bundle(train_dir, fold_dir / "bundle_noseg", settings=lengths, localizers_from=full, **common)
    predict_start = time.time()
    method = Method(full)
    preds = {
        "full": dict(bundle_dir=full, method=method),
        "no-stack": dict(bundle_dir=full, method=method, stack=False),
        "no-seg": dict(bundle_dir=noseg),
    }
    for name, kw in preds.items():
        predict_folder(images_dir=train_dir, template_path=template, out_path=fold_dir / f"{name}.csv",
                       progress=progress, **kw)
    prior = method.combine(pd.DataFrame(np.nan, index=pd.Index(list(test_ids), name=ID),
                                        columns=list(JOINT_COLUMNS)))
    write_scores(prior, fold_dir / "prior.csv", template)
    predicting = time.time() - predict_start
    gold = labels.loc[list(test_ids)]
    table, errors = [], []
    for name in METHODS:
        scores, per_patient = _score(fold_dir / f"{name}.csv", gold)
        table.append({"fold": k, "method": name, **scores, "patients": len(test_ids)})
        errors.append(per_patient.reset_index().assign(fold=k, method=name))
    return table, errors, predicting


def cross_validate(train_dir, folds: int, out_dir, *, seed: int = 0, split_seed: int | None = None,
                   profile: str | None = None, quick: bool = False, steps: int | None = None,
                   scheme: str = DEFAULT_SCHEME, progress: bool = True, budget: float | None = None,
                   started: float | None = None) -> pd.DataFrame:
    """Run the K folds; returns the per-fold metric table (also written to ``out_dir/per_fold.csv``).
    ``budget``: seconds for the whole cross-validation from ``started`` (default now), shared among
    the folds as the module's docstring says; None: the profile's lengths.  ``split_seed``: the seed
    of the fold assignment (default ``seed``)."""
    from .budget import format_duration

    started = time.time() if started is None else started
    predicting: list[float] = []            # seconds of each fold's predictions

    train_dir, out_dir = Path(train_dir), Path(out_dir)
    labels, patients = _labels(train_dir, folds)
    table, errors = [], []
    settings, common = resolve_settings(profile=profile, quick=quick, steps=steps), dict(scheme=scheme, seed=seed)
    with staged_folder(out_dir, "cv") as work:
        splits = fold_splits(patients, folds, seed if split_seed is None else split_seed)
        for k, (tr, te) in enumerate(splits, start=1):
            log.info("fold %d of %d: %d training, %d held-out patients", k, folds, len(tr), len(te))
            share = need = None
            now = time.time()
            if budget is not None:
                rest = folds - k + 1
                left = started + budget - now
                reserve = (max(predicting) if predicting else PREDICT_SHARE * left / rest) * rest
                share = (left - reserve) / rest
                log.info("budget: fold %d of %d gets %s of the %s left (its full training and its no-seg "
                         "ablation)", k, folds, format_duration(max(share, 0)), format_duration(max(left, 0)))

                def need(exc, now=now):
                    total = (now - started) + exc.least * folds / (1 - PREDICT_SHARE)
                    return ParameterError("budget", format_duration(budget),
                                          f"too short for {folds} folds on this host: each fold's training needs "
                                          f"at least {format_duration(exc.least)}, the cross-validation about "
                                          f"{format_duration(total)}")
            rows, errs, seconds = _run_fold(train_dir, work / f"fold{k}", k, labels, patients[tr], patients[te],
                                            settings=settings, common=common, progress=progress, share=share, strict=k == 1,
                                            started=now, need=need)
            table += rows
            errors += errs
            predicting.append(seconds)
        frame, per = _tables(table, errors)
        write_atomic(per, work / "per_patient.csv")
        write_atomic(frame, work / "per_fold.csv")
    return frame


def cross_validate_fold(train_dir, folds: int, fold: int, out_dir, *, seed: int = 0, split_seed: int | None = None,
                        profile: str | None = None, quick: bool = False, steps: int | None = None,
                        scheme: str = DEFAULT_SCHEME, progress: bool = True, budget: float | None = None,
                        started: float | None = None) -> pd.DataFrame:
    """Fold ``fold`` (1..K) of ``cross_validate``, alone, into ``out_dir``: the files ``cross_validate``
    writes in its ``fold{K}/`` folder, this fold's ``per_fold.csv`` and ``per_patient.csv``, and
    ``fold.json`` (the fold, the split, the seeds, the training data's SHA-256) for ``merge_folds``.
    ``budget``: this fold's own seconds from ``started``.  Returns the fold's metric table."""
    from .budget import format_duration

    started = time.time() if started is None else started
    train_dir, out_dir = Path(train_dir), Path(out_dir)
    labels, patients = _labels(train_dir, folds)
    if not 1 <= fold <= folds:
        raise ParameterError("fold", fold, f"must be between 1 and {folds} (--folds)")
    split_seed = seed if split_seed is None else split_seed
    tr, te = fold_splits(patients, folds, split_seed)[fold - 1]
    log.info("fold %d of %d (split seed %d, seed %d): %d training, %d held-out patients", fold, folds, split_seed,
             seed, len(tr), len(te))
    share = None
    if budget is not None:
        share = budget - (time.time() - started)
        share -= PREDICT_SHARE * share
        log.info("budget: this fold's trainings get %s", format_duration(max(share, 0)))
    settings, common = resolve_settings(profile=profile, quick=quick, steps=steps), dict(scheme=scheme, seed=seed)
    with staged_folder(out_dir, "cv --fold") as work:
        rows, errs, _ = _run_fold(train_dir, work, fold, labels, patients[tr], patients[te], settings=settings,
                                  common=common,
                                  progress=progress, share=share, strict=True, started=time.time())
        frame, per = _tables(rows, errs)
        write_atomic(per, work / "per_patient.csv")
        write_atomic(frame, work / "per_fold.csv")
        write_json(work / FOLD_RECORD, {
            "format": FOLD_FORMAT, "version": 1, "fold": fold, "folds": folds, "seed": seed,
            "split_seed": split_seed, "profile": "quick" if quick else profile, "steps": steps,
            "budget": budget, "scheme": scheme if isinstance(scheme, str) else getattr(scheme, "name", str(scheme)),
            "training_csv_sha256": file_sha256(train_dir / LABELS_FILE),
            "train_patients": [str(p) for p in patients[tr]], "test_patients": [str(p) for p in patients[te]]})
    return frame


# ------------------------------------------------------------------ ra2 cv merge
_SAME = ("folds", "split_seed", "training_csv_sha256", "profile", "steps", "scheme")


def _read_fold(folder: Path) -> dict:
    path = folder / FOLD_RECORD
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder (give the folders 'ra2 cv --fold' wrote)")
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{folder}: no {FOLD_RECORD}; not a folder that 'ra2 cv --fold' wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable ({exc.__class__.__name__}: {exc})") from exc
    if not isinstance(rec, dict) or rec.get("format") != FOLD_FORMAT or not isinstance(rec.get("fold"), int):
        raise UsageError(f"{path}: not a fold record of 'ra2 cv --fold'")
    for name in ("per_fold.csv", "per_patient.csv"):
        if not (folder / name).is_file():
            raise UsageError(f"{folder}: has no {name}; the fold did not finish")
    rec["folder"] = folder
    return rec


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype={ID: str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the table ({exc})") from exc


def check_folds(folders) -> list[dict]:
    """The fold records of ``folders``, checked: one split (fold count, split seed, training data, profile,
    steps, scheme), each (seed, fold) once, and every fold of the split present for every seed."""
    from challenge.errors import listed

    recs = [_read_fold(Path(f)) for f in folders]
    if not recs:
        raise UsageError("no fold folders given")
    first = recs[0]
    for rec in recs[1:]:
        for key in _SAME:
            if rec.get(key) != first.get(key):
                raise UsageError(f"{rec['folder']} and {first['folder']} are not folds of one cross-validation: "
                                 f"{key} {rec.get(key)!r} against {first.get(key)!r}")
    seen = {}
    for rec in recs:
        key = (rec["seed"], rec["fold"])
        if key in seen:
            raise UsageError(f"{rec['folder']} and {seen[key]['folder']} are both fold {rec['fold']} of seed "
                             f"{rec['seed']}; give each fold once")
        seen[key] = rec
    for seed in sorted({r["seed"] for r in recs}):
        missing = [k for k in range(1, first["folds"] + 1) if (seed, k) not in seen]
        if missing:
            raise UsageError(f"seed {seed}: fold(s) {listed([str(k) for k in missing], 5)} of {first['folds']} "
                             "missing; give every fold of the split")
    return sorted(recs, key=lambda r: (r["seed"], r["fold"]))


def _copy_fold(rec: dict, dest: Path) -> None:
    shutil.copytree(rec["folder"], dest, symlinks=True,
                    ignore=lambda d, names: [RECORD] if Path(d) == rec["folder"] else [])


def merge_folds(folders, out_dir) -> pd.DataFrame:
    """The folder ``cross_validate`` writes, from the folders of its folds (``cross_validate_fold``).

    One seed: ``per_fold.csv``, ``per_patient.csv`` and ``fold{K}/`` exactly as ``cross_validate``
    writes them with that seed and split.  Several seeds (the same split): each seed's own tables
    and folds in ``seed{S}/``, and at the top ``per_fold.csv`` with each fold's metrics averaged
    over the seeds (for ``ra2 compare --per-fold``) and ``per_patient.csv`` with a ``seed`` column.
    Returns the top ``per_fold.csv`` table."""
    recs = check_folds(folders)
    seeds = sorted({r["seed"] for r in recs})
    with staged_folder(out_dir, "cv") as work:
        per_seed = {}
        for seed in seeds:
            mine = [r for r in recs if r["seed"] == seed]
            base = work if len(seeds) == 1 else work / f"seed{seed}"
            frame = pd.concat([_read_table(r["folder"] / "per_fold.csv") for r in mine], ignore_index=True)
            per = pd.concat([_read_table(r["folder"] / "per_patient.csv") for r in mine], ignore_index=True)
            for r in mine:
                _copy_fold(r, base / f"fold{r['fold']}")
            write_atomic(per, base / "per_patient.csv")
            write_atomic(frame, base / "per_fold.csv")
            per_seed[seed] = (frame, per)
        if len(seeds) == 1:
            return per_seed[seeds[0]][0]
        frames = pd.concat([f for f, _ in per_seed.values()], ignore_index=True)
        order = {m: i for i, m in enumerate(dict.fromkeys(frames["method"]))}
        mean = (frames.groupby(["fold", "method"], sort=False).mean(numeric_only=True).reset_index()
                .sort_values(["fold", "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                             kind="stable"))
        mean = mean[list(frames.columns)]
        per = pd.concat([p.assign(seed=s) for s, (_, p) in per_seed.items()], ignore_index=True)
        write_atomic(per[["seed"] + [c for c in per.columns if c != "seed"]], work / "per_patient.csv")
        write_atomic(mean, work / "per_fold.csv")
        return mean
