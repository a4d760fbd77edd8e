"""Dataset folders in the challenge layout: ``{Patient_ID}-{LH|RH|LF|RF}.jpg``.

Also accepted: ``.jpeg``, ``.png``, ``.dcm`` and ``.dicom``, in any letter case,
and DICOM files with no extension at all (``UAB001-LH``, recognised by the DICOM
magic in their first 132 bytes).  ``scan_folder`` reports what is missing and
what it does not recognise instead of failing, so that every command can go on
with what is there.  Two image files for one patient and limb (``UAB001-LH.jpg``
and ``UAB001-LH.png``): the first by name is used and ``Folder.ambiguous()`` names
them all, for the caller to refuse or warn.  ``rescale_folder`` writes a copy of a folder with
every image percentile-re-scaled (``images.percentile_rescale``).
"""
from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .catalogue import LIMBS
from .errors import UsageError
from .images import ImageReadError, is_dicom, percentile_rescale, read_grey

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".dcm", ".dicom")
_NAME = re.compile(r"^(?P<pid>.+)-(?P<limb>LH|RH|LF|RF)$", re.IGNORECASE)
#: a test folder's template, a training folder's labels and landmarks (the challenge layout's file names)
TEMPLATE_FILE, LABELS_FILE, LANDMARKS_FILE = "template.csv", "training.csv", "landmarks.csv"
#: files that belong in a challenge folder and are not images
KNOWN_FILES = {TEMPLATE_FILE, LABELS_FILE, LANDMARKS_FILE}


@dataclass
class Folder:
    root: Path
    images: dict[str, dict[str, Path]] = field(default_factory=dict)   # patient -> limb -> path
    unexpected: list[Path] = field(default_factory=list)               # files that are not challenge images
    duplicates: list[Path] = field(default_factory=list)               # a second file for the same patient and limb
    files: dict[tuple[str, str], list[Path]] = field(default_factory=dict)  # (patient, limb) -> every image file

    @property
    def patients(self) -> list[str]:
        return sorted(self.images)

    def path(self, patient: str, limb: str) -> Path | None:
        return self.images.get(patient, {}).get(limb)

    def missing(self, patients=None) -> list[tuple[str, str]]:
        """(patient, limb) pairs with no image, for the given patients (default: those seen)."""
        patients = self.patients if patients is None else patients
        return [(p, limb) for p in patients for limb in LIMBS if self.path(p, limb) is None]

    def stem(self, patient: str, limb: str) -> str:
        return f"{patient}-{limb}"

    def ambiguous(self) -> dict[tuple[str, str], list[Path]]:
        """(patient, limb) -> its image files, where there is more than one (the first is the one used)."""
        return {key: paths for key, paths in self.files.items() if len(paths) > 1}

    def ambiguity_lines(self) -> list[str]:
        """One line per patient and limb with several image files, naming them and the one used."""
        return [f"{self.root}: {p}-{limb} has {len(paths)} image files ({', '.join(x.name for x in paths)}); "
                f"keep only one (the first by name, {paths[0].name}, is the one read)"
                for (p, limb), paths in sorted(self.ambiguous().items())]


def parse_image_name(name: str, *, bare: bool = False) -> tuple[str, str] | None:
    """(patient, limb) for a challenge image file name, else None.

    ``bare=True`` also takes a name without an image extension (``UAB001-LH``): for files known to be DICOM.
    """
    p = Path(name)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        m = _NAME.match(p.stem)
    elif bare:
        m = _NAME.match(p.name)
    else:
        return None
    if not m:
        return None
    return m.group("pid"), m.group("limb").upper()


def scan_folder(root: str | Path) -> Folder:
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    folder = Folder(root)
    for entry in sorted(root.iterdir()):
        if entry.is_dir() or entry.name.startswith("."):
            continue
        key = parse_image_name(entry.name)
        if key is None and parse_image_name(entry.name, bare=True) is not None and is_dicom(entry):
            key = parse_image_name(entry.name, bare=True)        # an extension-less DICOM file
        if key is None:
            if entry.name.lower() not in KNOWN_FILES:
                folder.unexpected.append(entry)
            continue
        pid, limb = key
        folder.files.setdefault(key, []).append(entry)
        slot = folder.images.setdefault(pid, {})
        if limb in slot:
            folder.duplicates.append(entry)
        else:
            slot[limb] = entry
    return folder


def rescale_folder(src: str | Path, dst: str | Path, *, quality: int = 95) -> list[Path]:
    """A copy of a challenge folder with every readable image percentile-re-scaled as the organisers
    did for the external cohort, saved as 8-bit grey in the format its name says (DICOM as PNG);
    CSV files are copied and unreadable images skipped (logged).  Returns the images written."""
    folder = scan_folder(src)
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for csv_file in Path(src).glob("*.csv"):
        shutil.copy2(csv_file, dst / csv_file.name)
    written = []
    for patient in folder.patients:
        for limb, path in folder.images[patient].items():
            try:
                img = percentile_rescale(read_grey(path))
            except ImageReadError as exc:
                log.warning("not re-scaled: %s", exc)
                continue
            out = dst / path.name
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):   # DICOM: written as PNG
                out = dst / f"{folder.stem(patient, limb)}.png"
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(out, quality=quality)
            written.append(out)
    return written
