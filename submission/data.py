"""Reading a training folder into what the networks train on.

Every usable image is read once and turned into (a) its canonical localizer
input with the canonical landmark positions and (b) context patches around its
*true* landmarks (with joint-space mask patches where ``masks/{stem}.png``
exists) and, with a refiner, (c) the refiner's context crops
(``RefinerSamples``).  Each is cut by its stage (``Stages``: ``Localizer.canonical``,
``Refiner.samples``, ``Scorer.patches``), the same code that cuts them at prediction.
Unreadable images, images without landmarks and patients without labels are logged and left
out of the parts they cannot serve.  Nothing here needs Keras: the networks are trained on these
arrays (``train``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from tqdm import tqdm

from challenge.catalogue import KINDS, kind_of
from challenge.dataset import LABELS_FILE, LANDMARKS_FILE, scan_folder
from challenge.errors import UsageError, listed
from challenge.images import ImageReadError, image_size, mm_per_pixel, read_grey
from challenge.landmarks import landmark_table, load_landmarks
from challenge.schemes import Scheme
from challenge.tables import read_scores

from .geometry import cut_crops, patch_mm, refine_frame
from .units import kind_columns, to_unit

log = logging.getLogger(__name__)


class RefinerSamples:
    """The landmark refiner's training context crops of one limb kind, accumulated image by image
    (``add``); ``refine.Refiner.samples`` makes one at its pitch and ``Refiner.fit`` draws its
    training crops from them.

    Per labelled landmark: a float16 ``context`` × ``context`` crop of the refine frame
    (aligned with its pixels, so an exact copy), the true positions (x, y, sub-pixel; NaN
    where unlabelled) of all the image's landmarks in it, and the index of the landmark it
    is centred on.
    """

    def __init__(self, *, context: int, pitch: float):
        if context < 8:
            raise ValueError(f"refiner context {context} px is too small")
        self.context, self.pitch = int(context), float(pitch)
        self.crops: list[np.ndarray] = []
        self.points: list[np.ndarray] = []
        self.landmarks: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(sum(len(c) for c in self.crops))

    def add(self, img: np.ndarray, limb: str, xy: np.ndarray) -> None:
        """Cut the contexts of one stored image (H, W) around its stored points (L, 2), NaN = unlabelled."""
        frame_img, frame = refine_frame(np.asarray(img, dtype=np.float32), limb, self.pitch)
        pts = frame.to_canonical(np.asarray(xy, dtype=float))
        keep = np.flatnonzero(np.isfinite(pts).all(axis=1))
        if not len(keep):
            return
        half = (self.context - 1) / 2
        # centres on the frame's pixel grid: the context pixels are frame pixels, no resampling
        centres = np.round(pts[keep] - half) + half
        crops = cut_crops(frame_img[None], np.zeros(len(keep), int), centres, self.context)
        self.crops.append(crops.astype(np.float16))
        # every landmark of the image in every context: the neighbours in view are trained too
        self.points.append((pts[None, :, :] - centres[:, None, :] + half).astype(np.float32))
        self.landmarks.append(keep.astype(np.int32))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, C, C) float16 contexts, (N, L, 2) true points in them, (N,) index of the centre landmark."""
        if not self.crops:
            c = self.context
            return np.zeros((0, c, c), np.float16), np.zeros((0, 0, 2), np.float32), np.zeros(0, np.int32)
        return np.concatenate(self.crops), np.concatenate(self.points), np.concatenate(self.landmarks)



class Stages(NamedTuple):
    """The three stages of one limb kind (``localize.Localizer``, ``refine.Refiner`` or None,
    ``score.Scorer``): each cuts its own input, in training (``load_training``) and at prediction."""

    localizer: Any
    refiner: Any
    scorer: Any


@dataclass
class KindData:
    """Everything of one limb kind: localizer arrays and patch samples."""

    loc_images: list = field(default_factory=list)   # canonical (S, S) float16
    loc_points: list = field(default_factory=list)   # canonical (L, 2), NaN where unlabelled
    patches: list = field(default_factory=list)      # (L, C, C) float16 per image
    masks: list = field(default_factory=list)        # (L, C, C) float16 per image
    has_mask: list = field(default_factory=list)     # bool per image
    patients: list = field(default_factory=list)     # patient of each patch image
    limbs: list = field(default_factory=list)
    refiner: RefinerSamples | None = None            # when the settings refine
    patch_mm: float | None = None                    # patch side in mm (see geometry.patch_mm)

    def samples(self, scheme: Scheme, kind: str, scores: pd.DataFrame, patients=None) -> dict:
        """Patch samples (see ``ScorerData``) of the given patients (default all with labels)."""
        cols = kind_columns(kind)
        carried = scheme.carry_matrix(kind)
        keep = [i for i, p in enumerate(self.patients) if p in scores.index and (patients is None or p in patients)]
        out = {k: [] for k in ("patches", "masks", "has_mask", "landmark", "targets", "carried", "patient", "limb",
                               "patient_weight")}
        weight = metric_weights(scores)
        for i in keep:
            p, limb = self.patients[i], self.limbs[i]
            unit = to_unit(scores.loc[p, [f"{limb}_{c}" for c in cols]].to_numpy(float), kind)
            valid = np.isfinite(self.patches[i]).all(axis=(1, 2)) & np.any(self.patches[i] != 0, axis=(1, 2))
            for li in np.flatnonzero(valid):
                out["patches"].append(self.patches[i][li])
                out["masks"].append(self.masks[i][li])
                out["has_mask"].append(float(self.has_mask[i]))
                out["landmark"].append(li)
                out["targets"].append(unit)
                out["carried"].append(carried[li])
                out["patient"].append(p)
                out["limb"].append(limb)
                out["patient_weight"].append(weight[p])
        return {k: np.asarray(v) for k, v in out.items()}


def is_negative(img: np.ndarray, xy: np.ndarray) -> bool:
    """Whether a stored image (2-D, [0, 1]) with its true landmarks (L, 2; NaN = unlabelled) is a
    negative, bone dark on a light ground: the median brightness around its landmarks (squares of 1 %
    of the long side; the landmarks lie on bone ends) below the image's median (of every 4th pixel each way).

    On an upright radiograph the landmarks are brighter than the median, which is ground or soft
    tissue; on the 1,200 training images of a 300-patient phantom cohort the rule missed 1 of the 30
    negatives (its landmarks 0.03 above the median) and called no upright image a negative
    (docs/measurements.md, "Inverted films").  ``predict`` decides with the localizer instead
    (``localize.Localizer.predict``), as it has no true landmarks."""
    h, w = img.shape
    r = max(1, round(0.005 * max(h, w)))
    pts = np.round(xy[np.isfinite(xy).all(axis=1)]).astype(int)
    if not len(pts):
        return False
    around = [img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] for x, y in pts
              if 0 <= x < w and 0 <= y < h]
    return bool(around) and float(np.median([a.mean() for a in around])) < float(np.median(img[::4, ::4]))


def metric_weights(scores: pd.DataFrame) -> pd.Series:
    """Each patient's official leaderboard weight (``evaluator.official.patient_weights``), from the
    sum of its joint scores rounded to an integer (a non-integer total would otherwise weigh 0)."""
    from challenge.catalogue import JOINT_COLUMNS
    from evaluator.official import patient_weights

    total = scores[list(JOINT_COLUMNS)].clip(lower=0).sum(axis=1).round()
    return pd.Series(patient_weights(total.to_numpy()), index=scores.index)


def read_mask(path: Path, shape) -> np.ndarray | None:
    """A joint-space mask PNG (non-zero = joint space) as float32, or None if absent or unusable."""
    if not path.is_file():
        return None
    from PIL import Image
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32)
    except (OSError, SyntaxError, ValueError) as exc:
        log.warning("%s: unusable mask (%s): trained without it", path, exc)
        return None
    if arr.shape != tuple(shape):
        log.warning("%s: mask is %s but the image is %s: trained without it", path, arr.shape, tuple(shape))
        return None
    return (arr > 0).astype(np.float32)


def load_training(train_dir: str | Path, scheme: Scheme, stages: dict[str, Stages], *, patients=None,
                  progress: bool = True) -> tuple[dict[str, KindData], pd.DataFrame, list[Path]]:
    """Per-kind training data, the labels (log-free scores indexed by Patient_ID) and the files read.

    ``stages``: per limb kind, the stages that cut it (``Stages``).  Each kind's ``patch_mm`` (from
    the DICOM pixel spacings) is set on its scorer before its patches are cut."""
    train_dir = Path(train_dir)
    folder = scan_folder(train_dir)
    labels_path, lm_path = train_dir / LABELS_FILE, train_dir / LANDMARKS_FILE
    if not labels_path.is_file():
        raise UsageError(f"{train_dir}: no training.csv (labels) in the training folder")
    if not lm_path.is_file():
        raise UsageError(f"{train_dir}: no landmarks.csv (image,landmark,x,y) in the training folder; "
                         "import labelme annotations with challenge.landmarks.import_labelme")
    scores = read_scores(labels_path)
    stems = [folder.stem(p, limb) for p, limbs in folder.images.items() for limb in limbs]
    table = landmark_table(load_landmarks(lm_path, scheme, stems=stems))
    chosen = folder.patients if patients is None else [p for p in folder.patients if p in set(patients)]
    data = {kind: KindData() for kind in KINDS}
    for kind, d in data.items():
        if stages[kind].refiner is not None:
            d.refiner = stages[kind].refiner.samples()
    files = [labels_path, lm_path]
    jobs = [(p, limb, path) for p in chosen for limb, path in sorted(folder.images[p].items())]
    spacing = {path: mm_per_pixel(path) for _, _, path in jobs}          # DICOM headers only
    for kind, d in data.items():
        scorer = stages[kind].scorer
        d.patch_mm = scorer.patch_mm = patch_mm(scorer.side(*image_size(path)) * mm for _, limb, path in jobs
                                                if kind_of(limb) == kind and (mm := spacing[path]))
    negatives = []
    for patient, limb, path in tqdm(jobs, desc="reading training images", disable=not progress, unit="img"):
        stem = folder.stem(patient, limb)
        points = table.get(stem)
        if not points:
            log.warning("%s: no landmarks in %s: image not used", path.name, lm_path.name)
            continue
        try:
            img = read_grey(path)
        except ImageReadError as exc:
            log.warning("training image skipped: %s", exc)
            continue
        files.append(path)
        kind = kind_of(limb)
        names = scheme.landmarks[kind]
        xy = np.array([points.get(n, (np.nan, np.nan)) for n in names], dtype=float)
        if np.isnan(xy).all():
            log.warning("%s: none of the scheme's %s landmarks are labelled: image not used", stem, kind)
            continue
        if is_negative(img, xy):
            img = 1.0 - img
            negatives.append(stem)
        d, cut = data[kind], stages[kind]
        cimg, frame = cut.localizer.canonical(img, limb)
        d.loc_images.append(cimg.astype(np.float16))
        d.loc_points.append(frame.to_canonical(xy))
        if d.refiner is not None:
            d.refiner.add(img, limb, xy)
        mask = read_mask(train_dir / "masks" / f"{stem}.png", img.shape)
        patches, mpatches, _ = cut.scorer.patches(img, limb, xy, mm_per_pixel=spacing[path],
                                                  mask=mask if mask is not None else np.zeros_like(img))
        d.patches.append(patches.astype(np.float16))
        d.masks.append(mpatches.astype(np.float16))
        d.has_mask.append(mask is not None)
        d.patients.append(patient)
        d.limbs.append(limb)
    if negatives:
        log.info("%d training image(s) stored as negatives (their landmarks darker than the image's median), "
                 "read inverted: %s", len(negatives), listed(negatives, 5))
    for kind, d in data.items():
        if d.loc_points:
            never = [n for n, seen in zip(scheme.landmarks[kind], np.isfinite(np.stack(d.loc_points)[:, :, 0]).any(0))
                     if not seen]
            if never:
                log.warning("%s: scheme %r landmark(s) %s are never labelled: their columns cannot be learnt",
                            lm_path, scheme.name, never)
    unlabelled = sorted({p for d in data.values() for p in d.patients} - set(scores.index))
    if unlabelled:
        log.warning("%d patient(s) with images have no row in training.csv (used for localisation only): %s",
                    len(unlabelled), unlabelled[:5])
    return data, scores.loc[[p for p in scores.index if p in set(chosen)]], files
