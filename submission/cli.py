"""``ra2 train``, ``ra2 predict``, ``ra2 cv`` and ``ra2 explain``: thin layers over the plain functions.

Nothing heavy is imported here (``bundle`` imports no Keras); Keras loads only when a handler runs.
"""
from __future__ import annotations

import logging

from challenge.schemes import DEFAULT_SCHEME, load_scheme

from .profiles import DEFAULT_PROFILE, PROFILES

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("train", help="train the method (localizers, scorers, stacker) into a bundle",
                       description="Train the three-stage method on a training folder (images, training.csv, "
                                   "landmarks.csv, optional masks/) and write a model bundle folder.")
    p.add_argument("--data", required=True, metavar="TRAIN_DIR", help="training folder")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="bundle folder to write: new, empty, or one an earlier 'ra2 train' wrote, with nothing added (it is replaced whole at the end)")
    _common(p)
    p.add_argument("--budget", metavar="DURATION",
                   help="the whole training's time on this host, e.g. 2h, 45m, 1h30m, 90s: each network is timed "
                        "for a few steps and the step counts are planned to end within it, never above the "
                        "profile's; 'none' for the profile's lengths (default: 2h where Keras sees no GPU, except "
                        "with --quick; the profile's lengths on a GPU)")
    p.add_argument("--steps-from", metavar="BUNDLE",
                   help="train each network for as many steps as that bundle's did (its localizer, refiner, hand "
                        "and foot scorer steps), e.g. to repeat a budgeted training exactly")
    p.add_argument("--no-seg", action="store_true", help="ablation: scorers without the joint-space mask branch")
    p.add_argument("--no-stack", action="store_true", help="ablation: no symmetry stacker (patch predictions only)")
    p.set_defaults(func=cmd_train, replaces="out")

    p = sub.add_parser("predict", help="predict a test folder with a bundle",
                       description="Fill the template with the method's predictions; an unreadable image is "
                                   "logged and its patient still gets every column.")
    p.add_argument("--bundle", required=True, help="bundle folder from 'ra2 train'")
    p.add_argument("--images", required=True, metavar="TEST_DIR", help="folder of test images")
    p.add_argument("--template", required=True, help="template.csv")
    p.add_argument("--out", required=True, help="predictions CSV to write (atomically)")
    p.add_argument("--landmarks-out", metavar="FILE", help="write predicted landmarks (image,landmark,x,y,...)")
    p.add_argument("--overlays", metavar="DIR", help="write one PNG per image with landmarks, masks and scores")
    p.add_argument("--masks-out", metavar="DIR",
                   help="write each image's predicted joint spaces as {PID}-{LIMB}.png (255 = joint space), "
                        "as 'ra2 review --masks' reads them")
    p.add_argument("--no-stack", action="store_true", help="use patch predictions only, even if the bundle stacks")
    p.add_argument("--uncertainty-out", metavar="FILE",
                   help="also write the method's uncertainty (Patient_ID,image,name,measure,value): per joint the "
                        "spread of the out-of-fold scorers' answers in score units, per landmark its heatmap's "
                        "width and peak; 'ra2 review --uncertainty' shows it (the predictions do not change)")
    p.add_argument("--summary", metavar="JSON", help="write the run summary to this JSON file")
    p.add_argument("--prior-only", action="store_true",
                   help="write the training prior for every patient even when no image can be used "
                        "(otherwise such a run fails)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("cv", help="K-fold cross-validation of the method and its ablations",
                       description="K-fold CV of the full method, --no-seg, --no-stack and the training prior; "
                                   "writes per_fold.csv for 'ra2 compare --per-fold' and per_patient.csv. "
                                   "'--fold K' runs one fold into a folder of its own, 'ra2 cv merge' gathers such "
                                   "folders, '--engine' runs the folds as CWL jobs (workflows/cv.cwl).")
    p.add_argument("--data", metavar="TRAIN_DIR", help="training folder (required)")
    p.add_argument("--folds", type=int, default=5, help="number of folds (default 5)")
    p.add_argument("--out", metavar="DIR", help="output folder (required): new, empty, or one an earlier 'ra2 cv' wrote, with nothing added (it is replaced whole at the end)")
    _common(p)
    p.add_argument("--split-seed", type=int, metavar="S",
                   help="seed of the fold assignment (default: --seed), so that trainings with other seeds share "
                        "their folds")
    p.add_argument("--fold", type=int, metavar="K",
                   help="run only fold K (1..--folds) into --out, a folder of its own, for 'ra2 cv merge'")
    p.add_argument("--budget", metavar="DURATION",
                   help="the whole cross-validation's time, e.g. 6h: shared equally among the folds (less the "
                        "predictions' time); each fold's --no-seg ablation retrains the scorers with the steps "
                        "its full training got; with --fold, that fold's own time (default: none, the profile's "
                        "lengths)")
    try:
        from workflows.options import add_engine_options
    except ModuleNotFoundError:     # an image without the workflows package: no --engine
        pass
    else:
        add_engine_options(p, cv=True)
    p.set_defaults(func=cmd_cv, replaces="out")
    actions = p.add_subparsers(dest="cv_action", metavar="merge", required=False)
    m = actions.add_parser("merge", help="gather the folders of 'ra2 cv --fold' into the folder 'ra2 cv' writes",
                           description="Gather the folders 'ra2 cv --fold K' wrote (every fold of one split, for one "
                                       "or more seeds) into per_fold.csv, per_patient.csv and fold{K}/ as 'ra2 cv' "
                                       "writes them; several seeds: each seed's tables in seed{S}/ and, at the top, "
                                       "each fold's metrics averaged over the seeds.")
    m.add_argument("fold_dirs", nargs="+", metavar="FOLD_DIR", help="folders written by 'ra2 cv --fold'")
    m.add_argument("--out", required=True, metavar="DIR", help="output folder: new, empty, or one an earlier 'ra2 cv' wrote, with nothing added (it is replaced whole at the end)")
    m.set_defaults(func=cmd_cv_merge, replaces="out")

    p = sub.add_parser("explain", help="SHAP contribution maps of a bundle's stacker",
                       description="Mean |SHAP| of the stacker's trees: same-side and other-side contribution "
                                   "matrices per limb kind, as CSV and labelled PNG heatmaps.")
    p.add_argument("--bundle", required=True, help="bundle folder (trained with the stacker)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder: new, empty, or one an earlier 'ra2 explain' wrote, with nothing added (it is replaced whole at the end)")
    p.set_defaults(func=cmd_explain, replaces="out")


def _common(p) -> None:
    p.add_argument("--scheme", default=DEFAULT_SCHEME, metavar="NAME_OR_FILE",
                   help=f"landmark scheme (default {DEFAULT_SCHEME})")
    sizes = "; ".join(f"{name}: {s.localizer.steps} localizer, {s.refiner.steps} refiner, {s.hand.steps} hand and "
                      f"{s.foot.steps} foot scorer steps" for name, s in PROFILES.items())
    p.add_argument("--profile", choices=list(PROFILES), default=None,
                   help=f"named settings (default {DEFAULT_PROFILE}; {sizes})")
    p.add_argument("--steps", type=int, metavar="N", help="optimiser steps of every network (overrides the profile)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quick", action="store_true", help="the same as --profile quick (tests, smoke runs)")


def _profile(args) -> str:
    from challenge.errors import UsageError

    if args.quick and args.profile not in (None, "quick"):
        raise UsageError(f"--quick and --profile {args.profile} contradict each other: give one")
    return "quick" if args.quick else args.profile or DEFAULT_PROFILE


def _check_common(args) -> None:
    """--steps and --seed, before any work."""
    from challenge.errors import UsageError

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be at least 1 (or leave it out for the defaults)")
    if not 0 <= args.seed < 2 ** 32:
        raise UsageError(f"--seed {args.seed}: must be between 0 and {2 ** 32 - 1}")


def _training_length(args, profile: str):
    """(budget seconds or None, settings or None) from --budget, --steps and --steps-from (at most
    one of them), before any work; None, None when none was given (the caller's default)."""
    from challenge.errors import UsageError

    from .budget import parse_duration, steps_from
    from .profiles import profile_settings

    given = [o for o, v in (("--budget", args.budget), ("--steps", args.steps),
                            ("--steps-from", getattr(args, "steps_from", None))) if v is not None]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} both set the training's length: give one (--budget plans the "
                         "steps within a time, --steps and --steps-from fix them)")
    if getattr(args, "steps_from", None) is not None:
        return None, profile_settings(profile).with_values(steps_from(args.steps_from))
    return (parse_duration(args.budget) if args.budget is not None else None), None


def _outside_bundle(folder: str, option: str, bundle: str) -> None:
    """An output folder may not lie in the bundle folder: a retrained bundle replaces the whole folder."""
    from pathlib import Path

    from challenge.errors import UsageError

    if Path(bundle).expanduser().resolve() in Path(folder).expanduser().resolve().parents:
        raise UsageError(f"{option} {folder}: is inside the bundle folder {bundle} (a retrained bundle replaces "
                         "the whole folder); give a folder outside it")


def cmd_train(args) -> int:
    from challenge.outputs import check_output_folder, check_replaceable
    from challenge.training import require_training_folder

    from .budget import DEFAULT_BUDGET, command_started, format_duration, visible_gpus

    started = command_started()
    scheme = load_scheme(args.scheme)
    _check_common(args)
    profile = _profile(args)
    budget, settings = _training_length(args, profile)
    check_output_folder(args.out, "--out", [args.data], replaced=True)
    check_replaceable(args.out, "train", "--out")
    require_training_folder(args.data, scheme)
    if args.budget is None and args.steps is None and settings is None and profile != "quick":
        gpus = visible_gpus()
        if gpus:
            log.info("Keras sees a GPU (%s): the %s profile's own lengths, no budget", ", ".join(gpus), profile)
        else:
            budget = DEFAULT_BUDGET
            log.info("no GPU: training within the default budget of %s (--budget to change it, --budget none "
                     "for the profile's own lengths)", format_duration(budget))

    from .profiles import resolve_settings
    from .train import train_bundle

    settings = resolve_settings(settings=settings, profile=profile, seg=False if args.no_seg else None,
                                stack=False if args.no_stack else None, steps=args.steps)
    out = train_bundle(args.data, args.out, settings=settings, scheme=scheme, seed=args.seed, budget=budget,
                       started=started)
    print(f"bundle written to {out}")
    return 0


def cmd_predict(args) -> int:
    from challenge.outputs import check_distinct, check_output_file, check_output_folder, input_files

    inputs = [args.template, args.bundle, *input_files(args.images)]
    for option, folder in (("--overlays", args.overlays), ("--masks-out", getattr(args, "masks_out", None))):
        if folder is not None:
            _outside_bundle(folder, option, args.bundle)
    check_distinct(out=args.out, landmarks_out=args.landmarks_out, summary=args.summary,
                   uncertainty_out=args.uncertainty_out)
    for option, path in (("--out", args.out), ("--landmarks-out", args.landmarks_out), ("--summary", args.summary),
                         ("--uncertainty-out", args.uncertainty_out)):
        if path is not None:
            check_output_file(path, option, inputs)
    for option, folder in (("--overlays", args.overlays), ("--masks-out", args.masks_out)):
        if folder is not None:
            check_output_folder(folder, option, [args.template, args.bundle, args.images])

    from .predict import predict_folder

    summary = predict_folder(args.bundle, args.images, args.template, args.out, landmarks_out=args.landmarks_out,
                             overlays=args.overlays, masks_out=args.masks_out,
                             stack=False if args.no_stack else None,
                             prior_only=args.prior_only, uncertainty_out=args.uncertainty_out,
                             summary_out=args.summary)
    print(f"{summary['patients']} patients, {summary['images']} images ({len(summary['failed'])} not usable), "
          f"{summary['seconds_per_image']:.3f} s per image on {summary['device']}: {summary['out']}")
    return 0


def cmd_cv(args) -> int:
    from challenge.errors import UsageError
    from challenge.outputs import check_output_folder, check_replaceable
    from challenge.training import require_training_folder

    from .budget import command_started

    started = command_started()
    missing = [o for o, v in (("--data", args.data), ("--out", args.out)) if v is None]
    if missing:
        raise UsageError(f"{' and '.join(missing)} required (or 'ra2 cv merge FOLD_DIR... --out DIR')")
    scheme = load_scheme(args.scheme)
    _check_common(args)
    if args.split_seed is not None and not 0 <= args.split_seed < 2 ** 32:
        raise UsageError(f"--split-seed {args.split_seed}: must be between 0 and {2 ** 32 - 1}")
    engine = getattr(args, "engine", None)
    if hasattr(args, "engine"):
        from workflows.options import check_engine_options

        check_engine_options(args, cv=True)
    if engine is not None and args.fold is not None:
        raise UsageError("--fold and --engine: --engine runs every fold as its own job; give one of them")
    if engine is not None and args.budget is not None:
        raise UsageError("--budget and --engine: the jobs run side by side, so one budget cannot be shared among "
                         "them; give each fold its time with 'ra2 cv --fold K --budget', or leave --engine out")
    budget, _ = _training_length(args, _profile(args))
    check_output_folder(args.out, "--out", [args.data], replaced=True)
    check_replaceable(args.out, "cv --fold" if args.fold is not None else "cv", "--out")
    usable = len(require_training_folder(args.data, scheme).usable)
    if usable < 3:
        raise UsageError(f"{args.data}: cross-validation needs at least 3 labelled patients with images "
                         f"(each fold trains on 2 or more), found {usable}")
    if not 2 <= args.folds <= usable:
        raise UsageError(f"--folds {args.folds}: must be between 2 and {usable}, the number of labelled patients "
                         f"with images in {args.data}")
    if args.fold is not None and not 1 <= args.fold <= args.folds:
        raise UsageError(f"--fold {args.fold}: must be between 1 and {args.folds} (--folds)")

    if engine is not None:
        from workflows.cv import run_cv

        frame = run_cv(args.data, args.folds, args.out, seeds=[args.seed], split_seed=args.split_seed,
                       profile=_profile(args), steps=args.steps, scheme=args.scheme, options=args)
    elif args.fold is not None:
        from .cv import cross_validate_fold

        frame = cross_validate_fold(args.data, args.folds, args.fold, args.out, seed=args.seed,
                                    split_seed=args.split_seed, profile=_profile(args), steps=args.steps,
                                    scheme=scheme, budget=budget, started=started)
        print(frame.set_index("method")[["sc1", "sc2", "sc3"]].round(4).to_string())
        print(f"fold {args.fold} of {args.folds}: {args.out} (gather the folds with 'ra2 cv merge FOLD_DIR... --out DIR')")
        return 0
    else:
        from .cv import cross_validate

        frame = cross_validate(args.data, args.folds, args.out, seed=args.seed, split_seed=args.split_seed,
                               profile=_profile(args), steps=args.steps, scheme=scheme, budget=budget,
                               started=started)
    _print_cv(frame, args.out)
    return 0


def _print_cv(frame, out) -> None:
    print(frame.groupby("method")[["sc1", "sc2", "sc3"]].mean().round(4).to_string())
    print(f"per-fold table: {out}/per_fold.csv (ra2 compare full no-seg --per-fold {out}/per_fold.csv)")


def cmd_cv_merge(args) -> int:
    from challenge.outputs import check_output_folder, check_replaceable

    check_output_folder(args.out, "--out", args.fold_dirs, replaced=True)
    check_replaceable(args.out, "cv", "--out")

    from .cv import merge_folds

    _print_cv(merge_folds(args.fold_dirs, args.out), args.out)
    return 0


def cmd_explain(args) -> int:
    from challenge.outputs import check_output_folder, check_replaceable

    check_output_folder(args.out, "--out", [args.bundle], replaced=True)
    check_replaceable(args.out, "explain", "--out")
    _outside_bundle(args.out, "--out", args.bundle)

    from .explain import explain_bundle

    for path in explain_bundle(args.bundle, args.out):
        print(path)
    return 0
