"""``ra2 evaluate``: the organisers' loop over submission images (the work is in ``workflows.evaluate``)."""
from __future__ import annotations

import sys
from pathlib import Path

from challenge.errors import UsageError

from .options import add_engine_options, check_engine_options


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="run submission images on a test folder, validate, score and rank them",
                       description="The organisers' loop: each submission image runs on the test folder through "
                                   "workflows/evaluate.cwl (read-only /test, writable /output, no network, a time "
                                   "limit), its predictions are validated and scored; 'ra2 leaderboard' ranks the "
                                   "valid ones. A submission that fails, times out or writes an invalid file gets "
                                   "a row saying so; a second run does not rerun finished submissions.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="submission images (Docker names, e.g. team1:v3)")
    p.add_argument("--test", required=True, metavar="DIR", help="test folder: images and template.csv")
    p.add_argument("--gold", required=True, metavar="CSV", help="gold scores of the test patients")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: new, empty, or an earlier 'ra2 evaluate' one (its finished submissions are "
                        "kept and not run again)")
    p.add_argument("--train", metavar="DIR", help="training folder, placed read-only at /train in each run")
    p.add_argument("--names", nargs="+", metavar="NAME", help="team names, one per image (default: from the image names)")
    add_engine_options(p)
    p.add_argument("--time-limit", type=int, default=172800, metavar="S",
                   help="seconds each submission may run (default 172800, the final round's 48 h)")
    p.add_argument("--gpus", type=int, default=0, metavar="N",
                   help="GPUs for each submission (workflows/evaluate-gpu.cwl; default 0)")
    p.add_argument("--scoring-image", default="ra2-submission", metavar="IMAGE",
                   help="image that runs ra2 validate and ra2 score (default ra2-submission, the project's image)")
    p.add_argument("--entrypoint", default="/opt/ra2/run.sh", metavar="PATH",
                   help="program each image runs, named because Singularity ignores an image's ENTRYPOINT "
                        "(default /opt/ra2/run.sh, the project's run.sh)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of the leaderboard (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from challenge.outputs import check_output_folder, check_replaceable

    from .engine import Engine, executable
    from .evaluate import evaluate_images, team_name

    check_engine_options(args)
    if args.time_limit < 1:
        raise UsageError(f"--time-limit {args.time_limit}: must be at least 1 second")
    if args.gpus < 0:
        raise UsageError(f"--gpus {args.gpus}: must be 0 or more")
    if args.gpus and args.engine == "toil" and not args.singularity and args.jobs > 1:
        raise UsageError("--gpus with --engine toil and --jobs above 1 needs --singularity: Toil hands each job its "
                         "GPUs through CUDA_VISIBLE_DEVICES, which Docker's --gpus ignores, so parallel runs would "
                         "all use the first GPUs")
    if args.n_boot < 1:
        raise UsageError(f"--n-boot {args.n_boot}: must be at least 1")
    names = args.names or [team_name(i) for i in args.images]
    if len(names) != len(args.images):
        raise UsageError(f"--names: {len(names)} name(s) for {len(args.images)} image(s)")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"{', '.join(twice)}: more than one image has this name; give --names")
    for n in names:
        if team_name(n) != n:
            raise UsageError(f"--names {n}: use letters, digits, '.', '_' and '-' only (it names a folder)")
    test = Path(args.test)
    if not (test / "template.csv").is_file():
        raise UsageError(f"--test {args.test}: no template.csv there (a test folder holds the images and template.csv)")
    if not Path(args.gold).is_file():
        raise UsageError(f"--gold {args.gold}: no such file")
    if args.train is not None and not Path(args.train).is_dir():
        raise UsageError(f"--train {args.train}: no such folder")
    inputs = [args.test, args.gold] + ([args.train] if args.train else [])
    check_output_folder(args.out, "--out", inputs, replaced=True)
    check_replaceable(args.out, "evaluate", "--out")
    executable(args.engine)
    result = evaluate_images(args.images, args.test, args.gold, args.out, engine=Engine.from_args(args),
                             names=names, train_dir=args.train, time_limit=args.time_limit,
                             entrypoint=args.entrypoint, gpus=args.gpus, scoring_image=args.scoring_image,
                             n_boot=args.n_boot, seed=args.seed)
    for r in result["results"]:
        figures = f"  SC1 {r['sc1']:.4f}" if r["status"] == "scored" and r.get("sc1") is not None else ""
        again = " (earlier run)" if r.get("resumed") else ""
        print(f"{r['name']}: {r['status']}{again}{figures}{': ' + r['message'] if r['message'] else ''}")
    if result["leaderboard"] is not None:
        print()
        print(result["leaderboard"]["markdown"])
    else:
        print("no valid submission: no leaderboard", file=sys.stderr)
    print(f"\nresults: {Path(args.out) / 'results.csv'}")
    return 0
