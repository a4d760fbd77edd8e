"""``ra2 review``: the reader's review site (static, from disk) and ``--serve`` (local, saves corrections)."""
from __future__ import annotations

from pathlib import Path

from challenge.errors import UsageError


def register(sub) -> None:
    p = sub.add_parser(
        "review", help="a review site for readers: radiographs, landmarks and an editable SvH score sheet",
        description="Write a static site that opens from disk in any browser (no server, no network): a sortable "
                    "patient list and, per patient, the four radiographs with landmarks and joint-space masks "
                    "beside the SvH score sheet, editable within each column's range, each patient marked "
                    "reviewed or corrected; downloads give the corrected predictions CSV (valid under ra2 validate; "
                    "totals as predicted, moved by the edited joints' differences), the landmarks CSV and "
                    "review_state.csv. Drafts are kept in the browser per predictions file, across rebuilds. With "
                    "--serve, serve the site from 127.0.0.1 and save corrections to SITE/corrections/.")
    p.add_argument("--images", metavar="DIR", help="the challenge image folder ({PID}-{LIMB}.jpg/.png/.dcm)")
    p.add_argument("--predictions", metavar="CSV", help="the predictions to review (e.g. from ra2 predict)")
    p.add_argument("--landmarks", metavar="CSV", help="landmarks to draw and correct (ra2 predict --landmarks)")
    p.add_argument("--masks", metavar="DIR", help="joint-space masks {PID}-{LIMB}.png to draw (non-zero = joint space)")
    p.add_argument("--uncertainty", metavar="CSV", help="the method's uncertainty (ra2 predict --uncertainty-out): "
                                                        "cells and landmarks coloured by it, patients and joints "
                                                        "listed most uncertain first")
    p.add_argument("--bundle", metavar="DIR", help="the model bundle: its landmark scheme ties rows of the sheet to "
                                                   "landmarks (default: the svh21 scheme)")
    p.add_argument("--scheme", help="a landmark scheme name or JSON file instead of --bundle's")
    p.add_argument("--template", metavar="CSV", help="template.csv: its patients and column order for the download "
                                                     "(default: the predictions file's own)")
    p.add_argument("--max-side", type=int, default=1600,
                   help="longest side of the images in the site (default 1600); the joint strip's crops of a "
                        "larger source are cut from the source at its own resolution")
    p.add_argument("--out", required=True, metavar="SITE",
                   help="the site folder: new, empty, or a site an earlier 'ra2 review' built, with nothing added "
                        "but its corrections/ (kept)")
    p.add_argument("--serve", action="store_true", help="serve SITE from 127.0.0.1 and save corrections to disk "
                                                        "(builds it first when --images and --predictions are given)")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0 = any free port)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_review, replaces="out")


def cmd_review(args) -> int:
    from challenge.outputs import written_by

    from .build import build_site

    site = Path(args.out)
    building = args.images is not None or args.predictions is not None
    if building:
        if args.images is None or args.predictions is None:
            raise UsageError("--images and --predictions go together (or give neither and --serve an existing site)")
        if args.bundle is not None and args.scheme is not None:
            raise UsageError("give --bundle or --scheme, not both")
        summary = build_site(args.images, args.predictions, site, landmarks=args.landmarks, masks=args.masks,
                             bundle=args.bundle, scheme=args.scheme, template=args.template,
                             max_side=args.max_side, progress=not args.quiet, uncertainty=args.uncertainty)
        failed = f", {len(summary['failed'])} failed image(s)" if summary["failed"] else ""
        print(f"wrote the review site for {summary['patients']} patients ({summary['images']} images, "
              f"{summary['landmarks']} landmarks, {summary['masks']} masks, {summary['crops']} joint crops at the "
              f"source's resolution{failed})")
        print(f"open {Path(summary['index']).resolve().as_uri()}")
    elif args.uncertainty is not None:
        raise UsageError("--uncertainty is read when the site is built: give --images and --predictions too")
    elif not args.serve:
        raise UsageError("nothing to do: give --images and --predictions to build a site, or --serve to serve one")
    if args.serve:
        if not written_by(site, "review"):
            raise UsageError(f"{site}: not a review site (build one with --images and --predictions)")
        return serve(site, args.port)
    return 0


def serve(site: Path, port: int) -> int:
    from .server import make_server

    server = make_server(site, port)
    print(f"serving {site} at {server.url} (127.0.0.1 only); corrections are saved to {server.corrections}/")
    print("press Ctrl-C to stop")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
