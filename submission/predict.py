"""``predict_folder``: a bundle and a test folder in, a valid predictions CSV out.

Never without an answer: an image that is missing, empty, corrupt or
unreadable is logged by name; its joints come from the stacker (which sees the
other limbs) or, without a stacker, from the training prior.  A patient with no
usable image at all gets the training prior.  The CSV is written atomically in
the template's row and column order, totals are the sums of the joints.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from challenge import interrupts
from challenge.catalogue import ID, JOINT_COLUMNS, LIMBS, kind_of, max_score
from challenge.dataset import scan_folder
from challenge.errors import UsageError, listed
from challenge.images import ImageReadError, read_image
from challenge.tables import read_template, write_scores

from .bundle import Bundle
from .data import Stages
from .units import carried, column_top, joint_matrix, to_scores

log = logging.getLogger(__name__)


@dataclass
class ImageResult:
    """What the method found in one image (stored-image coordinates)."""

    stem: str
    limb: str
    width: int
    height: int
    landmarks: dict            # name -> (x, y)
    scores: dict               # full column name -> predicted score (patch, before stacking)
    masks: np.ndarray | None   # (L, patch, patch) joint-space probabilities, mirrored like the patches
    patch_side: float = 0.0    # side of a joint patch in stored pixels
    spread: dict | None = None  # with uncertainty: column -> sd of the K scorers' answers (score units)
    confidence: dict | None = None  # with uncertainty: landmark -> (heatmap peak height, width / long side)
    inverted: bool = False     # read as a negative (``Localizer.predict``): bone dark on a light ground


class Method:
    """A loaded bundle: ``analyse(img, limb)`` for one image, ``combine`` for a table of patients.

    ``stages``: per limb kind, its loaded ``Stages`` (``Localizer``, ``Refiner`` or None, ``Scorer``);
    ``analyse`` calls their ``predict`` in turn.  ``seconds`` keeps, per stage of ``analyse``
    (localizer with its frame and polarity check, refiner, patches, scorer), the seconds each image
    took in it (``benchmarks/bench_predict.py`` prints their medians).  An image the localizer is
    surer of inverted is analysed inverted (``Localizer.predict``: a film stored as a negative);
    ``ImageResult.inverted`` says so.

    ``uncertainty``: ``analyse`` also gives each column's spread over the K out-of-fold scorers and
    each landmark's heatmap peak and width (``ImageResult.spread``, ``.confidence``); the scorers'
    averaged answer, and so every prediction, is computed as without it."""

    def __init__(self, bundle_dir: str | Path, *, uncertainty: bool = False):
        from .localize import Localizer
        from .refine import Refiner
        from .score import Scorer

        self.bundle = b = Bundle.load(bundle_dir)
        self.dir = self.bundle.folder
        self.settings = self.bundle.settings
        self.scheme = self.bundle.scheme
        self.kinds = self.bundle.kinds
        self.uncertainty = uncertainty
        self.stages = {k: Stages(Localizer.load(b, k), Refiner.load(b, k) if self.settings.refines else None,
                                 Scorer.load(b, k, uncertainty=uncertainty)) for k in self.kinds}
        self.stacker = b.load_stacker() if self.settings.stack else None
        self.prior = pd.Series(b.prior)
        self._traced: set[str] = set()
        self.seconds: dict[str, list[float]] = {}

    @property
    def scorers(self) -> dict:
        """Per limb kind, the Keras model averaging its scorers (``Scorer.ensemble``)."""
        return {k: st.scorer.ensemble for k, st in self.stages.items()}

    @property
    def members(self) -> dict:
        """Per limb kind, with ``uncertainty``, the Keras model giving each scorer's answer (``score.members``)."""
        return {k: st.scorer.members for k, st in self.stages.items() if st.scorer.members is not None}

    def analyse(self, img: np.ndarray, limb: str, stem: str = "", mm_per_pixel: float | None = None) -> ImageResult:
        """Landmarks, patch scores and masks of one stored image (of a limb kind the bundle has);
        with the image's ``mm_per_pixel`` and a bundle that knows its patches' size in mm, the
        patches have that physical size.

        The first image of a kind traces its three networks (localizer, refiner, scorer
        ensemble): TensorFlow's retracing notice is dropped for that image only
        (``models.first_traces``); a retrace on any later image is still reported."""
        kind = kind_of(limb)
        if kind in self._traced:
            return self._analyse(img, limb, stem, mm_per_pixel)
        from .models import first_traces

        try:
            with first_traces():
                return self._analyse(img, limb, stem, mm_per_pixel)
        finally:
            self._traced.add(kind)

    def _analyse(self, img: np.ndarray, limb: str, stem: str, mm_per_pixel: float | None) -> ImageResult:
        kind = kind_of(limb)
        stages = self.stages[kind]
        clock = _Clock(self.seconds)
        unsure = self.uncertainty
        found = stages.localizer.predict(img, limb, widths=unsure)
        img, xy, conf = found.image, found.points, found.confidence
        clock("localizer")
        if stages.refiner is not None:
            xy = stages.refiner.predict(img, limb, xy, widths=unsure)
            if unsure:
                xy, conf = xy
            clock("refiner")
        xy[:, 0] = np.clip(xy[:, 0], 0, img.shape[1] - 1)
        xy[:, 1] = np.clip(xy[:, 1], 0, img.shape[0] - 1)
        names = self.scheme.landmarks[kind]
        patches, _, side = stages.scorer.patches(img, limb, xy, mm_per_pixel=mm_per_pixel)
        clock("patches")
        unit, masks = stages.scorer.predict(patches, np.arange(len(names)))
        clock("scorer")
        values = unit * column_top(kind)              # log2(score + 1)
        scores = {f"{limb}_{col}": v for _, col, v in carried(self.scheme, kind, range(len(names)), values)}
        res = ImageResult(stem, limb, img.shape[1], img.shape[0],
                          {n: (float(x), float(y)) for n, (x, y) in zip(names, xy)}, scores, masks, side,
                          inverted=found.inverted)
        if unsure:
            answers, _ = stages.scorer.predict(patches, np.arange(len(names)), members=True)   # (L, K, C) unit space
            sd = (2.0 ** (answers * column_top(kind)) - 1).std(axis=1)                         # in score units
            res.spread = {f"{limb}_{col}": v for _, col, v in carried(self.scheme, kind, range(len(names)), sd)}
            res.confidence = {n: (float(h), float(wd)) for n, (h, wd) in zip(names, conf)}
            clock("uncertainty")
        return res

    def combine(self, log_patch: pd.DataFrame, *, stack: bool | None = None) -> pd.DataFrame:
        """log2-space patch predictions (NaN where missing) -> final scores (89 columns).  The totals
        are the sums of the joints, or the stacker's calibrated totals where it has them
        (``Stacker.predict_totals``) and the patient has an image."""
        use_stack = self.stacker is not None if stack is None else (stack and self.stacker is not None)
        x = log_patch[list(JOINT_COLUMNS)]
        empty = x.isna().all(axis=1)               # no image at all: the prior, not trees on filled means
        totals = None
        if use_stack:
            blend = self.stacker.predict(x.to_numpy())
            totals = self.stacker.predict_totals(x.to_numpy(), blend)
            final = pd.DataFrame(blend, index=x.index, columns=x.columns)
            final.loc[empty] = np.nan
        else:
            final = x.copy()
        prior_log = np.log2(self.prior[list(JOINT_COLUMNS)] + 1)
        scores = to_scores(final.fillna(prior_log))
        for col, values in (totals or {}).items():
            scores.loc[~empty, col] = np.clip(values[~empty.to_numpy()], 0, max_score(col))
        return scores


class _Clock:
    """Appends the seconds since the last call to ``seconds[stage]``."""

    def __init__(self, seconds: dict[str, list[float]]):
        self.seconds, self.last = seconds, time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds.setdefault(stage, []).append(now - self.last)
        self.last = now


def device_name() -> str:
    """The Keras backend and whether it sees a GPU."""
    import keras

    backend = keras.backend.backend()
    try:
        devices = keras.distribution.list_devices()
    except Exception:  # a backend without device listing
        devices = []
    gpu = any("gpu" in str(d).lower() or "cuda" in str(d).lower() for d in devices)
    return f"{backend} ({'GPU' if gpu else 'CPU'})"


def _overlay(img, res, method, path: Path) -> None:
    """Draw one overlay; a drawing problem is logged, never fatal."""
    from .overlays import draw_overlay

    try:
        draw_overlay(img, res, method, path)
    except Exception as exc:  # noqa: BLE001
        log.warning("%s: overlay not drawn (%r)", path.name, exc)


def predict_folder(bundle_dir, images_dir, template_path, out_path, *, landmarks_out=None, overlays=None,
                   masks_out=None, stack: bool | None = None, progress: bool = True, method: Method | None = None,
                   prior_only: bool = False, uncertainty_out=None, summary_out=None) -> dict:
    """Predict every template patient; returns a summary (patients, images, missing and failed images,
    seconds, device), also written to ``summary_out`` if given.

    A run in which no image at all could be used is refused (``UsageError``, nothing
    written) unless ``prior_only``: then every patient gets the training prior.

    ``uncertainty_out``: also write the method's own uncertainty there (``UNCERTAINTY_COLUMNS``,
    one row per analysed image and joint column or landmark; see ``uncertainty_rows``); the
    predictions are the same as without it.  A bundle with one scorer of a limb kind has no spread
    to give: refused before any work.

    The outputs land together (``challenge.outputs.StagedOutputs``): every file and picture is
    written beside its place first and renamed into it once all were written, so that an error or an
    interrupt before that leaves every earlier output as it was.
    """
    from challenge.outputs import StagedOutputs

    start = time.time()
    template = read_template(template_path)
    folder = scan_folder(images_dir)
    for line in folder.ambiguity_lines():
        log.warning("%s", line)
    if uncertainty_out is not None:
        check_spread(method.bundle if method is not None else Bundle.load(bundle_dir))
    method = method or Method(bundle_dir, uncertainty=uncertainty_out is not None)
    if uncertainty_out is not None and not method.uncertainty:
        raise ValueError("predict_folder(uncertainty_out=...) needs a Method(..., uncertainty=True)")
    unsure = []
    patients = [p for p in template[ID] if p]
    log_patch = joint_matrix(patients)
    rows, failed, missing, ignored, results, inverted = [], [], [], [], [], []
    jobs = [(p, limb) for p in patients for limb in LIMBS]
    with StagedOutputs() as staged:
        overlay_dir = staged.folder(overlays) if overlays is not None else None
        mask_dir = staged.folder(masks_out) if masks_out is not None else None
        for patient, limb in tqdm(jobs, desc="predicting", disable=not progress, unit="img"):
            interrupts.check()
            path = folder.path(patient, limb)
            name = f"{patient}-{limb}"
            if path is None:
                missing.append(name)
                continue
            if kind_of(limb) not in method.kinds:
                ignored.append(path.name)
                continue
            try:
                img, info = read_image(path)
                res = method.analyse(img, limb, folder.stem(patient, limb), info.mm_per_pixel)
            except ImageReadError as exc:
                failed.append({"image": path.name, "reason": str(exc)})
                continue
            except Exception as exc:  # noqa: BLE001 -- one odd image must not cost the whole file
                if _interrupted(exc):
                    raise KeyboardInterrupt(interrupts.pending() or "SIGINT") from exc
                failed.append({"image": path.name, "reason": f"analysis failed: {exc!r}"})
                log.debug("%s: analysis failed", path.name, exc_info=True)
                continue
            for col, v in res.scores.items():
                log_patch.at[patient, col] = v
            rows.extend({"image": res.stem, "landmark": n, "x": x, "y": y, "width": res.width, "height": res.height}
                        for n, (x, y) in res.landmarks.items())
            if overlay_dir is not None:
                _overlay(img, res, method, overlay_dir / f"{res.stem}.png")
            if mask_dir is not None and res.masks is not None:
                from PIL import Image

                from .overlays import joint_space_mask

                Image.fromarray(joint_space_mask(res, method)).save(mask_dir / f"{res.stem}.png")
            results.append(res.stem)
            if res.inverted:
                inverted.append(res.stem)
            if uncertainty_out is not None:
                unsure.extend(uncertainty_rows(patient, res))
        if not results and not prior_only:
            raise UsageError(f"{images_dir}: no usable image for any of the {len(patients)} template patients "
                             f"({len(missing)} missing, {len(failed)} unreadable, {len(ignored)} of a limb kind the "
                             "bundle was not trained on): check --images, or ask for --prior-only")
        _report(method, patients, results, missing, failed, ignored, inverted)
        final = method.combine(log_patch, stack=stack)
        # combine's totals, calibrated or sums
        write_scores(final, staged.file(out_path), template, recompute_totals=False)
        if landmarks_out is not None:
            from challenge.landmarks import write_landmarks
            write_landmarks(pd.DataFrame(rows, columns=["image", "landmark", "x", "y", "width", "height"]),
                            staged.file(landmarks_out))
        if uncertainty_out is not None:
            from challenge.outputs import write_csv

            write_csv(staged.file(uncertainty_out), pd.DataFrame(unsure, columns=list(UNCERTAINTY_COLUMNS)))
        seconds = time.time() - start
        summary = {"patients": len(patients), "images": len(results), "missing": missing, "failed": failed,
                   "ignored": ignored, "inverted": inverted, "seconds": round(seconds, 3),
                   "seconds_per_image": round(seconds / max(1, len(results)), 4), "device": device_name(),
                   "out": str(out_path)}
        if summary_out is not None:
            from challenge.outputs import write_json

            write_json(staged.file(summary_out), summary)
    return summary


#: the columns of ``ra2 predict --uncertainty-out`` (README, "The method's uncertainty")
UNCERTAINTY_COLUMNS = ("Patient_ID", "image", "name", "measure", "value")
#: its measures: a joint column's spread, a landmark's heatmap width and peak height
UNCERTAINTY_MEASURES = ("scorer_sd", "heatmap_width", "heatmap_peak")


def uncertainty_rows(patient: str, res: ImageResult) -> list[dict]:
    """One image's rows of the uncertainty file: per joint column it carries, ``scorer_sd`` (the
    population standard deviation of the K out-of-fold scorers' answers for its patch, in the
    column's score units, before stacking); per landmark, ``heatmap_width`` (the root-mean-square
    distance of the final heatmap's probability from the point found, as a share of the image's long
    side) and ``heatmap_peak`` (that map's height at its peak, 0-1).  Rounded to 6 decimals."""
    out = [{"Patient_ID": patient, "image": res.stem, "name": col, "measure": "scorer_sd", "value": round(v, 6)}
           for col, v in sorted(res.spread.items(), key=lambda cv: JOINT_COLUMNS.index(cv[0]))]
    for name, (peak, width) in res.confidence.items():
        if np.isfinite(width):
            out += [{"Patient_ID": patient, "image": res.stem, "name": name, "measure": "heatmap_width",
                     "value": round(width, 6)},
                    {"Patient_ID": patient, "image": res.stem, "name": name, "measure": "heatmap_peak",
                     "value": round(peak, 6)}]
    return out


def check_spread(bundle: Bundle) -> None:
    """Refuse a bundle whose limb kinds do not all have two scorers or more: no spread to write."""
    single = [f"{k} ({bundle.n_scorers.get(k, 0)})" for k in bundle.kinds if bundle.n_scorers.get(k, 0) < 2]
    if single:
        raise UsageError(f"--uncertainty-out: the bundle {bundle.folder} has fewer than two scorers for "
                         f"{', '.join(single)}, so their answers have no spread (a bundle trained with the "
                         "stacker keeps one scorer per fold)")


def _interrupted(exc: BaseException) -> bool:
    """Whether an error is a Ctrl-C or SIGTERM that a library wrapped in its own kind (TensorFlow turns
    Python exceptions raised inside its calls into its own errors): the run must stop, not skip an image."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _report(method: Method, patients, results, missing, failed, ignored, inverted=()) -> None:
    """One log line per kind of gap: where the joints of the images that were not used come from; and
    which images were read as negatives."""
    seen = {stem.rsplit("-", 1)[0] for stem in results}
    if inverted:
        log.info("%d image(s) read as negatives (bone dark on a light ground; the localizer was surer of them "
                 "inverted): %s", len(inverted), listed(inverted, 10))
    for f in failed:
        log.warning("%s not used: %s", f["image"], f["reason"])
    if ignored:
        log.warning("%d image(s) of a limb kind without networks in this bundle (%s) not analysed, e.g. %s",
                    len(ignored), ", ".join(sorted(method.bundle.untrained)) or "-", ", ".join(ignored[:3]))
    for limb in LIMBS:
        absent = [m for m in missing if m.endswith(f"-{limb}")]
        if not absent:
            continue
        have_other = sum(m.rsplit("-", 1)[0] in seen for m in absent)
        stacker = "the stacker (the patient's other limbs)" if method.stacker is not None else "the training prior"
        if have_other == len(absent):
            source = stacker
        elif have_other == 0:
            source = "the training prior (no usable image of those patients)"
        else:
            source = f"{stacker} where the patient has another usable image, else the training prior"
        shown = listed(absent, 10)
        log.warning("no image file for %s of %d of %d patients (%s): their %s columns come from %s", limb,
                    len(absent), len(patients), shown, limb, source)