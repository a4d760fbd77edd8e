"""Joint localisation: one U-Net per limb kind, one heatmap channel per landmark.

Canonical frame: right-side images are mirrored to the left, the grey image is
resized with its aspect kept and padded to ``size`` x ``size``, intensities are
mapped so that the image's 2nd/98th percentiles become 0/1 (robust to the
intensity normalisation the organisers applied to external data).  Stored
images may be turned 180°: the network is trained with random 180° turns, so it
finds the joints in either orientation, and at prediction time it also looks
at the turned image and keeps the orientation it is more confident in
(``predict_canonical``).  The network gives one logit map per landmark, read
as a distribution over pixels (spatial softmax, see ``models.heatmap_loss``);
peaks are refined to sub-pixel by a local centroid
and mapped back to the stored image's pixel coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from PIL import Image
from scipy import ndimage

from .models import build_localizer, epoch_plan, heatmap_loss, train_steps

RIGHT = ("RH", "RF")


@dataclass(frozen=True)
class Frame:
    """How a stored image maps into the square canonical frame (x_c = x_s * scale + ox after mirroring)."""

    width: int
    height: int
    size: int
    scale_x: float
    scale_y: float
    ox: float
    oy: float
    mirrored: bool

    def to_canonical(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).copy()
        if self.mirrored:
            xy[..., 0] = self.width - 1 - xy[..., 0]
        xy[..., 0] = (xy[..., 0] + 0.5) * self.scale_x - 0.5 + self.ox
        xy[..., 1] = (xy[..., 1] + 0.5) * self.scale_y - 0.5 + self.oy
        return xy

    def to_stored(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).copy()
        xy[..., 0] = (xy[..., 0] - self.ox + 0.5) / self.scale_x - 0.5
        xy[..., 1] = (xy[..., 1] - self.oy + 0.5) / self.scale_y - 0.5
        if self.mirrored:
            xy[..., 0] = self.width - 1 - xy[..., 0]
        return xy


def intensity_range(img: np.ndarray) -> tuple[float, float]:
    """2nd and 98th percentile of an image (a flat image gets a unit range)."""
    lo, hi = np.percentile(img, (2, 98))
    if hi - lo < 1e-3:
        hi = lo + 1.0
    return float(lo), float(hi)


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased bilinear resize of a float image."""
    return np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize(
        (max(1, width), max(1, height)), Image.BILINEAR, reducing_gap=2.0), dtype=np.float32)


def canonical(img: np.ndarray, limb: str, size: int) -> tuple[np.ndarray, Frame]:
    """The image in the canonical square frame (float32, ~[0, 1]) and the mapping back."""
    h, w = img.shape
    mirrored = limb in RIGHT
    if mirrored:
        img = img[:, ::-1]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = resize(img, nw, nh)
    lo, hi = intensity_range(small)
    small = (small - lo) / (hi - lo)
    out = np.zeros((size, size), np.float32)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = small
    return out, Frame(w, h, size, nw / w, nh / h, ox, oy, mirrored)


def with_coords(images: np.ndarray) -> np.ndarray:
    """(n, S, S) images -> (n, S, S, 3) with x and y coordinate channels in [-1, 1]."""
    n, s, _ = images.shape
    grid = np.linspace(-1, 1, s, dtype=np.float32)
    xx = np.broadcast_to(grid[None, None, :], (n, s, s))
    yy = np.broadcast_to(grid[None, :, None], (n, s, s))
    return np.stack([images, xx, yy], axis=-1).astype(np.float32)


def heatmaps(points: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(L, 2) canonical points (NaN = unknown) -> (S, S, L) Gaussian targets (zero where unknown)."""
    grid = np.arange(size, dtype=np.float32)
    out = np.zeros((size, size, len(points)), np.float32)
    for k, (x, y) in enumerate(points):
        if np.isfinite(x) and np.isfinite(y):
            gx = np.exp(-((grid - x) ** 2) / (2 * sigma ** 2))
            gy = np.exp(-((grid - y) ** 2) / (2 * sigma ** 2))
            out[:, :, k] = gy[:, None] * gx[None, :]
    return out


def find_peaks(maps: np.ndarray, radius: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(S, S, L) heatmaps -> (L, 2) sub-pixel peaks (x, y) by a local centroid, and (L,) peak heights."""
    s = maps.shape[0]
    points = np.zeros((maps.shape[2], 2))
    heights = np.zeros(maps.shape[2])
    for k in range(maps.shape[2]):
        m = maps[:, :, k]
        y, x = np.unravel_index(int(np.argmax(m)), m.shape)
        y0, y1, x0, x1 = max(0, y - radius), min(s, y + radius + 1), max(0, x - radius), min(s, x + radius + 1)
        win = np.clip(m[y0:y1, x0:x1] - 0.5 * m[y, x], 0, None)
        total = win.sum()
        if total > 0:
            yy, xx = np.mgrid[y0:y1, x0:x1]
            points[k] = ((xx * win).sum() / total, (yy * win).sum() / total)
        else:
            points[k] = (x, y)
        heights[k] = m[y, x]
    return points, heights


def turn(points: np.ndarray, size: int) -> np.ndarray:
    """Canonical points after turning the square frame by 180°."""
    return (size - 1) - np.asarray(points, dtype=float)


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


def random_affine(rng: np.random.Generator, size: int, *, shift: float, scale: float,
                  degrees: float) -> np.ndarray:
    """A random 2 x 3 map of canonical points (x, y): rotation and scale about the centre, then a shift."""
    a = np.deg2rad(rng.uniform(-degrees, degrees))
    s = np.exp(rng.uniform(-np.log(scale), np.log(scale)))
    m = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.full(2, (size - 1) / 2)
    t = rng.uniform(-shift, shift, 2) * size
    return np.hstack([m, (c + t - m @ c)[:, None]])


def warp(img: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """The image moved by a 2 x 3 point map (bilinear, zero outside), as ``affine`` moves its points."""
    inv = np.linalg.inv(affine[:, :2])
    off = -inv @ affine[:, 2]
    # scipy works in (row, col): swap x and y in the inverse map
    return ndimage.affine_transform(img, inv[::-1, ::-1], offset=off[::-1], order=1, mode="constant", cval=0.0)


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


def spatial_softmax(logits: np.ndarray) -> np.ndarray:
    """(..., S, S, L) logit maps -> per-channel probability maps summing to 1 over the pixels."""
    z = logits - logits.max(axis=(-3, -2), keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=(-3, -2), keepdims=True)


def predict_canonical(model, images: np.ndarray, *, both_ways: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Canonical points (n, L, 2) and confidences (n,) for canonical images (n, S, S).

    With ``both_ways`` the turned image is also scored and, per image, the
    orientation with the higher mean peak height is kept.
    """
    size = images.shape[1]
    maps = spatial_softmax(np.asarray(model.predict_on_batch(with_coords(images)), dtype=np.float64))
    found = [find_peaks(m) for m in maps]
    points = np.stack([p for p, _ in found])
    conf = np.array([h.mean() for _, h in found])
    if both_ways:
        turned = spatial_softmax(np.asarray(model.predict_on_batch(with_coords(images[:, ::-1, ::-1].copy())),
                                            dtype=np.float64))
        for i, m in enumerate(turned):
            p, h = find_peaks(m)
            if h.mean() > conf[i]:
                points[i], conf[i] = turn(p, size), h.mean()
    return points, conf
