"""A training folder checked before any training: labels, images and landmarks.

``check_training_folder(train_dir, scheme)`` finds every problem a user can cause
and returns them (``TrainingCheck``); ``require_training_folder`` logs the warnings
and raises ``UsageError`` (exit 2) listing the errors.  What it checks:

* ``training.csv``: the checks of ``ra2 validate`` of a gold file (columns, patients,
  empty or non-numeric cells, NaN), and, as errors, negative, non-integer and
  above-maximum joint scores (they train to NaN losses or to nonsense);
* images: at least 2 labelled patients with an image; labelled patients without any
  image are listed in one warning; two image files for one patient and limb
  (``UAB001-LH.jpg`` and ``UAB001-LH.png``) are an error naming both;
* ``landmarks.csv``: readable, image names and landmark names normalised as in
  ``challenge.landmarks.normalise_landmarks`` (unknown names listed beside the
  scheme's, an error when none matches), points inside their images (sizes from the
  image headers), not 0-1 normalised; labelled images without landmarks listed in
  one warning.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .dataset import LABELS_FILE, LANDMARKS_FILE, Folder, scan_folder
from .errors import SHOWN, TableError, UsageError, listed, problem_lines
from .images import MAX_PIXELS_ENV, ImageReadError, image_size
from .landmarks import LandmarkError, normalise_landmarks, read_landmarks
from .tables import as_scores, check_scores, read_table

log = logging.getLogger(__name__)


@dataclass
class TrainingCheck:
    folder: Folder | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    labelled: list[str] = field(default_factory=list)              # patients with a row in training.csv
    usable: list[str] = field(default_factory=list)                # ... and at least one image

    def raise_errors(self, train_dir) -> None:
        if self.errors:
            raise UsageError(f"the training folder {train_dir} cannot be used ({len(self.errors)} error(s)):\n"
                             f"{problem_lines(self.errors, 2 * SHOWN)}")


def check_training_folder(train_dir: str | Path, scheme, *, min_patients: int = 2) -> TrainingCheck:
    """Every problem of a training folder for training with ``scheme``; reads image headers only."""
    check = TrainingCheck()
    if str(train_dir).strip() == "":              # Path("") would quietly mean the current folder
        check.errors.append("an empty path was given for the training folder; give its path (--data DIR)")
        return check
    train_dir = Path(train_dir)
    if not train_dir.is_dir():
        check.errors.append(f"{train_dir}: not a folder")
        return check
    folder = check.folder = scan_folder(train_dir)
    labels_path, lm_path = train_dir / LABELS_FILE, train_dir / LANDMARKS_FILE

    # --- labels
    if not labels_path.is_file():
        check.errors.append(f"{train_dir}: no {LABELS_FILE} (labels) in the training folder")
    else:
        try:
            frame = read_table(labels_path)
        except TableError as exc:
            check.errors.append(str(exc))
        else:
            problems = check_scores(frame, training=True)
            bad = [p for p in problems if p.level == "error"]
            check.errors.extend(str(p).removeprefix("error: ") for p in bad)
            if not bad:
                check.labelled = sorted(as_scores(frame).index)

    # --- images
    check.errors.extend(folder.ambiguity_lines())
    if check.labelled:
        with_images = set(folder.patients)
        check.usable = [p for p in check.labelled if p in with_images]
        without = [p for p in check.labelled if p not in with_images]
        if without:
            check.warnings.append(f"{train_dir}: {len(without)} labelled patient(s) of {LABELS_FILE} have no image "
                                  f"and are not used: {listed(without)}")
        if check.labelled and len(check.usable) < min_patients:
            check.errors.append(f"{train_dir}: need at least {min_patients} labelled patients with images, found "
                                f"{len(check.usable)} ({len(check.labelled)} labelled, {len(folder.patients)} with "
                                "images)")

    # --- landmarks
    if not lm_path.is_file():
        check.errors.append(f"{train_dir}: no {LANDMARKS_FILE} (image,landmark,x,y) in the training folder; "
                            "make one from labelme annotations with 'ra2 landmarks import DIR --out "
                            f"{lm_path}'")
        return check
    try:
        landmarks = read_landmarks(lm_path)
    except LandmarkError as exc:
        check.errors.append(str(exc))
        return check
    stems = {folder.stem(p, limb): path for p, limbs in folder.images.items() for limb, path in limbs.items()}
    sizes, unreadable, too_large = {}, [], []
    for stem, path in stems.items():
        try:
            sizes[stem] = image_size(path)
        except ImageReadError as exc:
            unreadable.append(path.name)
            if MAX_PIXELS_ENV in str(exc):
                too_large.append(str(exc))
    if unreadable:
        check.warnings.append(f"{train_dir}: {len(unreadable)} image file(s) cannot be opened as images and will "
                              f"not be used: {listed(sorted(unreadable))}")
    if too_large:
        check.warnings.append(f"{len(too_large)} of them above the pixel limit, e.g. {min(too_large)}")
    report = normalise_landmarks(landmarks, scheme, stems=list(stems), sizes=sizes, file=str(lm_path))
    check.errors.extend(report.errors)
    check.warnings.extend(report.warnings)
    annotated = set(report.frame["image"])
    bare = sorted(folder.stem(p, limb) for p in check.usable for limb in folder.images[p]
                  if folder.stem(p, limb) not in annotated)
    if bare:
        check.warnings.append(f"{lm_path}: {len(bare)} image(s) of labelled patients have no landmarks and are "
                              f"not used: {listed(bare)}")
    return check


def require_training_folder(train_dir: str | Path, scheme, *, min_patients: int = 2) -> TrainingCheck:
    """``check_training_folder``; warnings logged one line each, errors raised as one ``UsageError``."""
    check = check_training_folder(train_dir, scheme, min_patients=min_patients)
    for w in check.warnings:
        log.warning("%s", w)
    check.raise_errors(train_dir)
    return check


def fingerprint(paths) -> str:
    """SHA-256 over the names, sizes and contents of a training's files (sorted by name): what a
    bundle records of the data it was trained on."""
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        h.update(p.name.encode())
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()
