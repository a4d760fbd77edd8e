"""Reference predictors every method is compared with.

* ``constant``: one value in every joint cell (the organisers' demo image wrote 1.0 everywhere).
* ``train-mean`` / ``train-median``: each column's mean / median over the training labels.
* ``image-stats``: one multi-output ExtraTrees regressor on cheap global features of each limb
  image (intensity histogram, percentiles, size and aspect): what can be had without looking at
  the joints.  A missing or unreadable image gives NaN features, imputed with training medians.

``predict_baseline`` returns scores indexed by the template's Patient_IDs with the 89 score
columns, clipped to each column's range and with totals equal to the sums of the joints.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from challenge import catalogue as cat
from challenge.dataset import LABELS_FILE, TEMPLATE_FILE, scan_folder
from challenge.errors import ParameterError, UsageError
from challenge.images import ImageReadError, read_grey
from challenge.tables import clip_to_range, read_scores, read_template

log = logging.getLogger(__name__)

BASELINES = ("constant", "train-mean", "train-median", "image-stats")

HIST_BINS = 16
PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)
#: features per limb image: histogram, percentiles, mean, std, height, width, aspect, log pixel count
FEATURES_PER_IMAGE = HIST_BINS + len(PERCENTILES) + 6
#: the longest side an image is reduced to before its histogram is taken (features are global anyway)
FEATURE_SIDE = 256


def image_features(path: Path | None) -> np.ndarray:
    """Global features of one radiograph; all NaN when the image is missing or unreadable."""
    out = np.full(FEATURES_PER_IMAGE, np.nan)
    if path is None:
        return out
    try:
        img = read_grey(path)
    except ImageReadError as exc:
        log.warning("image-stats: %s; its features are imputed", exc)
        return out
    h, w = img.shape
    step = max(1, int(np.ceil(max(h, w) / FEATURE_SIDE)))
    small = img[::step, ::step].ravel()
    hist = np.histogram(small, bins=HIST_BINS, range=(0, 1))[0] / small.size
    out[:] = np.concatenate([hist, np.percentile(small, PERCENTILES),
                             [small.mean(), small.std(), h, w, w / h, np.log(h * w)]])
    return out


def folder_features(folder: str | Path, patients: list[str], cache: dict | None = None) -> np.ndarray:
    """(patients, 4 * FEATURES_PER_IMAGE) features, limbs in LH, RH, LF, RF order.

    ``cache`` (image path -> features), shared between calls, reads each image once, so that an image
    of both folders (the same folder given twice, a patient in both) is read, and warned about, once."""
    found = scan_folder(folder)
    cache = {} if cache is None else cache

    def features(path: Path | None) -> np.ndarray:
        if path is None:
            return image_features(None)
        key = path.resolve()
        if key not in cache:
            cache[key] = image_features(path)
        return cache[key]

    rows = [np.concatenate([features(found.path(pid, limb)) for limb in cat.LIMBS]) for pid in patients]
    return np.vstack(rows) if rows else np.empty((0, 4 * FEATURES_PER_IMAGE))


def _impute(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN features with the training median of the column (0 where the column is all NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)            # an all-NaN column: its median is NaN
        med = np.nanmedian(train, axis=0) if len(train) else np.full(train.shape[1], np.nan)
    med = np.nan_to_num(med)
    return np.where(np.isnan(train), med, train), np.where(np.isnan(test), med, test)


def _training_labels(train_dir: Path) -> pd.DataFrame:
    path = train_dir / LABELS_FILE
    if not path.is_file():
        raise UsageError(f"{path}: no training labels ({LABELS_FILE}) in the training folder")
    return read_scores(path)


def _image_stats(train_dir: Path, test_dir: Path, patients: list[str], seed: int) -> pd.DataFrame:
    from sklearn.ensemble import ExtraTreesRegressor

    labels = _training_labels(train_dir)
    read: dict = {}                                    # each image read (and any warning said) once
    x_train = folder_features(train_dir, list(labels.index), read)
    x_test = folder_features(test_dir, patients, read)
    x_train, x_test = _impute(x_train, x_test)
    columns = list(cat.JOINT_COLUMNS)
    model = ExtraTreesRegressor(n_estimators=300, min_samples_leaf=3, max_features=0.5, random_state=seed,
                                n_jobs=1)
    # learn in log2(x+1) space, where the official metrics measure the error
    model.fit(x_train, np.log2(labels[columns].to_numpy() + 1))
    pred = np.exp2(model.predict(x_test)) - 1
    return pd.DataFrame(pred.reshape(len(patients), len(columns)), index=patients, columns=columns)


def predict_baseline(name: str, train_dir: str | Path, test_dir: str | Path, *, seed: int = 0,
                     value: float = 1.0) -> pd.DataFrame:
    """Scores of baseline ``name`` for every patient of ``TEST/template.csv`` (index Patient_ID, the 89
    score columns), clipped to each column's range, totals = sums of the joints."""
    if name not in BASELINES:
        raise UsageError(f"unknown baseline {name!r}: choose one of {', '.join(BASELINES)}")
    train_dir, test_dir = Path(train_dir), Path(test_dir)
    template_path = test_dir / TEMPLATE_FILE
    if not template_path.is_file():
        raise UsageError(f"{template_path}: no {TEMPLATE_FILE} in the test folder")
    patients = [str(p) for p in read_template(template_path)[cat.ID]]
    columns = list(cat.JOINT_COLUMNS)
    if name == "constant":
        if not np.isfinite(value) or value < 0:
            raise ParameterError("value", value, "must be a number >= 0")
        joints = pd.DataFrame(float(value), index=patients, columns=columns)
    elif name in ("train-mean", "train-median"):
        labels = _training_labels(train_dir)[columns]
        stat = labels.mean() if name == "train-mean" else labels.median()
        joints = pd.DataFrame([stat.to_numpy()] * len(patients), index=patients, columns=columns)
    else:
        joints = _image_stats(train_dir, test_dir, patients, seed)
    joints.index.name = cat.ID
    out = clip_to_range(joints.astype(float))
    return out[list(cat.SCORE_COLUMNS)]
