"""``ra2``: the harness's single command.

Each package that owns a stage registers its subcommands from a small ``cli``
module that imports nothing heavy at module level; the work is done by plain
functions that tests call directly.  Keras is imported only by the subcommands
that train or predict.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

# Each module has ``register(subparsers)``; a module that is not there is skipped.
REGISTRARS = (
    "ra2.demo",
    "phantoms.cli",
    "download.cli",
    "baselines.cli",
    "submission.cli",
    "evaluator.cli",
    "evaluator.landmarks",
    "challenge.landmarks_cli",
    "review.cli",
)


from challenge.errors import UsageError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ra2",
        description="RA2 DREAM-challenge harness: phantom cohorts, baselines, the three-stage method, "
                    "the official scorer and its statistics.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in REGISTRARS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # the package is not there (yet)
            raise
        module.register(sub)
    return parser


def _terminated(signum, frame):
    """SIGTERM (how schedulers end over-time jobs) unwinds like Ctrl-C, so that every command's
    clean-up runs: staged outputs are removed and earlier outputs stay as they were."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except KeyboardInterrupt:          # Ctrl-C while the modules load: nothing has been written yet
        print("ra2: interrupted before any work", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        signal.signal(signal.SIGTERM, _terminated)
    except ValueError:                 # not the main thread (a test runner calling main)
        pass
    try:
        rc = args.func(args)
    except UsageError as exc:
        print(f"ra2 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:            # `ra2 score ... | head`
        sys.stderr.close()
        return 141
    except KeyboardInterrupt as exc:
        print(f"ra2 {args.command}: interrupted ({str(exc) or 'SIGINT'}): no partial output was kept", file=sys.stderr)
        return 143 if str(exc) == "SIGTERM" else 130
    return int(rc or 0)


if __name__ == "__main__":
    raise SystemExit(main())
