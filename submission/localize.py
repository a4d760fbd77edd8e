"""Joint localisation: one U-Net per limb kind, one heatmap channel per landmark.

The network works on the canonical frame (``geometry.canonical``: mirrored to the left, resized
and padded to a square, intensities mapped by the 2nd/98th percentiles).  Stored
images may be turned 180°: the network is trained with random 180° turns, so it
finds the joints in either orientation, and at prediction time it also looks
at the turned image and keeps the orientation it is more confident in
(``predict_canonical``).  The network gives one logit map per landmark, read
as a distribution over pixels (spatial softmax, see ``models.heatmap_loss``);
peaks are refined to sub-pixel by a local centroid (``geometry.find_peaks``)
and mapped back to the stored image's pixel coordinates (``geometry.Frame``).

``Localizer`` is the stage: one limb kind's network with its frame (``canonical``, the one function
that cuts the canonical image, for training in ``data.load_training`` and for prediction), ``fit``,
``predict`` (both polarities, see ``Localizer.predict``), ``save`` and ``load``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from .bundle import Bundle
from .settings import LocalizerSettings
from .geometry import (canonical, find_peaks, heatmaps, map_width, random_affine, spatial_softmax, turn, warp,
                       with_coords)
from .models import build_localizer, epoch_plan, heatmap_loss, train_steps


@dataclass
class Located:
    """What the localizer found in one stored image: ``image`` as the later stages should see it
    (``1 - img`` where the negative won, ``inverted``), the landmarks (L, 2) in its pixels and, when
    asked for, each landmark's heatmap peak height and width as a share of the long side (L, 2)."""

    image: np.ndarray
    points: np.ndarray
    inverted: bool
    confidence: np.ndarray | None = None


class Localizer:
    """One limb kind's localizer: a heatmap U-Net on the canonical frame (``canonical``).

    ``fit`` trains it on ``data.KindData`` (canonical images cut by ``canonical``), ``predict`` finds
    the landmarks of a stored image, ``save`` / ``load`` write and read its bundle file."""

    def __init__(self, kind: str, n_landmarks: int, *, size: int, base: int, depth: int, sigma: float, steps: int,
                 epochs: int, both_ways: bool, model=None):
        self.kind, self.n_landmarks, self.model = kind, n_landmarks, model
        self.size, self.base, self.depth, self.sigma = size, base, depth, sigma
        self.steps, self.epochs, self.both_ways = steps, epochs, both_ways

    @classmethod
    def from_settings(cls, kind: str, scheme, settings: LocalizerSettings, model=None) -> "Localizer":
        """The localizer of ``kind`` under its stage's settings (``Settings.localizer``)."""
        return cls(kind, len(scheme.landmarks[kind]), size=settings.size, base=settings.base, depth=settings.depth,
                   sigma=settings.sigma, steps=settings.steps, epochs=settings.epochs, both_ways=settings.both_ways,
                   model=model)

    def canonical(self, img: np.ndarray, limb: str):
        """The canonical image (S, S) of a stored image and its ``Frame``: what the network sees."""
        return canonical(img, limb, self.size)

    def fit(self, data, *, seed: int, progress: bool, batch: int = 8, lr: float = 4e-3) -> "Localizer":
        """Train on ``data.loc_images`` / ``loc_points`` (canonical) in about ``steps`` optimiser steps
        (whatever the number of images), split into ``epochs``; the learning rate falls from ``lr`` to
        zero along a cosine.  Its steps are timed under the name "<kind> localizer"."""
        if not data.loc_images:
            raise ValueError(f"no usable {self.kind} images with landmarks: cannot train the {self.kind} localizer")
        images, points = np.stack(data.loc_images), np.stack(data.loc_points)
        keras.utils.set_random_seed(seed)
        self.model = build_localizer(images.shape[1], points.shape[1], base=self.base, depth=self.depth)
        epochs, per_epoch = epoch_plan(self.steps, self.epochs, batch)
        stream = LocalizerData(images, points, sigma=self.sigma, batch=batch, per_epoch=per_epoch, seed=seed)
        train_steps(self.model, stream, epochs, lr=lr, loss=heatmap_loss, desc=f"{self.kind} localizer",
                    progress=progress)
        return self

    def predict(self, img: np.ndarray, limb: str, *, widths: bool = False) -> Located:
        """The landmarks of a stored image (2-D, [0, 1]), read in the polarity the network is surer of.

        The image and its negative ``1 - img`` are both looked at (``predict_canonical``); the one
        whose landmarks have the higher mean peak height is kept: a film stored inverted (bone dark
        on a light ground) is read as its negative, and the later stages see it so.  A localizer
        trained on films of both polarities finds either; one that has seen few inverted films
        places its landmarks on an inverted one anywhere (docs/measurements.md, "Inverted films"),
        and so would the refiner and the scorers, trained on upright patches."""
        negative = 1.0 - img
        cimg, frame = self.canonical(img, limb)
        cneg, _ = self.canonical(negative, limb)
        found = self.predict_canonical(np.stack([cimg, cneg]), widths=widths)
        k = int(found[1][1] > found[1][0])
        image = (img, negative)[k]
        conf = None
        if widths:                         # canonical pixels -> share of the long side
            conf = found[2][k] * [1.0, 1.0 / (frame.scale_x * max(image.shape))]
        return Located(image, frame.to_stored(found[0][k]), bool(k), conf)

    def predict_canonical(self, images: np.ndarray, *, widths: bool = False):
        """Canonical points (n, L, 2) and confidences (n,) for canonical images (n, S, S).

        With ``both_ways`` the turned image is also scored and, per image, the orientation with the
        higher mean peak height is kept.  With ``widths``, also the kept maps' peak heights and widths
        (n, L, 2: ``geometry.map_width``, canonical pixels); the points are the same."""
        size = images.shape[1]
        maps = spatial_softmax(np.asarray(self.model.predict_on_batch(with_coords(images)), dtype=np.float64))
        found = [find_peaks(m) for m in maps]
        points = np.stack([p for p, _ in found])
        conf = np.array([h.mean() for _, h in found])
        kept = list(maps)
        if self.both_ways:
            turned = spatial_softmax(np.asarray(self.model.predict_on_batch(with_coords(images[:, ::-1, ::-1].copy())),
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

    def save(self, folder: Path) -> None:
        self.model.save(Path(folder) / Bundle.localizer_file(self.kind))

    @classmethod
    def load(cls, bundle: Bundle, kind: str) -> "Localizer":
        return cls.from_settings(kind, bundle.scheme, bundle.settings.localizer,
                                 model=bundle.load_model(bundle.localizer_file(kind)))


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
