"""``ra2 synth``: write a phantom cohort (the work is ``phantoms.cohort.make_cohort``)."""
from __future__ import annotations

PRESETS = ("realistic", "easy")      # phantoms.cohort.PRESETS, repeated so that --help imports nothing heavy


def cmd_synth(args) -> int:
    from .cohort import make_cohort

    info = make_cohort(args.out, args.train, args.test, args.seed, size_scale=args.size_scale,
                       preset=args.preset, progress=not args.quiet, workers=args.workers)
    stats = info["statistics"]
    corr = ", ".join(f"{k} {v['measured']}" for k, v in stats["correlations"].items()
                     if k in ("lr_hand_narrowing", "ne_hand", "hand_foot"))
    print(f"wrote {args.train} training and {args.test} test {args.preset} phantom patients to {args.out} "
          f"({stats['share_total_0_3']:.0%} with Overall_Tol 0-3; {corr})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("synth", help="write a phantom cohort (synthetic radiographs with known scores)",
                              description="Write a phantom cohort in the challenge layout: DIR/train, DIR/test "
                                          "(template only), DIR/gold (answers, second reader) and DIR/cohort.json.")
    p.add_argument("--out", required=True,
                   help="output folder: new, empty, or a cohort an earlier 'ra2 synth' wrote, with nothing added "
                        "(the cohort is drawn beside it and swapped in whole at the end)")
    p.add_argument("--train", type=int, default=40, help="training patients (default 40)")
    p.add_argument("--test", type=int, default=20, help="test patients (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--preset", choices=PRESETS, default="realistic",
                   help="realistic (default): posed anatomy, additive attenuation, subtle damage and real score "
                        "distributions, long side 500-3,200 px (median ~1,500); easy: the first, easy phantoms "
                        "(long side median ~620 px), for fast tests")
    p.add_argument("--size-scale", type=float, default=1.0,
                   help="multiply every image size by this (default 1)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes drawing patients (default: up to 4 for 8 patients or more; same bytes)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth, options={"n_train": "--train", "n_test": "--test"}, replaces="out")
