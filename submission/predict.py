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

from challenge.catalogue import ID, JOINT_COLUMNS, LIMBS
from challenge.dataset import scan_folder
from challenge.images import ImageReadError, read_grey
from challenge.tables import read_template, write_scores

from .bundle import Settings, read_manifest, scheme_of, scorer_files, weight_file
from .data import joint_matrix, kind_of

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


class Method:
    """A loaded bundle: ``analyse(img, limb)`` for one image, ``combine`` for a table of patients."""

    def __init__(self, bundle_dir: str | Path):
        import joblib
        import keras

        self.dir = Path(bundle_dir)
        self.manifest = read_manifest(self.dir)
        self.settings = Settings.from_dict(self.manifest["settings"])
        self.scheme = scheme_of(self.manifest)
        load = lambda name: keras.saving.load_model(self.dir / name, compile=False)  # noqa: E731
        self.localizers = {k: load(weight_file("localizer", k)) for k in ("hand", "foot")}
        self.scorers = {k: [load(f) for f in scorer_files(self.manifest, k)] for k in ("hand", "foot")}
        self.stacker = joblib.load(self.dir / "stacker.joblib") if self.settings.stack else None
        self.prior = pd.Series(self.manifest["prior"])

    def analyse(self, img: np.ndarray, limb: str, stem: str = "") -> ImageResult:
        """Landmarks, patch scores and masks of one stored image."""
        from .localize import canonical, predict_canonical
        from .score import average_patches, column_top, extract_patches, kind_columns

        kind = kind_of(limb)
        s = self.settings
        cimg, frame = canonical(img, limb, s.loc_size)
        points, _ = predict_canonical(self.localizers[kind], cimg[None], both_ways=s.both_ways)
        xy = frame.to_stored(points[0])
        xy[:, 0] = np.clip(xy[:, 0], 0, img.shape[1] - 1)
        xy[:, 1] = np.clip(xy[:, 1], 0, img.shape[0] - 1)
        names = self.scheme.landmarks[kind]
        patches, _ = extract_patches(img, limb, xy, patch=s.patch, patch_scale=s.patch_scale(kind))
        unit, masks = average_patches(self.scorers[kind], patches, np.arange(len(names)), patch=s.patch,
                                      n_landmarks=len(names))
        cols = kind_columns(kind)
        values = unit * column_top(kind)              # log2(score + 1)
        scores = {}
        for li, lm in enumerate(names):
            for c in self.scheme.columns_of(kind, lm):
                scores[f"{limb}_{c}"] = float(values[li, cols.index(c)])
        return ImageResult(stem, limb, img.shape[1], img.shape[0],
                           {n: (float(x), float(y)) for n, (x, y) in zip(names, xy)}, scores, masks)

    def combine(self, log_patch: pd.DataFrame, *, stack: bool | None = None) -> pd.DataFrame:
        """log2-space patch predictions (NaN where missing) -> final scores (89 columns)."""
        from .train import to_scores

        use_stack = self.stacker is not None if stack is None else (stack and self.stacker is not None)
        x = log_patch[list(JOINT_COLUMNS)]
        if use_stack:
            final = pd.DataFrame(self.stacker.predict(x.to_numpy()), index=x.index, columns=x.columns)
            empty = x.isna().all(axis=1)           # no image at all: the prior, not trees on filled means
            final.loc[empty] = np.nan
        else:
            final = x.copy()
        prior_log = np.log2(self.prior[list(JOINT_COLUMNS)] + 1)
        final = final.fillna(prior_log)
        return to_scores(final)


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
                   stack: bool | None = None, progress: bool = True, method: Method | None = None) -> dict:
    """Predict every template patient; returns a summary (patients, images, failed images, seconds, device)."""
    start = time.time()
    template = read_template(template_path)
    folder = scan_folder(images_dir)
    method = method or Method(bundle_dir)
    patients = [p for p in template[ID] if p]
    log_patch = joint_matrix(patients)
    rows, failed, results = [], [], []
    jobs = [(p, limb) for p in patients for limb in LIMBS]
    for patient, limb in tqdm(jobs, desc="predicting", disable=not progress, unit="img"):
        path = folder.path(patient, limb)
        name = f"{patient}-{limb}"
        if path is None:
            failed.append({"image": name, "reason": "no image file"})
            log.warning("%s: no image file: its joints come from the %s", name,
                        "stacker" if method.stacker is not None else "training prior")
            continue
        try:
            img = read_grey(path)
            res = method.analyse(img, limb, folder.stem(patient, limb))
        except ImageReadError as exc:
            failed.append({"image": path.name, "reason": str(exc)})
            log.warning("image not used: %s", exc)
            continue
        except Exception as exc:  # noqa: BLE001 -- one odd image must not cost the whole file
            failed.append({"image": path.name, "reason": f"analysis failed: {exc!r}"})
            log.exception("%s: analysis failed; its joints come from the other limbs or the prior", path.name)
            continue
        for col, v in res.scores.items():
            log_patch.at[patient, col] = v
        rows.extend({"image": res.stem, "landmark": n, "x": x, "y": y, "width": res.width, "height": res.height}
                    for n, (x, y) in res.landmarks.items())
        if overlays is not None:
            _overlay(img, res, method, Path(overlays) / f"{res.stem}.png")
        results.append(res.stem)
    final = method.combine(log_patch, stack=stack)
    write_scores(final, out_path, template)
    if landmarks_out is not None:
        from challenge.landmarks import write_landmarks
        write_landmarks(pd.DataFrame(rows, columns=["image", "landmark", "x", "y", "width", "height"]), landmarks_out)
    seconds = time.time() - start
    return {"patients": len(patients), "images": len(results), "failed": failed, "seconds": round(seconds, 3),
            "seconds_per_image": round(seconds / max(1, len(results)), 4), "device": device_name(),
            "out": str(out_path)}
