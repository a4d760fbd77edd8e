"""``ra2 download``: the subcommand (the work is ``download.synapse.download``)."""
from __future__ import annotations

import argparse
import sys

from .synapse import DEFAULT_ENTITY, HELP, DownloadError, download


def register(sub) -> None:
    p = sub.add_parser("download", help="fetch the RA2 challenge data from Synapse",
                       description="Download the RA2 challenge files from Synapse into the layout ra2 train and "
                                   "ra2 predict read, verifying every file's MD5.",
                       epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dest", required=True, metavar="DIR", help="destination folder (created if needed)")
    p.add_argument("--entity", default=DEFAULT_ENTITY, metavar="synID",
                   help=f"Synapse project, folder or file to download (default {DEFAULT_ENTITY}, the RA2 challenge)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    try:
        summary = download(args.dest, args.entity, progress=not args.no_progress)
    except DownloadError as exc:
        print(f"ra2 download: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(summary)
    return 0
