"""``cross_validate``: K-fold cross-validation of the method, its two ablations and a prior baseline.

Per fold, on the held-out patients of the training folder: ``full`` (seg +
stack), ``no-stack`` (the same bundle, patch predictions only), ``no-seg``
(scorers without the mask branch, same localizers, with stacker) and ``prior``
(the training prior for every patient, the floor any method must beat).  Writes
``per_fold.csv`` (fold, method, sc1, sc2, ... as read by ``ra2 compare
--per-fold``), ``per_patient.csv`` (fold, method, Patient_ID, weight and every
official per-patient error) and each fold's predictions.

With a ``budget`` (seconds for the whole cross-validation), each fold gets an equal share of the
time left when it starts, less the time its predictions need (measured on the folds before; a
twentieth of the share for the first fold): its full training plans its steps within that share
(``train.train_bundle``) leaving room for a second scorer stage (``scorer_rounds=2``), and its
``no-seg`` ablation retrains the scorers with exactly the steps the full training got, so that the
two differ only in the mask branch.  A budget whose first fold cannot fit the shortest useful
training is refused before any network trains.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from challenge.catalogue import ID, JOINT_COLUMNS
from challenge.errors import ParameterError, UsageError
from challenge.outputs import staged_folder
from challenge.tables import read_scores, template_frame, with_totals, write_atomic, write_scores

log = logging.getLogger(__name__)
METHODS = ("full", "no-stack", "no-seg", "prior")
#: the share of a fold's time kept for its predictions before any fold has measured them
PREDICT_SHARE = 0.05


def _score(pred_path: Path, gold: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    from evaluator.official import per_patient, score_frames

    pred = read_scores(pred_path)
    return score_frames(pred, gold), per_patient(pred, gold)


def cross_validate(train_dir, folds: int, out_dir, *, seed: int = 0, profile: str | None = None, quick: bool = False,
                   steps: int | None = None, scheme: str = "svh21", progress: bool = True,
                   budget: float | None = None, started: float | None = None) -> pd.DataFrame:
    """Run the K folds; returns the per-fold metric table (also written to ``out_dir/per_fold.csv``).
    ``budget``: seconds for the whole cross-validation from ``started`` (default now), shared among
    the folds as the module's docstring says; None: the profile's lengths."""
    from .budget import BudgetTooSmall, format_duration
    from .bundle import Bundle
    from .predict import Method, predict_folder
    from .train import train_bundle

    started = time.time() if started is None else started
    predicting: list[float] = []            # seconds of each fold's predictions

    train_dir, out_dir = Path(train_dir), Path(out_dir)
    labels = with_totals(read_scores(train_dir / "training.csv"))
    patients = np.array(sorted(labels.index))
    if folds < 2 or folds > len(patients):
        raise UsageError(f"{train_dir / 'training.csv'}: {folds} folds asked for, but cross-validation needs "
                         f"between 2 and the number of labelled patients ({len(patients)}) folds")
    table, errors = [], []
    with staged_folder(out_dir, "cv") as work:
        splits = KFold(folds, shuffle=True, random_state=seed).split(patients)
        for k, (tr, te) in enumerate(splits, start=1):
            fold_dir = work / f"fold{k}"
            log.info("fold %d of %d: %d training, %d held-out patients", k, folds, len(tr), len(te))
            template = fold_dir / "template.csv"
            write_atomic(template_frame(list(patients[te])), template)
            common = dict(scheme=scheme, steps=steps, seed=seed, profile=profile, quick=quick,
                          patients=list(patients[tr]), progress=progress)
            if budget is None:
                full = train_bundle(train_dir, fold_dir / "bundle_full", seg=True, stack=True, **common)
                noseg = train_bundle(train_dir, fold_dir / "bundle_noseg", seg=False, stack=True,
                                     localizers_from=full, **common)
            else:
                now, rest = time.time(), folds - k + 1
                left = started + budget - now
                reserve = (max(predicting) if predicting else PREDICT_SHARE * left / rest) * rest
                share = (left - reserve) / rest
                log.info("budget: fold %d of %d gets %s of the %s left (its full training and its no-seg "
                         "ablation)", k, folds, format_duration(max(share, 0)), format_duration(max(left, 0)))
                try:
                    full = train_bundle(train_dir, fold_dir / "bundle_full", seg=True, stack=True,
                                        budget=max(share, 1.0), started=now, scorer_rounds=2, strict=k == 1,
                                        **common)
                except BudgetTooSmall as exc:
                    need = (now - started) + exc.least * folds / (1 - PREDICT_SHARE)
                    raise ParameterError("budget", format_duration(budget),
                                         f"too short for {folds} folds on this host: each fold's training needs "
                                         f"at least {format_duration(exc.least)}, the cross-validation about "
                                         f"{format_duration(need)}") from exc
                lengths = replace(Bundle.load(full, verify=False).settings, seg=False)
                noseg = train_bundle(train_dir, fold_dir / "bundle_noseg", settings=lengths,
                                     localizers_from=full, **{**common, "steps": None})
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
            prior = method.combine(pd.DataFrame(np.nan, index=pd.Index(patients[te], name=ID),
                                                columns=list(JOINT_COLUMNS)))
            write_scores(prior, fold_dir / "prior.csv", template)
            predicting.append(time.time() - predict_start)
            gold = labels.loc[patients[te]]
            for name in METHODS:
                scores, per_patient = _score(fold_dir / f"{name}.csv", gold)
                table.append({"fold": k, "method": name, **scores, "patients": len(te)})
                errors.append(per_patient.reset_index().assign(fold=k, method=name))
        frame = pd.DataFrame(table)
        per = pd.concat(errors, ignore_index=True)
        write_atomic(per[["fold", "method"] + [c for c in per.columns if c not in ("fold", "method")]],
                     work / "per_patient.csv")
        write_atomic(frame, work / "per_fold.csv")
    return frame
