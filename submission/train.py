"""``train_bundle``: localizers, scorers, out-of-fold stacker, all into one bundle folder.

Order of work: read every training image once (``data.load_training``, each stage cutting its own
input: ``kind_stages``); fit one localizer per limb kind (``localize.Localizer``), and one refiner
(``refine.Refiner``) where the settings refine, each saved into the bundle as soon as it is fitted;
fit the scorers (``score.Scorer``) K times on K−1 folds of patients
to get out-of-fold patch predictions (what the stacker sees at test time); fit
the stacker on the out-of-fold predictions; write the bundle.  The K fold
scorers are kept and averaged at prediction time (each has seen (K−1)/K of the
patients), so no (K+1)-th scorer is trained on everyone and the training costs
K scorer fits per limb kind, not K + 1.
Without a stacker (the ``--no-stack`` ablation) one scorer per kind is trained
on everyone.

With a time ``budget`` (``submission.budget``), each network is first probed for a few steps on this
host after the images are read, and the step counts are planned, and planned again at the start of
each stage (localizers, refiners, scorers), so that the whole training ends within the budget.
Every training records in ``Bundle.training`` the steps each network got, the seconds per step its
training measured, the host and, when budgeted, the budget and its plans.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from challenge.catalogue import JOINT_COLUMNS, KINDS
from challenge.errors import UsageError
from challenge.outputs import check_replaceable, staged_folder
from challenge.schemes import DEFAULT_SCHEME, Scheme, load_scheme
from challenge.tables import with_totals
from challenge.training import fingerprint

from .budget import (LANDMARK_FIELDS, PROBE_STEPS, SCORER_FIELDS, STEP_FIELDS, Budget, Probe, host_info,
                     network_record)
from .bundle import Bundle
from .data import Stages, load_training, metric_weights
from .settings import Settings
from .units import carried, column_top, joint_matrix, log_scores, to_scores

log = logging.getLogger(__name__)


def kind_stages(kind: str, scheme: Scheme, settings: Settings, *, patch_mm: float | None = None) -> Stages:
    """The untrained stages of one limb kind under ``settings`` (no refiner when it does not refine)."""
    from .localize import Localizer
    from .refine import Refiner

    return Stages(Localizer.from_settings(kind, scheme, settings.localizer),
                  Refiner.from_settings(kind, scheme, settings.refiner) if settings.refines else None,
                  scorer_of(kind, scheme, settings, patch_mm=patch_mm))


def scorer_of(kind: str, scheme: Scheme, settings: Settings, *, patch_mm: float | None = None):
    """The untrained ``score.Scorer`` of one limb kind under ``settings``."""
    from .score import Scorer

    return Scorer.from_settings(kind, scheme, settings.scorer(kind), seg=settings.seg, patch_mm=patch_mm)


def fit_scorers(data, scheme: Scheme, scores: pd.DataFrame, settings: Settings, *, patients=None, seed: int,
                progress: bool) -> dict:
    """One fitted ``Scorer`` per limb kind of ``data`` (on ``patients`` only, if given)."""
    return {kind: scorer_of(kind, scheme, settings, patch_mm=d.patch_mm).fit(d, scores, patients=patients, seed=seed,
                                                                             progress=progress)
            for kind, d in data.items()}


def patch_predictions(scorers, data, scheme: Scheme, scores: pd.DataFrame, patients) -> pd.DataFrame:
    """log2(score + 1) predictions (patients × 86) of the scorers on the true-landmark patches."""
    out = joint_matrix(patients)
    for kind, d in data.items():
        s = d.samples(scheme, kind, scores, set(patients))
        if not len(s["patches"]):
            continue
        unit, _ = scorers[kind].predict(s["patches"], s["landmark"])
        fill_matrix(out, unit * column_top(kind), kind, scheme, s["patient"], s["limb"], s["landmark"])
    return out


def fill_matrix(out: pd.DataFrame, log_pred: np.ndarray, kind: str, scheme: Scheme, patients, limbs, landmarks):
    """Write each patch's carried columns into the (patients × 86) frame."""
    for i, col, value in carried(scheme, kind, landmarks, log_pred):
        out.at[patients[i], f"{limbs[i]}_{col}"] = value


def out_of_fold(data, scheme, scores, settings: Settings, *, seed: int, progress: bool,
                before_fold=None) -> tuple[pd.DataFrame, dict]:
    """Out-of-fold patch predictions (log2 space) of every labelled patient, and per limb kind the
    ``Scorer`` of the K fold networks.  ``before_fold(k, folds_left, settings)``, if given, returns the
    settings of fold ``k`` (from 2) on (a budget shortens the later folds when the first ran slower
    than planned)."""
    from .models import first_traces
    from .score import Scorer

    patients = np.array(sorted(scores.index))
    oof = joint_matrix(patients)
    folds = KFold(min(settings.oof_folds, len(patients)), shuffle=True, random_state=seed)
    fold_scorers = []
    for k, (tr, va) in enumerate(folds.split(patients)):
        if before_fold is not None and k > 0:
            settings = before_fold(k + 1, folds.get_n_splits() - k, settings)
        log.info("out-of-fold scorers: fold %d of %d", k + 1, folds.get_n_splits())
        scorers = fit_scorers(data, scheme, scores, settings, patients=set(patients[tr]), seed=seed + 1 + k,
                              progress=progress)
        with first_traces():                       # each fold's fresh scorers trace once
            part = patch_predictions(scorers, data, scheme, scores, patients[va])
        oof.loc[part.index] = part
        fold_scorers.append(scorers)
    return oof, {kind: Scorer.folds([f[kind] for f in fold_scorers]) for kind in data}


def _official(log_pred: pd.DataFrame, scores: pd.DataFrame) -> dict:
    from evaluator.official import score_frames

    keep = log_pred.dropna(how="all").index      # a limb kind without networks: the training prior
    if not len(keep):
        return {}
    filled = log_pred.loc[keep].fillna(log_scores(scores).mean(axis=0))
    return score_frames(to_scores(filled), with_totals(scores.loc[keep]))


def trainable_kinds(data: dict, scores: pd.DataFrame) -> tuple[tuple[str, ...], dict[str, str]]:
    """The limb kinds that have images with landmarks and labels, and why each other kind has none."""
    kinds, untrained = [], {}
    for kind in KINDS:
        d = data[kind]
        if not d.loc_images:
            untrained[kind] = f"no usable {kind} images with landmarks"
        elif not any(p in scores.index for p in d.patients):
            untrained[kind] = f"no labelled patient has a usable {kind} image"
        else:
            kinds.append(kind)
    return tuple(kinds), untrained


def make_stacker(settings: Settings, seed: int):
    """The (unfitted) stacker of ``settings``."""
    from .stack import Stacker

    st = settings.stacker
    return Stacker(n_trees=st.trees, depth=st.depth, summaries=st.summaries, calibrated_totals=st.totals, seed=seed)


def probe_networks(data, scheme: Scheme, scores: pd.DataFrame, settings: Settings, budget: Budget, *, seed: int,
                   landmarks: bool = True) -> None:
    """Measure on this host what ``train_bundle`` will spend, into ``budget.probes`` and ``budget.tail``.

    Every network it will fit (with ``landmarks`` the localizers and refiners too) is built and fed
    by its stage's ``fit``, as the training does, and stopped after ``budget.PROBE_STEPS`` steps
    (``models.watch_steps``): the median step after the first traces, the rest of the call (building,
    data stream, first traces) and saving it are kept, the network thrown away.  With a stacker, the
    probe scorer also predicts some patches (the out-of-fold predictions), and stackers with a
    hundredth and a fiftieth of the trees are fitted and saved (the stacker, extrapolated per tree)."""
    import tempfile

    from .models import first_traces, watch_steps

    folds = min(settings.oof_folds, len(scores)) if settings.stack else 1
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="ra2-probe-") as tmp, first_traces():
        def probe(name: str, fits: int, stage, *data):
            with watch_steps(limit=PROBE_STEPS) as records:
                t = time.perf_counter()
                stage.fit(*data, seed=seed, progress=False)
                took = time.perf_counter() - t
            r = records[-1]
            t = time.perf_counter()
            stage.save(Path(tmp))
            budget.probes[name] = Probe(step=r.step_seconds, fixed=max(0.0, took - r.steps * r.step_seconds),
                                        save=time.perf_counter() - t, fits=fits)

        for kind, d in data.items():
            stages = kind_stages(kind, scheme, settings, patch_mm=d.patch_mm)
            if landmarks:
                probe(f"{kind} localizer", 1, stages.localizer, d)
                if stages.refiner is not None:
                    probe(f"{kind} refiner", 1, stages.refiner, d)
            probe(f"{kind} scorer", folds, stages.scorer, d, scores)
            if settings.stack:
                budget.tail[f"{kind} out-of-fold predictions"] = _probe_predictions(stages.scorer, kind, d, scheme,
                                                                                    scores, folds)
        if settings.stack:
            budget.tail["stacker"] = _probe_stacker(scores, settings, seed, Path(tmp))
    log.info("budget: probed %d networks in %.0f s: %s s a step", len(budget.probes), time.time() - start,
             ", ".join(f"{n} {p.step:.3f}" for n, p in budget.probes.items()))


def _probe_predictions(scorer, kind: str, d, scheme: Scheme, scores: pd.DataFrame, folds: int) -> float:
    """Estimated seconds of the out-of-fold predictions of one limb kind: the samples cut once per
    fold, one first trace per fold scorer, and every labelled patch predicted once."""
    t = time.perf_counter()
    s = d.samples(scheme, kind, scores)
    sampled = time.perf_counter() - t
    n = len(s["patches"])
    m = min(n, 64)

    def timed() -> float:
        t = time.perf_counter()
        scorer.predict(s["patches"][:m], s["landmark"][:m])
        return time.perf_counter() - t

    first, again = timed(), timed()
    return folds * (sampled + max(0.0, first - again)) + again * n / max(m, 1)


def _probe_stacker(scores: pd.DataFrame, settings: Settings, seed: int, folder: Path) -> float:
    """Estimated seconds of fitting and saving the stacker: stackers with about a hundredth and a
    fiftieth of its trees fitted and saved on features of the training's shape, extrapolated per
    tree, plus the start of the worker processes (a first tiny fit)."""
    from sklearn.base import clone

    from .stack import save

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(scores), len(JOINT_COLUMNS)))
    y, w = log_scores(scores).to_numpy(), metric_weights(scores).to_numpy()
    full = make_stacker(settings, seed)

    def units(st) -> int:                   # forests' trees per column, the inner folds' included
        return st.inner_folds * min(st.inner_trees, st.n_trees) + st.n_trees

    def timed(trees: int) -> tuple[float, int]:
        st = clone(full).set_params(n_trees=trees,
                                    inner_trees=max(1, round(full.inner_trees * trees / full.n_trees)))
        t = time.perf_counter()
        save(st.fit(x, y, sample_weight=w), folder / Bundle.STACKER)
        return time.perf_counter() - t, units(st)

    small = max(1, full.n_trees // 100)
    (warm, _), (t1, u1), (t2, u2) = timed(1), timed(small), timed(2 * small)
    per_unit = max(0.0, (t2 - t1) / max(1, u2 - u1))
    return t2 + per_unit * max(0, units(full) - u2) + max(0.0, warm - t1)


def _by_network(records) -> dict:
    """``models.StepRecord``s grouped by network (their ``desc``)."""
    out: dict = {}
    for r in records:
        out.setdefault(r.desc, []).append(r)
    return out


def train_bundle(train_dir, out_dir, *, settings: Settings, scheme: str | Scheme = DEFAULT_SCHEME, seed: int = 0,
                 patients=None, progress: bool = True, localizers_from: str | Path | None = None,
                 budget: float | None = None, started: float | None = None, scorer_rounds: int = 1,
                 strict: bool = True) -> Path:
    """Train the method on a training folder and write a bundle to ``out_dir``; returns ``out_dir``.

    ``settings``: the resolved settings it trains with (a profile with its overrides:
    ``profiles.resolve_settings``).  ``patients`` restricts training to
    some patients (cross-validation); ``localizers_from`` reuses the localizers (and
    refiners) of another bundle trained on the same patients (the ablations share them).
    The bundle is written into a temporary folder that replaces ``out_dir`` at the end:
    a failed or interrupted training leaves ``out_dir`` as it was.

    ``budget``: seconds the whole training may take from ``started`` (a ``time.time()``, default
    now), reading the images included: the step counts are planned within it, never above the
    settings' own (``submission.budget``); one too short for the shortest useful training raises
    ``budget.BudgetTooSmall`` (a ``ParameterError``) before any network trains.  None: the settings'
    lengths.  ``scorer_rounds``: how many times the scorer stage will run within the budget with the
    same steps (``ra2 cv`` retrains the scorers for its ablation: 2).  ``strict=False``: a budget too
    short for the shortest useful training trains shorter still instead of refusing (``ra2 cv``'s later
    folds, after hours of work).
    """
    import keras

    from .localize import Localizer
    from .models import watch_steps
    from .refine import Refiner
    from .stack import save as save_stacker

    start = time.time()
    sch = load_scheme(scheme) if not isinstance(scheme, Scheme) else scheme
    lengths = settings                      # the longest each network may train (the budget plans within)
    if budget is not None and not budget > 0:
        raise ValueError(f"budget={budget}: must be a positive number of seconds (or None)")
    check_replaceable(out_dir, "train")
    # the stages that cut the training data (a budget changes their step counts, never their cuts)
    cutters = {kind: kind_stages(kind, sch, settings) for kind in KINDS}
    keras.utils.set_random_seed(seed)
    data, scores, files = load_training(train_dir, sch, cutters, patients=patients, progress=progress)
    if len(scores) < 2:
        raise UsageError(f"{train_dir}: need at least 2 labelled patients with images, found {len(scores)}")
    kinds, untrained = trainable_kinds(data, scores)
    if not kinds:
        raise UsageError(f"{train_dir}: {'; '.join(untrained.values())}: nothing to train")
    for kind, why in untrained.items():
        log.info("%s networks not trained (%s): the %s columns will come from the stacker (other limbs) "
                 "or the training prior", kind, why, kind)
    data = {k: data[k] for k in kinds}
    source = Bundle.load(localizers_from, verify=False) if localizers_from is not None else None
    plan = None
    if budget is not None:
        plan = Budget(budget, started=start if started is None else started, scorer_rounds=scorer_rounds)
        if source is not None:              # its localizers and refiners, with the steps they were trained for
            settings = settings.with_values({k: source.settings.get(k) for k in LANDMARK_FIELDS})
        probe_networks(data, sch, scores, settings, plan, seed=seed, landmarks=source is None)
        keras.utils.set_random_seed(seed)
        settings = plan.plan("localizers" if source is None else "scorers", lengths, settings,
                             STEP_FIELDS if source is None else SCORER_FIELDS, first=strict)
    bundle = Bundle(settings=settings, scheme=sch, kinds=kinds, untrained=untrained, n_scorers={}, prior={},
                    patch_mm={k: data[k].patch_mm for k in kinds if data[k].patch_mm},
                    seed=seed, backend=keras.backend.backend(), keras_version=keras.__version__)

    def replan(stage: str, fields) -> Settings:
        if plan is None:
            return settings
        plan.seen = _by_network(records)
        return plan.plan(stage, lengths, settings, fields)

    with staged_folder(out_dir, "train") as tmp, watch_steps() as records:
        if source is not None:
            names = [f(k) for k in kinds for f in (Bundle.localizer_file, Bundle.refiner_file)
                     if f is Bundle.localizer_file or settings.refines]
            for name in names:
                shutil.copyfile(source.path(name), tmp / name)
        else:
            for kind, d in data.items():
                log.info("training the %s localizer on %d images", kind, len(d.loc_images))
                Localizer.from_settings(kind, sch, settings.localizer).fit(d, seed=seed, progress=progress).save(tmp)
            if settings.refines:
                settings = replan("refiners", ("refiner.steps",) + SCORER_FIELDS)
                for kind, d in data.items():
                    log.info("training the %s landmark refiner on %d images", kind, len(d.loc_images))
                    Refiner.from_settings(kind, sch, settings.refiner).fit(d, seed=seed, progress=progress).save(tmp)
            settings = replan("scorers", SCORER_FIELDS)
        if settings.stack:
            def before_fold(k: int, folds_left: int, fold_settings: Settings) -> Settings:
                if plan is None:
                    return fold_settings
                plan.seen = _by_network(records)
                return plan.trim(f"scorers, fold {k}", fold_settings, SCORER_FIELDS, folds_left)

            oof, scorers = out_of_fold(data, sch, scores, settings, seed=seed, progress=progress,
                                       before_fold=before_fold)
            labelled = oof.dropna(how="all").index
            log.info("fitting the stacker (%d columns x %d trees)", len(JOINT_COLUMNS), settings.stacker.trees)
            if plan is not None:
                plan.plans.append({"stage": "stacker", "at_seconds": round(time.time() - plan.started, 1),
                                   "estimated_seconds": round(plan.tail.get("stacker", 0.0), 1)})
            t = time.time()
            stacker_fit = make_stacker(settings, seed).fit(
                oof.loc[labelled].to_numpy(), log_scores(scores.loc[labelled]).to_numpy(),
                sample_weight=metric_weights(scores.loc[labelled]).to_numpy())
            fitted = time.time()
            save_stacker(stacker_fit, tmp / Bundle.STACKER)
            log.info("stacker fitted in %.0f s and stored in %.0f s", fitted - t, time.time() - fitted)
            oof.loc[labelled].to_csv(tmp / Bundle.FEATURES)
            bundle.blend_weights = stacker_fit.weights_
            bundle.metrics["oof_patch"] = _official(oof, scores)
        else:
            scorers = fit_scorers(data, sch, scores, settings, seed=seed, progress=progress)
        for kind, scorer in scorers.items():
            scorer.save(tmp)
        bundle.n_scorers = {kind: len(scorer.models) for kind, scorer in scorers.items()}
        prior_log = log_scores(scores).mean(axis=0)
        bundle.prior = {c: float(2 ** prior_log[c] - 1) for c in JOINT_COLUMNS}
        bundle.settings = settings
        if plan is not None:
            plan.plans.append({"stage": "saving", "at_seconds": round(time.time() - plan.started, 1)})
        bundle.training = {"folder": str(Path(train_dir).resolve()), "patients": len(scores),
                           "images": len(files) - 2, "fingerprint": fingerprint(files),
                           "budget": plan.record() if plan is not None else None,
                           "networks": network_record(settings, plan.probes if plan is not None else {},
                                                      _by_network(records)),
                           "host": host_info()}
        bundle.train_seconds = round(time.time() - start, 1)
        bundle.save(tmp)
    if plan is not None:
        log.info("bundle written to %s in %.0f s; %.0f s of the budget %s used (%s)", out_dir,
                 time.time() - start, time.time() - plan.started, plan.record()["spelled"],
                 _left(plan.deadline - time.time()))
    else:
        log.info("bundle written to %s in %.0f s", out_dir, time.time() - start)
    return Path(out_dir)


def _left(seconds: float) -> str:
    from .budget import format_duration

    return f"{format_duration(seconds)} left" if seconds >= 0 else f"{format_duration(-seconds)} over"
