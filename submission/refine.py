"""Second-stage landmark refinement: a small network on a fine crop around each first-stage estimate.

The whole-image localizer works on a 128-px canonical frame, so one of its
pixels is ~0.008 of the image's long side; the refiner looks again at the
stored image at a fine pitch.

``Refiner`` is the stage: one limb kind's network with its pitch and crop side, which it uses both to
collect its training contexts (``Refiner.samples``, filled by ``data.load_training``) and to cut its
crops at prediction (``Refiner.predict``), so the two cannot disagree; ``save`` and ``load`` write and
read its bundle file.

Geometry (``geometry``; one function for training and prediction, ``cut_crops``):

* the *refine frame* of a stored image (``geometry.refine_frame``) is the image mirrored
  to the left side like the localizer's canonical frame, resized
  (anti-aliased) so that one frame pixel is ``pitch`` × the stored long side,
  and its intensities mapped by its 2nd/98th percentiles; ``geometry.Frame`` maps points both ways;
* a crop of ``crop`` × ``crop`` pixels is the refine frame sampled bilinearly
  on a grid centred at a point (optionally turned and scaled about it), so a
  64-px crop at pitch 0.0025 covers 0.16 of the long side.

Training (``Refiner.samples``, a ``data.RefinerSamples``, then ``Refiner.fit``): each image is read once
into a float16 *context* crop per labelled landmark, ``context`` pixels wide
and aligned with the frame's pixel grid around the landmark's true position, so
the trainer never holds a full image.  A training crop is drawn from a context
crop with ``cut_crops`` (one bilinear resampling, as at prediction): centred at
the true point plus a jitter that covers the first stage's error (Gaussian,
sd ``jitter`` of the long side, one crop in five uniform up to ``max_jitter``),
turned by a random small angle and, half of the time, by 180° (stored images
may be upside down), scaled by ±12 %, with contrast, gamma, offset and noise
changes.  The network (``build_refiner``) gives one logit map per landmark,
read as a spatial softmax as the localizer's (``models.heatmap_loss``); the
targets are Gaussians at every labelled landmark in view, not only the one the
crop is centred on (trained on the centre landmark alone, a refiner confused
neighbouring wrist bones).

Prediction (``Refiner.predict``): all landmarks of an image are cut around the
current estimates and scored in one ``predict_on_batch`` call per pass (with
``turned``, the crops turned by 180° join the same batch and the two
probability maps are averaged), each map is weighed by a Gaussian prior
around its estimate (``prior``, sd 0.02 of the long side: without it a short-trained
refiner put some finger points on a neighbouring joint), and the sub-pixel peak
(``geometry.find_peaks``) is mapped back to stored-image pixels.  ``passes=2``
cuts again around the refined points.  A NaN estimate stays NaN.

What the refiner gains, and the figures behind these choices: ``docs/measurements.md``
(from ``benchmarks/bench_refine.py``).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from pathlib import Path

from .bundle import Bundle
from .settings import RefinerSettings
from .data import RefinerSamples
from .geometry import crop_grid, cut_crops, find_peaks, heatmaps, map_width, refine_frame, spatial_softmax, with_coords
from .models import conv_block, epoch_plan, heatmap_loss, train_steps

PRIOR = 0.02          # sd of the prior around each estimate at prediction, share of the long side


def random_affines(rng: np.random.Generator, n: int, *, degrees: float, scale: float,
                   turn: bool) -> np.ndarray:
    """(n, 2, 2) maps of crop offsets to context offsets: rotation ±``degrees``, scale ×/÷ ``scale``,
    plus a 180° turn half of the time with ``turn``."""
    a = np.deg2rad(rng.uniform(-degrees, degrees, n))
    if turn:
        a = a + np.pi * (rng.random(n) < 0.5)
    s = np.exp(rng.uniform(-np.log(scale), np.log(scale), n))
    c, si = np.cos(a) * s, np.sin(a) * s
    return np.stack([np.stack([c, -si], -1), np.stack([si, c], -1)], axis=1)


def random_jitter(rng: np.random.Generator, n: int, *, sd: float, most: float) -> np.ndarray:
    """(n, 2) offsets (pixels): Gaussian with ``sd`` for four in five, uniform in a disc of radius
    ``most`` for the others; all within ``most`` of zero."""
    out = rng.normal(0.0, sd, (n, 2))
    wide = rng.random(n) < 0.2
    r, a = most * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
    out[wide] = np.stack([r * np.cos(a), r * np.sin(a)], -1)[wide]
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out * np.minimum(1.0, most / np.maximum(norm, 1e-9))


class RefinerData(keras.utils.PyDataset):
    """Augmented training batches of crops cut from the context crops (see the module's docstring)."""

    def __init__(self, contexts, points, landmarks, *, n_landmarks: int, crop: int, pitch: float, sigma: float,
                 batch: int, per_epoch: int, seed: int, jitter: float, max_jitter: float, degrees: float = 15.0,
                 scale: float = 1.12, turn: bool = True):
        super().__init__()
        self.contexts, self.points, self.landmarks = contexts, points, landmarks
        self.n_landmarks, self.crop, self.sigma, self.batch = n_landmarks, crop, sigma, batch
        self.sd = jitter / pitch
        # the true point stays 4 px inside the crop
        self.most = min(max_jitter / pitch, crop / 2 - 4)
        self.degrees, self.scale, self.turn = degrees, scale, turn
        self.per_epoch = per_epoch
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return int(np.ceil(self.per_epoch / self.batch))

    def __getitem__(self, i):
        n, rng = self.batch, self.rng
        idx = rng.integers(0, len(self.contexts), n)
        aff = random_affines(rng, n, degrees=self.degrees, scale=self.scale, turn=self.turn)
        shift = random_jitter(rng, n, sd=self.sd, most=self.most)
        truth = self.points[idx].astype(np.float64)                       # (n, L, 2)
        centre = truth[np.arange(n), self.landmarks[idx]] + shift
        crops = cut_crops(self.contexts[idx], np.arange(n), centre, self.crop, aff)
        # where the landmarks land in the crop: offset = A^-1 (point - centre); those outside do not count
        inv = np.linalg.inv(aff)
        in_crop = np.einsum("nij,nlj->nli", inv, truth - centre[:, None, :]) + (self.crop - 1) / 2
        outside = ~np.all((in_crop >= 0) & (in_crop <= self.crop - 1), axis=-1)
        in_crop[outside] = np.nan
        gamma = rng.uniform(0.75, 1.33, (n, 1, 1))
        gain = rng.uniform(0.85, 1.2, (n, 1, 1))
        offset = rng.uniform(-0.05, 0.05, (n, 1, 1))
        noise = rng.normal(0, 1, crops.shape) * rng.uniform(0, 0.02, (n, 1, 1))
        crops = np.clip(crops, 0, 1.5) ** gamma * gain + offset + noise
        x = {"crop": with_coords(crops.astype(np.float32)),
             "landmark": np.eye(self.n_landmarks, dtype=np.float32)[self.landmarks[idx]]}
        y = np.stack([heatmaps(p, self.crop, self.sigma) for p in in_crop])
        return x, y


def build_refiner(crop: int, n_landmarks: int, *, base: int = 8, depth: int = 3) -> keras.Model:
    """Small U-Net: ``crop`` (crop, crop, 3: grey + x/y coordinates) and ``landmark`` (one-hot of the
    landmark the crop is centred on) -> (crop, crop, n_landmarks) logit maps, one per landmark.

    A crop holds neighbouring joints: training asks for every labelled landmark in
    view (more signal per crop than the centre one alone, so that neighbours are
    told apart early), prediction reads the centre landmark's map.  The centre
    landmark's identity is also added, as a learnt bias, to the bottleneck's features.
    """
    if crop % 2 ** depth:
        raise ValueError(f"refiner crop {crop} must be a multiple of {2 ** depth}")
    img = keras.Input((crop, crop, 3), name="crop")
    which = keras.Input((n_landmarks,), name="landmark")
    x, skips = img, []
    for level in range(depth):
        x = conv_block(x, base * 2 ** level, f"ref_enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"ref_pool{level}")(x)
    x = conv_block(x, base * 2 ** depth, "ref_mid", dilation=2)
    emb = layers.Dense(base * 2 ** depth, name="ref_identity")(which)
    x = layers.Add(name="ref_condition")([x, layers.Reshape((1, 1, base * 2 ** depth), name="ref_identity_map")(emb)])
    for level in reversed(range(depth)):
        x = layers.UpSampling2D(2, name=f"ref_up{level}")(x)
        x = layers.Concatenate(name=f"ref_cat{level}")([x, skips[level]])
        x = conv_block(x, base * 2 ** level, f"ref_dec{level}")
    x = layers.Conv2D(max(16, 2 * base), 3, padding="same", activation="relu", name="ref_head")(x)
    out = layers.Conv2D(n_landmarks, 1, name="heatmaps")(x)
    return keras.Model({"crop": img, "landmark": which}, out, name="refiner")


class Refiner:
    """One limb kind's landmark refiner: a small U-Net on ``crop``-px crops of the refine frame at
    ``pitch`` × the stored long side (see the module's docstring).

    ``samples`` gives the collector of its training contexts (cut at its own pitch), ``fit`` trains
    it on them, ``predict`` refines a stored image's points, ``save`` / ``load`` write and read its
    bundle file."""

    def __init__(self, kind: str, n_landmarks: int, *, crop: int, pitch: float, base: int = 8, depth: int = 3,
                 steps: int = 0, passes: int = 1, turned: bool = False, prior: float | None = PRIOR, model=None):
        self.kind, self.n_landmarks, self.model = kind, n_landmarks, model
        self.crop, self.pitch, self.base, self.depth, self.steps = crop, pitch, base, depth, steps
        self.passes, self.turned, self.prior = passes, turned, prior

    @classmethod
    def from_settings(cls, kind: str, scheme, settings: RefinerSettings, model=None) -> "Refiner":
        """The refiner of ``kind`` under its stage's settings (``Settings.refiner``)."""
        return cls(kind, len(scheme.landmarks[kind]), crop=settings.crop, pitch=settings.pitch, base=settings.base,
                   steps=settings.steps, passes=settings.passes, turned=settings.turned, model=model)

    def samples(self) -> RefinerSamples:
        """An empty collector of training contexts: twice the crop's side, at this refiner's pitch."""
        return RefinerSamples(context=2 * self.crop, pitch=self.pitch)

    def fit(self, data, *, seed: int, progress: bool, epochs: int = 4, batch: int = 32, lr: float = 2e-3,
            sigma: float = 1.5, jitter: float = 0.015, max_jitter: float = 0.05, turn: bool = True) -> "Refiner":
        """Train on ``data.refiner`` (the contexts of ``samples``) in about ``steps`` optimiser steps of
        ``batch`` crops (the learning rate falls from ``lr`` to zero along a cosine).  ``jitter`` /
        ``max_jitter``: the crops' offsets from the true points (share of the long side, see
        ``random_jitter``); they should cover the first stage's error.  ``turn``: random 180° turns.
        Its steps are timed under the name "<kind> refiner"."""
        samples = data.refiner
        contexts, points, landmarks = samples.arrays()
        desc = f"{self.kind} refiner"
        if not len(contexts):
            raise ValueError(f"no labelled landmarks to train the {desc}")
        if samples.pitch != self.pitch or samples.context < self.crop:
            raise ValueError(f"the {desc}'s contexts are {samples.context} px at pitch {samples.pitch}, not at least "
                             f"{self.crop} px at {self.pitch}: collect them with Refiner.samples")
        if points.shape[1] != self.n_landmarks:
            raise ValueError(f"samples have {points.shape[1]} landmarks per image but the refiner has "
                             f"{self.n_landmarks}")
        keras.utils.set_random_seed(seed)
        self.model = build_refiner(self.crop, self.n_landmarks, base=self.base, depth=self.depth)
        epochs, per_epoch = epoch_plan(self.steps, epochs, batch)
        stream = RefinerData(contexts, points, landmarks, n_landmarks=self.n_landmarks, crop=self.crop,
                             pitch=self.pitch, sigma=sigma, batch=batch, per_epoch=per_epoch, seed=seed,
                             jitter=jitter, max_jitter=max_jitter, turn=turn)
        train_steps(self.model, stream, epochs, lr=lr, loss=heatmap_loss, desc=desc, progress=progress)
        return self

    def predict(self, img: np.ndarray, limb: str, xy: np.ndarray, *, widths: bool = False):
        """Refined stored-image points (L, 2) of a stored image (H, W) from estimates (L, 2) (NaN stays NaN).

        One ``predict_on_batch`` call per pass with all L crops (2L with ``turned``: each crop also
        turned by 180°, the two probability maps averaged); ``passes`` > 1 cuts again around the
        refined points.  Points are clipped to the image.

        ``prior``: the sd (share of the long side) of a Gaussian prior around each estimate that
        multiplies the network's map: a far peak needs more evidence than a near one, so that a
        refiner that confuses a landmark with a neighbour in view keeps the nearer one (None: none).

        ``widths``: also return (L, 2) of the last pass's maps (prior included, as the points were
        found): each peak's height and width (``geometry.map_width``) as a share of the long side,
        NaN where the point is; the confidence ``ra2 predict --uncertainty-out`` writes."""
        crop, pitch, n_landmarks = self.crop, self.pitch, self.n_landmarks
        side = self.model.input["crop"].shape[1]
        if side != crop:
            raise ValueError(f"the refiner takes {side}-px crops, not {crop}")
        xy = np.asarray(xy, dtype=float)
        if xy.shape != (n_landmarks, 2):
            raise ValueError(f"the refiner takes {n_landmarks} points, got an array of shape {xy.shape}")
        h, w = img.shape
        frame_img, frame = refine_frame(np.asarray(img, dtype=np.float32), limb, pitch)
        pts = frame.to_canonical(xy)
        ok = np.isfinite(pts).all(axis=1)
        for _ in range(max(1, self.passes)):
            crops = cut_crops(frame_img[None], np.zeros(n_landmarks, int), np.where(ok[:, None], pts, np.nan), crop)
            prob = self._maps(crops)
            found = [find_peaks(p) for p in prob]
            peaks = np.stack([f[0][0] for f in found])
            pts = np.where(ok[:, None], pts + peaks - (crop - 1) / 2, np.nan)
        out = frame.to_stored(pts)
        out[:, 0] = np.clip(out[:, 0], 0, w - 1)
        out[:, 1] = np.clip(out[:, 1], 0, h - 1)
        out[~ok] = np.nan
        if not widths:
            return out
        spread = np.array([[f[1][0], map_width(p, f[0])[0] * pitch] for p, f in zip(prob, found)])
        spread[~ok] = np.nan
        return out, spread

    def _maps(self, crops: np.ndarray) -> np.ndarray:
        """(L, crop, crop, 1) probability maps of the L crops, each of its own centre landmark (with
        ``turned``, averaged with the turned crop's), the prior applied."""
        n, crop = self.n_landmarks, self.crop
        onehot = np.eye(n, dtype=np.float32)
        x = {"crop": crops, "landmark": onehot}
        if self.turned:
            x = {"crop": np.concatenate([crops, crops[:, ::-1, ::-1]]), "landmark": np.concatenate([onehot, onehot])}
        logits = np.asarray(self.model.predict_on_batch({"crop": with_coords(x["crop"]), "landmark": x["landmark"]}),
                            dtype=np.float64)
        # each crop's own landmark's map
        logits = logits[np.arange(len(logits)), :, :, np.tile(np.arange(n), len(logits) // n)]
        logits = logits[..., None]
        if self.prior:
            sd = self.prior / self.pitch                       # crop pixels
            logits = logits - (np.sum(crop_grid(crop) ** 2, axis=-1) / (2 * sd ** 2))[None, :, :, None]
        prob = spatial_softmax(logits)
        if self.turned:
            prob = 0.5 * (prob[:n] + prob[n:, ::-1, ::-1])
        return prob

    def save(self, folder: Path) -> None:
        self.model.save(Path(folder) / Bundle.refiner_file(self.kind))

    @classmethod
    def load(cls, bundle: Bundle, kind: str) -> "Refiner":
        return cls.from_settings(kind, bundle.scheme, bundle.settings.refiner,
                                 model=bundle.load_model(bundle.refiner_file(kind)))
