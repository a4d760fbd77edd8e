"""``ra2 baseline NAME --train DIR --test DIR --out P``: write a baseline's predictions file."""
from __future__ import annotations

from .predictors import BASELINES as BASELINE_NAMES   # numpy/pandas only; scikit-learn is imported when used


def cmd_baseline(args) -> int:
    from challenge.errors import UsageError
    from challenge.outputs import check_output_file, input_files
    from challenge.tables import write_scores

    from .predictors import predict_baseline

    if not 0 <= args.seed < 2 ** 32:
        raise UsageError(f"--seed {args.seed}: must be between 0 and {2 ** 32 - 1}")
    if not args.value == args.value or abs(args.value) == float("inf"):
        raise UsageError(f"--value {args.value}: must be a finite number")
    check_output_file(args.out, "--out", [*input_files(args.train), *input_files(args.test)])

    scores = predict_baseline(args.name, args.train, args.test, seed=args.seed, value=args.value)
    path = write_scores(scores, args.out, f"{args.test}/template.csv")
    print(f"{args.name}: wrote predictions for {len(scores)} patients to {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("baseline", help="predictions of a reference baseline",
                              description="Write a predictions file from a baseline: constant (one value "
                                          "everywhere), train-mean / train-median (per column from the training "
                                          "labels) or image-stats (ExtraTrees on global image features).")
    p.add_argument("name", choices=BASELINE_NAMES, metavar="NAME", help=", ".join(BASELINE_NAMES))
    p.add_argument("--train", required=True, help="training folder (training.csv and images)")
    p.add_argument("--test", required=True, help="test folder (template.csv and images)")
    p.add_argument("--out", required=True, help="predictions CSV to write")
    p.add_argument("--seed", type=int, default=0, help="random seed of image-stats (default 0)")
    p.add_argument("--value", type=float, default=1.0, help="the value of the constant baseline (default 1.0)")
    p.set_defaults(func=cmd_baseline)
