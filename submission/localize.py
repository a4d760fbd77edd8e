"""Joint localisation: one U-Net per limb kind, one heatmap channel per landmark.

The network works on the canonical frame (``geometry.canonical``: mirrored to the left, resized
and padded to a square, intensities mapped by the 2nd/98th percentiles).  Stored
images may be turned 180°: the network is trained with random 180° turns, so it
finds the joints in either orientation, and at prediction time it also looks
at the turned image and keeps the orientation it is more confident in
(``predict_canonical``).  The network gives one logit map per landmark, read
as a distribution over pixels (spatial softmax, see ``models.heatmap_loss``);
peaks are refined to sub-pixel by a local centroid (``geometry.find_peaks``)
and mapped back to the stored image's pixel coordinates by the caller (``geometry.Frame``).
"""
from __future__ import annotations

import keras
import numpy as np

from .geometry import (canonical, find_peaks, heatmaps, map_width, random_affine, spatial_softmax, turn, warp,
                       with_coords)
from .models import build_localizer, epoch_plan, heatmap_loss, train_steps


def train_localizer(images: np.ndarray, points: np.ndarray, *, steps: int, epochs: int, base: int, depth: int,
                    sigma: float, batch: int = 8, lr: float = 4e-3, seed: int = 0, progress: bool = True,
                    desc: str = "localizer"):
    """Fit a localizer on canonical images (n, S, S) and canonical points (n, L, 2); returns the model.

    About ``steps`` optimiser steps in all, whatever the number of images (a
    small training set is passed over more often), split into ``epochs``; the
    learning rate falls from ``lr`` to zero along a cosine over all steps.
    """
    keras.utils.set_random_seed(seed)
    size = images.shape[1]
    model = build_localizer(size, points.shape[1], base=base, depth=depth)
    epochs, per_epoch = epoch_plan(steps, epochs, batch)
    data = LocalizerData(images, points, sigma=sigma, batch=batch, per_epoch=per_epoch, seed=seed)
    train_steps(model, data, epochs, lr=lr, loss=heatmap_loss, desc=desc, progress=progress)
    return model


class LocalizerData(keras.utils.PyDataset):
    """Augmented batches for the localizer: random 180° turn, small rotation/scale/shift,
    contrast ×0.9–1.15, gamma; ``per_epoch`` images per epoch (default one pass), drawn
    pass after shuffled pass over the images."""

    def __init__(self, images, points, *, sigma, batch, seed, per_epoch: int | None = None):
        super().__init__()
        self.images, self.points, self.sigma, self.batch = images, points, sigma, batch
        self.rng = np.random.default_rng(seed)
        self.per_epoch = per_epoch or len(images)
        self.on_epoch_end()

    def __len__(self):
        return int(np.ceil(self.per_epoch / self.batch))

    def on_epoch_end(self):
        passes = -(-self.per_epoch // len(self.images))
        order = np.concatenate([self.rng.permutation(len(self.images)) for _ in range(passes)])
        self.order = order[:self.per_epoch]

    def __getitem__(self, i):
        idx = self.order[i * self.batch:(i + 1) * self.batch]
        size = self.images.shape[1]
        xs, ys = [], []
        for j in idx:
            img, pts = self.images[j].astype(np.float32), self.points[j].copy()
            if self.rng.random() < 0.5:
                img, pts = img[::-1, ::-1], turn(pts, size)
            affine = random_affine(self.rng, size, shift=1 / 16, scale=1.1, degrees=10)
            img = warp(img, affine)
            pts = pts @ affine[:, :2].T + affine[:, 2]
            img = np.clip(img, 0, 1.5) ** self.rng.uniform(0.8, 1.25) * self.rng.uniform(0.9, 1.15)
            xs.append(img)
            ys.append(heatmaps(pts, size, self.sigma))
        return with_coords(np.stack(xs)), np.stack(ys)


def predict_canonical(model, images: np.ndarray, *, both_ways: bool = True, widths: bool = False):
    """Canonical points (n, L, 2) and confidences (n,) for canonical images (n, S, S).

    With ``both_ways`` the turned image is also scored and, per image, the
    orientation with the higher mean peak height is kept.  With ``widths``, also the kept maps'
    peak heights and widths (n, L, 2: ``geometry.map_width``, canonical pixels), the landmarks'
    confidence that ``ra2 predict --uncertainty-out`` writes; the points are the same.
    """
    size = images.shape[1]
    maps = spatial_softmax(np.asarray(model.predict_on_batch(with_coords(images)), dtype=np.float64))
    found = [find_peaks(m) for m in maps]
    points = np.stack([p for p, _ in found])
    conf = np.array([h.mean() for _, h in found])
    kept = list(maps)
    if both_ways:
        turned = spatial_softmax(np.asarray(model.predict_on_batch(with_coords(images[:, ::-1, ::-1].copy())),
                                            dtype=np.float64))
        for i, m in enumerate(turned):
            p, h = find_peaks(m)
            if h.mean() > conf[i]:
                points[i], conf[i] = turn(p, size), h.mean()
                kept[i] = m[::-1, ::-1]
    if not widths:
        return points, conf
    spread = np.stack([np.stack([find_peaks(m)[1], map_width(m, pts)], -1) for m, pts in zip(kept, points)])
    return points, conf, spread


def locate(model, img: np.ndarray, limb: str, size: int, *, both_ways: bool = False, widths: bool = False):
    """``predict_canonical`` on a stored image (2-D, [0, 1]) and on its negative ``1 - img``; the polarity
    whose landmarks the localizer is more confident in (the higher mean peak height) is kept.

    Returns ``(img, frame, found)``: the stored image as the later stages should see it (``1 - img``
    where the negative won: a film stored inverted, bone dark on a light ground), the canonical
    ``Frame`` (the same for both) and ``predict_canonical``'s answer for that image (a batch of one).
    A localizer trained on films of both polarities finds either; one that has seen few inverted
    films places its landmarks on an inverted one anywhere (docs/measurements.md, "Inverted films"),
    and so would the refiner and the scorers, trained on upright patches.
    """
    negative = 1.0 - img
    cimg, frame = canonical(img, limb, size)
    cneg, _ = canonical(negative, limb, size)
    found = predict_canonical(model, np.stack([cimg, cneg]), both_ways=both_ways, widths=widths)
    k = int(found[1][1] > found[1][0])
    return (img, negative)[k], frame, tuple(part[k:k + 1] for part in found)
