"""``ra2 landmarks import`` (labelme JSON -> landmarks.csv) and ``ra2 landmarks check`` (a training folder).

The work is ``challenge.landmarks`` (reading, normalising and writing landmark files) and
``challenge.training`` (the checks of a training folder).

Exit codes: 0 done (``check``: the folder can be trained on), 1 ``check`` found errors,
2 unusable input (no JSON files, a broken JSON file, a bad option).
"""
from __future__ import annotations

from pathlib import Path

from .schemes import DEFAULT_SCHEME, load_scheme


def register(sub) -> None:
    p = sub.add_parser("landmarks", help="landmark files: import labelme annotations, check a training folder",
                       description="Landmark files (CSV image,landmark,x,y in pixels): make one from labelme "
                                   "JSON files, or check a training folder's labels, images and landmarks "
                                   "as 'ra2 train' does before training.")
    inner = p.add_subparsers(dest="landmarks_command", metavar="ACTION", required=True)
    q = inner.add_parser("import", help="labelme JSON files -> landmarks.csv",
                         description="One row per labelme 'point' shape (its label is the landmark name); the "
                                     "image is named by the JSON's imagePath stem. Names are spelled as the "
                                     "scheme spells them; unknown names are listed.")
    q.add_argument("sources", nargs="+", metavar="DIR_OR_JSON", help="labelme JSON files or folders of them")
    q.add_argument("--out", required=True, metavar="CSV", help="landmarks CSV to write (atomically)")
    q.add_argument("--scheme", default=DEFAULT_SCHEME, metavar="NAME_OR_FILE",
                   help=f"landmark scheme (default {DEFAULT_SCHEME})")
    q.add_argument("--images", metavar="DIR", help="the images, to check every point lies inside its image")
    q.set_defaults(func=cmd_landmarks_import, command="landmarks import")     # errors say "ra2 landmarks import"
    q = inner.add_parser("check", help="check a training folder before training",
                         description="The checks 'ra2 train' runs before any training: training.csv (as 'ra2 "
                                     "validate' of a gold file, plus labels in range), images, landmark names "
                                     "and points inside their images. Exit 0 usable, 1 not.")
    q.add_argument("--data", required=True, metavar="TRAIN_DIR", help="training folder")
    q.add_argument("--scheme", default=DEFAULT_SCHEME, metavar="NAME_OR_FILE",
                   help=f"landmark scheme (default {DEFAULT_SCHEME})")
    q.set_defaults(func=cmd_landmarks_check, command="landmarks check")


def cmd_landmarks_import(args) -> int:
    from .landmarks import import_landmarks, write_landmarks
    from .outputs import check_output_file, input_files

    scheme = load_scheme(args.scheme)
    sources = [Path(s) for s in args.sources]
    inputs = [f for s in sources for f in (sorted(s.glob("*.json")) if s.is_dir() else [s])]
    check_output_file(args.out, "--out", inputs + (input_files(args.images) if args.images else []))
    frame = import_landmarks(sources, scheme, args.images)
    path = write_landmarks(frame, args.out)
    print(f"{len(frame)} landmarks of {frame['image'].nunique()} images written to {path}")
    return 0


def cmd_landmarks_check(args) -> int:
    from .training import check_training_folder

    check = check_training_folder(args.data, load_scheme(args.scheme))
    for w in check.warnings:
        print(f"warning: {w}")
    for e in check.errors:
        print(f"error: {e}")
    if check.errors:
        print(f"{args.data}: cannot be trained on ({len(check.errors)} error(s), {len(check.warnings)} warning(s))")
        return 1
    print(f"{args.data}: usable ({len(check.usable)} labelled patients with images, {len(check.warnings)} "
          "warning(s))")
    return 0
