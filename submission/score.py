"""Joint scoring on patches: the ``Scorer`` stage, its training data stream, training and prediction.

``Scorer`` is one limb kind's scorer (one network, or the K out-of-fold networks averaged): it cuts
its own patches (``Scorer.patches``, through ``geometry.extract_patches``: a square around each
landmark, mirrored to the left side, with a context margin that training uses for random shifts),
for training in ``data.load_training`` and for prediction, so both see the same; ``fit`` trains a
network of the architecture ``ScorerSettings.arch`` names (``models.SCORERS``), ``predict`` scores
patches, ``save`` / ``load`` write and read its bundle files.  The targets are in unit space
(``units``: log2(score + 1) / log2(max + 1), in [0, 1] like the network's sigmoid outputs).
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from .bundle import Bundle
from .settings import ScorerSettings
from .geometry import center, extract_patches, patch_side, random_affine, warp
from .models import (epoch_plan, masked_bce, masked_column_bce, masked_mse, ordinal_targets, scorer_builder,
                     train_steps)
from .units import damage_flags, damage_groups, ordinal_tops


#: a scorer's training options where ``ScorerSettings`` give none (``Scorer.from_settings`` gives them all)
TRAINING = dict(steps=1000, epochs=6, base=8, depth=3, seg=True, weighted=None, weight_power=1.0, groups=None,
                aug=False, ordinal=None)


class Scorer:
    """One limb kind's scorer: its patch geometry, its network's architecture and training options,
    and its trained networks (``models``: one, or the K out-of-fold ones, whose answers are averaged).

    ``patches`` cuts a stored image's patches, ``fit`` trains one network on ``data.KindData``'s
    patches (cut by ``patches``), ``folds`` joins fitted scorers into one, ``predict`` scores
    patches, ``save`` / ``load`` write and read its bundle files (``uncertainty``: also the
    ``members`` model that gives each network's own answer)."""

    def __init__(self, kind: str, scheme, *, patch: int, patch_scale: float, patch_mm: float | None = None,
                 turn: bool = True, arch: str = "unet", options: dict | None = None, models=(),
                 n_landmarks: int | None = None):
        self.kind, self.scheme = kind, scheme
        self.n_landmarks = n_landmarks if n_landmarks is not None else len(scheme.landmarks[kind])
        self.patch, self.patch_scale, self.patch_mm, self.turn = patch, patch_scale, patch_mm, turn
        self.build = scorer_builder(arch, f"{kind}.arch")
        self.arch, self.options = arch, {**TRAINING, **(options or {})}
        self.models = list(models)
        self.members = None
        self._ensemble = None

    @classmethod
    def from_settings(cls, kind: str, scheme, settings: ScorerSettings, *, seg: bool, patch_mm: float | None = None,
                      models=()) -> "Scorer":
        """The scorer of ``kind`` under its kind's settings (``Settings.hand`` or ``.foot``) and ``seg``
        (``Settings.seg``: it also learns the joint-space mask): the one place a profile becomes a scorer.
        ``options``: ``steps``, ``epochs``, ``base``, ``depth``, ``seg``; ``weighted`` flags the output
        columns weighed by patient weight raised to ``weight_power`` (see ``ScorerData``); ``groups``
        the runs of columns with a head of their own (one per damage type); ``aug`` adds turns, scales
        and other exposures (``warp_patch``, ``expose_patch``); ``ordinal`` each column's highest
        score (0 keeps a column plain) for an ordinal head."""
        options = dict(steps=settings.steps, epochs=settings.epochs, base=settings.base, depth=settings.depth, seg=seg,
                       weighted=damage_flags(kind, settings.weighted), weight_power=settings.weight_power,
                       groups=damage_groups(kind), aug=settings.aug, ordinal=ordinal_tops(kind, settings.ordinal))
        return cls(kind, scheme, patch=settings.patch, patch_scale=settings.patch_scale, patch_mm=patch_mm,
                   turn=settings.turn, arch=settings.arch, options=options, models=models)

    # --- its patches
    def side(self, width: int, height: int, mm_per_pixel: float | None = None) -> float:
        """A patch's side in stored pixels: ``patch_mm`` / the image's mm per pixel when both are
        known, else ``geometry.patch_side`` of the image's size."""
        if self.patch_mm and mm_per_pixel:
            return self.patch_mm / mm_per_pixel
        return patch_side(width, height, self.patch_scale)

    def patches(self, img: np.ndarray, limb: str, xy: np.ndarray, *, mm_per_pixel: float | None = None,
                mask: np.ndarray | None = None):
        """(context patches (L, C, C), mask patches or None, side in stored pixels) around stored points."""
        side = self.side(img.shape[1], img.shape[0], mm_per_pixel)
        patches, masks = extract_patches(img, limb, xy, patch=self.patch, patch_scale=self.patch_scale, mask=mask,
                                         side=side)
        return patches, masks, side

    # --- training
    def network(self, n_outputs: int) -> keras.Model:
        """A new, untrained network of this scorer's architecture with ``n_outputs`` score columns."""
        o = self.options
        return self.build(self.patch, n_outputs, self.n_landmarks, base=o["base"], depth=o["depth"], seg=o["seg"],
                          groups=o["groups"], ordinal=o["ordinal"])

    def stream(self, samples: dict, *, seed: int = 0, batch: int = 32):
        """The untrained network for ``samples`` and what trains it: (model, losses, loss weights, data
        stream, epochs), the stream drawing about ``steps`` batches over ``epochs``."""
        o = self.options
        model = self.network(samples["targets"].shape[1])
        losses, weights = scorer_loss(o["seg"], o["ordinal"])
        epochs, per_epoch = epoch_plan(o["steps"], o["epochs"], batch)
        data = ScorerData(samples, patch=self.patch, n_landmarks=self.n_landmarks, seg=o["seg"], batch=batch,
                          seed=seed, per_epoch=per_epoch, weighted=o["weighted"], weight_power=o["weight_power"],
                          aug=o["aug"], ordinal=o["ordinal"])
        return model, losses, weights, data, epochs

    def fit(self, data, scores, *, patients=None, seed: int, progress: bool, lr: float = 2e-3) -> "Scorer":
        """Train one network on the labelled patches of ``data`` (a ``data.KindData``; of ``patients``
        only, if given) in about ``steps`` optimiser steps whatever the number of patches; the learning
        rate falls from ``lr`` to zero along a cosine.  Its steps are timed under "<kind> scorer"."""
        samples = data.samples(self.scheme, self.kind, scores, patients)
        if not len(samples["patches"]):
            raise ValueError(f"no labelled {self.kind} patches to train the {self.kind} scorer")
        return self.fit_samples(samples, seed=seed, progress=progress, lr=lr)

    def fit_samples(self, samples: dict, *, seed: int = 0, progress: bool = True, lr: float = 2e-3) -> "Scorer":
        """``fit`` on patch samples (``data.KindData.samples``'s arrays, see ``ScorerData``)."""
        keras.utils.set_random_seed(seed)
        model, losses, weights, stream, epochs = self.stream(samples, seed=seed)
        # the cosine decay to zero leaves settled weights, not one noisy step of a constant rate
        train_steps(model, stream, epochs, lr=lr, loss=losses, loss_weights=weights, desc=f"{self.kind} scorer",
                    progress=progress)
        self.models, self._ensemble = [model], None
        return self

    @staticmethod
    def folds(scorers) -> "Scorer":
        """One scorer whose networks are those of ``scorers`` (the out-of-fold ones), averaged."""
        first = scorers[0]
        joined = Scorer(first.kind, first.scheme, patch=first.patch, patch_scale=first.patch_scale,
                        patch_mm=first.patch_mm, turn=first.turn, arch=first.arch, options=first.options,
                        n_landmarks=first.n_landmarks)
        joined.models = [m for s in scorers for m in s.models]
        return joined

    # --- prediction
    @property
    def ensemble(self) -> keras.Model:
        """One model averaging the networks' outputs (``ensemble``)."""
        if self._ensemble is None:
            self._ensemble = ensemble(self.models)
        return self._ensemble

    def predict(self, patches: np.ndarray, landmarks: np.ndarray, *, members: bool = False):
        """Unit-space scores (N, C) and mask probabilities (N, patch, patch) or None of context patches
        (cut by ``patches``) of the given landmarks, the networks averaged; with ``members`` the scores
        of each network (N, K, C) instead, and no masks (needs ``load(..., uncertainty=True)``).

        With ``turn`` (test-time augmentation) each patch is also scored turned by 180°, as the
        scorer was trained, in the same batch, and the two answers are averaged (the turned mask
        turned back)."""
        return predict_patches(self.members if members else self.ensemble, patches, landmarks, patch=self.patch,
                               n_landmarks=self.n_landmarks, turn=self.turn)

    # --- the bundle's files
    def save(self, folder: Path) -> None:
        for k, model in enumerate(self.models, start=1):
            model.save(Path(folder) / Bundle.scorer_file(self.kind, k))

    @classmethod
    def load(cls, bundle: Bundle, kind: str, *, uncertainty: bool = False) -> "Scorer":
        scorer = cls.from_settings(kind, bundle.scheme, bundle.settings.scorer(kind), seg=bundle.settings.seg,
                                   patch_mm=bundle.patch_mm.get(kind),
                                   models=[bundle.load_model(f) for f in bundle.scorer_files(kind)])
        scorer.ensemble                       # built first: it names the networks apart
        if uncertainty:
            scorer.members = members(scorer.models)
        return scorer


class ScorerData(keras.utils.PyDataset):
    """Oversampled, augmented batches: random shift (crop), 180° turn, contrast ×0.9–1.15, and with
    ``aug`` a turn of up to ±15°, a scale of 1/1.1–1.1, gamma, blur and noise.

    ``samples`` holds arrays: patches (N, C, C), masks (N, C, C), has_mask (N,),
    landmark (N,) index, targets (N, K) in [0, 1], carried (N, K) 0/1.
    Patches with any damage are drawn ``boost`` times as often as healthy ones,
    and every batch carries importance weights 1 / (N · p) so that the loss
    stays an unbiased estimate of the plain mean over the patches: the rare
    damaged joints are seen more often without the network learning to
    over-score (with MSE, oversampling alone shifts every uncertain prediction
    towards damage).  With ``samples["patient_weight"]`` (the official weight of
    each patch's patient, see ``data.metric_weights``), the score columns flagged
    in ``weighted`` are weighed by it raised to ``weight_power`` (normalised to mean 1); at 1, as
    the leaderboard weighs patients: such a column of a patient with a total score above 148
    counts 64 times as much as one of a patient without damage (8 times at ``weight_power=0.5``).
    ``per_epoch`` patches are drawn per epoch (default N).  With ``ordinal`` (each column's highest
    score, 0 for a plain column) the ordinal columns' targets are the ordinal head's exceedances
    (``models.ordinal_targets``) instead.
    """

    def __init__(self, samples: dict, *, patch: int, n_landmarks: int, seg: bool, batch: int = 32,
                 boost: float = 3.0, seed: int = 0, per_epoch: int | None = None, weighted=None,
                 weight_power: float = 1.0, aug: bool = False, ordinal=None):
        super().__init__()
        self.s, self.patch, self.n_landmarks, self.seg, self.batch = samples, patch, n_landmarks, seg, batch
        self.aug, self.ordinal = aug, ordinal
        damaged = np.any((samples["targets"] > 0) & (samples["carried"] > 0), axis=1)
        p = np.where(damaged, boost, 1.0)
        self.p = p / p.sum()
        self.weight = (1.0 / (len(p) * self.p)).astype(np.float32)
        # per patch and column: 0 where not carried, else 1 or the patient's normalised weight
        self.column_weight = samples["carried"].astype(np.float32)
        if weighted is not None and "patient_weight" in samples:
            pw = np.asarray(samples["patient_weight"], float) ** weight_power
            scale = np.where(np.asarray(weighted, bool)[None, :], (pw / pw.mean())[:, None], 1.0)
            self.column_weight = (self.column_weight * scale).astype(np.float32)
        self.per_epoch = per_epoch or len(p)
        self.rng = np.random.default_rng(seed)
        self.draw()

    def draw(self):
        self.order = self.rng.choice(len(self.p), size=self.per_epoch, p=self.p)

    def __len__(self):
        return int(np.ceil(len(self.order) / self.batch))

    def on_epoch_end(self):
        self.draw()

    def __getitem__(self, i):
        idx = self.order[i * self.batch:(i + 1) * self.batch]
        c, p = self.s["patches"].shape[1], self.patch
        xs, ms = [], []
        for j in idx:
            img, m = self.s["patches"][j].astype(np.float32), self.s["masks"][j].astype(np.float32)
            if self.aug:            # turned and scaled, only the random crop of it computed
                affine = patch_affine(self.rng, c)
                ox, oy = self.rng.integers(0, c - p + 1, 2)
                img = warp(img, affine, mode="mirror", window=(ox, oy, p))
                m = warp(m, affine, mode="mirror", window=(ox, oy, p)) if self.seg else m[:p, :p]
            else:
                ox, oy = self.rng.integers(0, c - p + 1, 2)
                img, m = img[oy:oy + p, ox:ox + p], m[oy:oy + p, ox:ox + p]
            if self.rng.random() < 0.5:
                img, m = img[::-1, ::-1], m[::-1, ::-1]
            img = np.clip(img, 0, 1.5) * self.rng.uniform(0.9, 1.15)
            xs.append(expose_patch(img, self.rng) if self.aug else img)
            ms.append(m)
        x = {"patch": np.stack(xs)[..., None],
             "landmark": np.eye(self.n_landmarks, dtype=np.float32)[self.s["landmark"][idx]]}
        targets, weight = self.s["targets"][idx], self.column_weight[idx]
        plain = np.ones(targets.shape[1], bool) if self.ordinal is None else np.asarray(self.ordinal) == 0
        y = {}
        if self.ordinal is not None:
            y["ordinal"] = ordinal_targets(targets, weight, self.ordinal)
        if plain.any():             # by the model's outputs, not by what this batch happens to carry
            y["scores"] = np.concatenate([targets, weight * plain], axis=1).astype(np.float32)
        if self.seg:
            present = np.broadcast_to(self.s["has_mask"][idx, None, None], (len(idx), p, p))
            y["mask"] = np.stack([(np.stack(ms) > 0.5), present], axis=-1).astype(np.float32)
        return x, y, self.weight[idx]


def patch_affine(rng: np.random.Generator, size: int) -> np.ndarray:
    """A turn about the centre of a ``size`` context patch by up to ±15° and a scale of 1/1.1–1.1 (the
    joint's own tilt and size vary from image to image)."""
    return random_affine(rng, size, shift=0.0, scale=1.1, degrees=15)


def warp_patch(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A context patch and its mask turned and scaled alike (``patch_affine``); edges are mirrored."""
    affine = patch_affine(rng, img.shape[0])
    return warp(img, affine, mode="mirror"), warp(mask, affine, mode="mirror")


def expose_patch(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another exposure of the same patch: a gamma of 0.7–1.4, now and then a slight blur, and
    detector noise of up to 3 % of the range."""
    from scipy.ndimage import gaussian_filter

    img = np.power(np.maximum(img, 0), rng.uniform(0.7, 1.4)).astype(np.float32)
    if rng.random() < 0.3:
        img = gaussian_filter(img, rng.uniform(0.3, 1.0))
    return img + rng.normal(0, rng.uniform(0, 0.03), img.shape).astype(np.float32)


def scorer_loss(seg: bool, ordinal=None) -> tuple[dict, dict]:
    """The scorer's losses and their weights: the plain columns' score MSE ×10, the ordinal columns'
    exceedance BCE ×1 (``ordinal``: each column's highest score, 0 for a plain column) and, with
    ``seg``, the mask BCE ×1."""
    tops = np.zeros(1) if ordinal is None else np.asarray(ordinal)
    losses, weights = {}, {}
    if (tops > 0).any():
        losses["ordinal"], weights["ordinal"] = masked_column_bce, 1.0
    if (tops == 0).any():
        losses["scores"], weights["scores"] = masked_mse, 10.0
    if seg:
        losses["mask"], weights["mask"] = masked_bce, 1.0
    return losses, weights


def ensemble(models) -> keras.Model:
    """One model that averages the outputs of several scorers (the out-of-fold ensemble), so that
    prediction is one call per image instead of one per scorer."""
    if len(models) == 1:
        return models[0]
    inputs = {t.name.split(":")[0]: keras.Input(t.shape[1:], name=t.name.split(":")[0])
              for t in models[0].inputs}
    outs = []
    for k, m in enumerate(models):
        m.name = f"scorer_{k + 1}"                 # names must be unique inside one model
        outs.append(m(inputs))
    return keras.Model(inputs, {name: layers.Average(name=f"mean_{name}")([o[name] for o in outs])
                                for name in outs[0]}, name="scorers")


def members(models) -> keras.Model:
    """One model that gives every scorer's own scores side by side: ``{"scores": (N, K, C)}`` for K
    scorers (``ra2 predict --uncertainty-out`` reads their spread).  It shares the layers of
    ``models`` and leaves ``ensemble``'s averaged answer alone: that is computed by its own call, as
    without it, so the predictions do not change."""
    inputs = {t.name.split(":")[0]: keras.Input(t.shape[1:], name=t.name.split(":")[0])
              for t in models[0].inputs}
    outs = [layers.Reshape((1, -1), name=f"member_{k + 1}")(m(inputs)["scores"]) for k, m in enumerate(models)]
    stacked = outs[0] if len(outs) == 1 else layers.Concatenate(axis=1, name="member_scores")(outs)
    return keras.Model(inputs, {"scores": stacked}, name="scorer_members")


def predict_patches(model, patches: np.ndarray, landmarks: np.ndarray, *, patch: int, n_landmarks: int,
                    batch: int = 256, turn: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit-space scores (N, K) and mask probabilities (N, patch, patch) or None, for context patches.

    With ``turn`` (test-time augmentation) each patch is also scored turned by 180°, as the
    scorer was trained, in the same batch, and the two answers are averaged (the turned mask
    turned back)."""
    x = center(patches, patch)[..., None].astype(np.float32)
    onehot = np.eye(n_landmarks, dtype=np.float32)[landmarks]
    if turn:
        x, onehot = np.concatenate([x, x[:, ::-1, ::-1]]), np.concatenate([onehot, onehot])
    parts = [model.predict_on_batch({"patch": x[i:i + batch], "landmark": onehot[i:i + batch]})
             for i in range(0, len(x), batch)]
    scores = np.concatenate([np.asarray(p["scores"]) for p in parts])
    masks = np.concatenate([np.asarray(p["mask"])[..., 0] for p in parts]) if "mask" in parts[0] else None
    if turn:
        n = len(patches)
        scores = (scores[:n] + scores[n:]) / 2
        masks = (masks[:n] + masks[n:, ::-1, ::-1]) / 2 if masks is not None else None
    return scores, masks
