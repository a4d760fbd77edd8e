"""``ra2``: the harness's single command, and its ``ra2 demo``.

One rule for every subcommand: it lives in its package's ``cli`` module, which has
``register(subparsers)`` and one ``cmd_<name>(args)`` handler per subcommand, imports
nothing heavy at module level, and only parses, calls the package's library functions
(which tests call directly) and prints.  Keras is imported only by the subcommands that
train or predict.

A library function names its own parameters when it refuses a value (``ParameterError``:
``size_scale=9.0: ...``); ``main`` says it as the command's option (``--size-scale 9.0: ...``):
``--`` and the name with dashes, or what the subcommand's ``options`` default maps it to.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

from challenge import interrupts
from challenge.errors import ParameterError, UsageError

# The other packages' ``cli`` modules (``ra2 demo`` is registered here); a package that is not there is skipped.
REGISTRARS = (
    "phantoms.cli",
    "download.cli",
    "baselines.cli",
    "submission.cli",
    "evaluator.cli",
    "challenge.cli",
    "review.cli",
    "workflows.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ra2",
        description="RA2 DREAM-challenge harness: phantom cohorts, baselines, the three-stage method, "
                    "the official scorer and its statistics.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    for name in REGISTRARS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # the package is not there (yet)
            raise
        module.register(sub)
    return parser


def _message(exc: UsageError, args) -> str:
    """The error as the user gave the input: a library parameter under the subcommand's option."""
    if isinstance(exc, ParameterError) and not exc.name.startswith("-"):
        options = getattr(args, "options", {})
        return exc.for_option(options.get(exc.name, "--" + exc.name.replace("_", "-")))
    return str(exc)


def _kept(args) -> str:
    """What an interrupt left, truly: a command that swaps its output folder in whole (``replaces``, set
    by its parser) left that folder as it was; every other output is written file by file, atomically."""
    folder = getattr(args, getattr(args, "replaces", "") or "", None)
    if folder is not None:
        if any(Path(p).resolve() == Path(folder).resolve() for p in interrupts.landed()):
            return f"{folder} holds this run's whole result (the signal came as it was put in place)"
        return f"{folder} is as it was before this run"
    return "no file was left half-written (each output file is either whole and new, or as it was)"


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except KeyboardInterrupt:          # Ctrl-C while the modules load: nothing has been written yet
        print("ra2: interrupted before any work", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # SIGTERM (how schedulers end over-time jobs) unwinds like Ctrl-C, so that every command's clean-up
    # runs: staged outputs are removed and earlier outputs stay as they were.  Not in a test runner's
    # other threads, where signals cannot be handled.
    interrupts.install(signal.SIGTERM)
    try:
        rc = args.func(args)
    except UsageError as exc:
        print(f"ra2 {args.command}: error: {_message(exc, args)}", file=sys.stderr)
        return 2
    except BrokenPipeError:            # `ra2 score ... | head`
        sys.stderr.close()
        return 141
    except KeyboardInterrupt as exc:
        name = interrupts.pending() or str(exc) or "SIGINT"
        print(f"ra2 {args.command}: interrupted ({name}): {_kept(args)}", file=sys.stderr)
        return 143 if name == "SIGTERM" else 130
    finally:
        interrupts.clear()
    return int(rc or 0)



# ------------------------------------------------------------------ ra2 demo (the work is ra2.demo.run_demo)
def register(sub) -> None:
    from submission.profiles import DEMO_PROFILE, PROFILES

    from .demo import __doc__ as about

    p = sub.add_parser("demo", help="phantom cohort -> baselines + method -> official scores and leaderboard",
                       description=about.split("\n\n")[0] + " Finishes in minutes on a 2-core machine.")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out): new, empty, or an earlier demo's, with nothing "
                                                  "added (replaced whole at the end)")
    p.add_argument("--train", type=int, default=80, help="training patients (default 80)")
    p.add_argument("--test", type=int, default=20, help="test patients (default 20)")
    p.add_argument("--seed", type=int, default=7, help="cohort, training and bootstrap seed (default 7)")
    p.add_argument("--size-scale", type=float, default=0.5,
                   help="image size factor of the realistic phantoms (default 0.5: long side median ~700 px, "
                        "which keeps the demo near ten minutes on 2 cores; 1 = the real sizes)")
    p.add_argument("--no-method", action="store_true", help="baselines only (no Keras needed)")
    p.add_argument("--profile", choices=list(PROFILES), default=DEMO_PROFILE,
                   help=f"train the method with this named profile (see 'ra2 train --help'; default {DEMO_PROFILE}: "
                        "the small profile's networks trained for less long, 8 to 13 min on 2 cores)")
    p.set_defaults(func=cmd_demo, options={"n_train": "--train", "n_test": "--test"}, replaces="out")


def cmd_demo(args) -> int:
    from .demo import run_demo

    board = run_demo(args.out, n_train=args.train, n_test=args.test, seed=args.seed, method=not args.no_method,
                     settings=args.profile, size_scale=args.size_scale)
    print(board["markdown"])
    print(f"\nreport: {Path(args.out) / 'report' / 'report.md'}")
    if board.get("review_site"):
        print(f"review site: {board['review_site']}")
    if board.get("report_html"):
        print(f"report.html: {board['report_html']}")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
