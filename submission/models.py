"""The two Keras 3 networks of the method, backend-agnostic (``keras.layers`` / ``keras.ops`` only).

* ``build_localizer``: a U-Net from a grey image (plus two coordinate channels)
  to one logit map per landmark, trained with a spatial softmax against
  Gaussian targets (``heatmap_loss``).
* ``build_scorer``: an encoder–decoder with skips on a joint patch; its
  joint-space mask head (``seg=True``) feeds, with the decoder features, a
  regressor whose sigmoid outputs are every score column of the limb kind
  (the loss only looks at the columns the patch's landmark carries), with a
  dense head per damage type over the shared features; or, ordinal, the
  probabilities that each column's score exceeds 0, 1, ... read out as the
  expected score (``ordinal_readout``).

``train_steps`` is the training loop of both: Adam with a cosine-decaying
rate, ``train_on_batch`` over a ``keras.utils.PyDataset``, a progress bar.  It times its own steps
(making the batch and the step, the median after the first traces); inside ``watch_steps`` those
timings are handed to the caller, and ``watch_steps(limit=N)`` stops every loop after N steps: the
training's own code path run as a short probe (``submission.budget``).  It is used instead of
``model.fit`` because, on the TensorFlow backend, ``fit`` feeds a Python
dataset through a generator op that lowers the C library's memory-trim
threshold for the whole process, after which every large activation buffer is
mapped and unmapped at each step: the localizer's steps took twice as long
(figures in ``docs/measurements.md``).

Targets that need per-sample masking carry the mask in extra channels of
``y_true`` (see ``masked_bce`` and ``masked_mse``), so that the same code runs
on TensorFlow, PyTorch and JAX without backend-specific gradient code.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers, ops

from challenge import interrupts


def conv_block(x, filters: int, name: str, dilation: int = 1):
    """Two 3×3 convolutions, each batch-normalised and ReLU'd: the building block of every network here."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, dilation_rate=dilation,
                          name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def unet_features(x, base: int, depth: int, name: str):
    """Encoder–decoder with skip connections; returns (decoder output, bottleneck)."""
    skips = []
    for level in range(depth):
        x = conv_block(x, base * 2 ** level, f"{name}_enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{level}")(x)
    x = conv_block(x, base * 2 ** depth, f"{name}_mid", dilation=2)
    bottleneck = x
    for level in reversed(range(depth)):
        x = layers.UpSampling2D(2, name=f"{name}_up{level}")(x)
        x = layers.Concatenate(name=f"{name}_cat{level}")([x, skips[level]])
        x = conv_block(x, base * 2 ** level, f"{name}_dec{level}")
    return x, bottleneck


def build_localizer(size: int, n_landmarks: int, *, base: int = 8, depth: int = 4) -> keras.Model:
    """U-Net: (size, size, 3) image + x/y coordinate channels -> (size, size, n_landmarks) logit maps.

    The outputs are logits over pixels: a softmax over each channel's pixels
    (``geometry.spatial_softmax``) gives the landmark's position distribution.
    """
    if size % 2 ** depth:
        raise ValueError(f"localizer input size {size} must be a multiple of {2 ** depth}")
    inp = keras.Input((size, size, 3), name="image")
    x, _ = unet_features(inp, base, depth, "loc")
    # a wider head: the last decoder level has only ``base`` features, too few to tell ~20 landmarks apart
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="head")(x)
    out = layers.Conv2D(n_landmarks, 1, name="heatmaps")(x)
    return keras.Model(inp, out, name="localizer")


def build_scorer(patch: int, n_outputs: int, n_landmarks: int, *, base: int = 12, depth: int = 3,
                 seg: bool = True, groups: tuple[int, ...] | None = None, ordinal=None) -> keras.Model:
    """Encoder–decoder scorer.

    Inputs: ``patch`` (patch, patch, 1) and ``landmark`` (one-hot, n_landmarks).
    Outputs: ``scores`` (n_outputs sigmoid) and, with ``seg``, ``mask`` (patch, patch, 1 sigmoid).
    Without ``seg`` the same decoder feeds the regressor but has no mask head or mask loss.
    ``groups``: sizes of consecutive runs of output columns (one per damage type) that get
    a dense head of their own over the shared pooled features (default: one head for all).

    ``ordinal``: the highest score of each output column, 0 for a column that stays a plain
    sigmoid (a group's columns are all ordinal or all plain).  An ordinal column's head gives the
    probabilities that its score exceeds 0, 1, ... (output ``ordinal``: the ordinal columns' ``max``
    sigmoids each, column by column; a column's thresholds at or above its own highest score are
    unused), and ``scores`` is the fixed linear read-out ``ordinal_readout`` of those and the plain
    columns' sigmoids: the expected unit-space score.
    """
    groups = tuple(groups or (n_outputs,))
    if sum(groups) != n_outputs:
        raise ValueError(f"output groups {groups} do not add up to {n_outputs} outputs")
    tops = (0,) * n_outputs if ordinal is None else tuple(int(t) for t in ordinal)
    if len(tops) != n_outputs:
        raise ValueError(f"{len(tops)} highest scores for {n_outputs} outputs")
    starts = np.cumsum((0,) + groups)
    if any(len({t > 0 for t in tops[a:b]}) > 1 for a, b in zip(starts, starts[1:])):
        raise ValueError(f"highest scores {tops}: each output group {groups} must be all ordinal or all plain")
    levels = max(tops)
    img = keras.Input((patch, patch, 1), name="patch")
    which = keras.Input((n_landmarks,), name="landmark")
    dec, bottleneck = unet_features(img, base, depth, "sc")
    outputs = {}
    if seg:
        mask = layers.Conv2D(1, 1, activation="sigmoid", name="mask")(dec)
        outputs["mask"] = mask
        dec = layers.Concatenate(name="dec_mask")([dec, mask])
    x = dec
    for i in range(depth):
        x = layers.Conv2D(base * 2 ** (i + 1), 3, strides=2, padding="same", activation="relu",
                          name=f"reg_conv{i}")(x)
    pooled = layers.Concatenate(name="reg_pool")([
        layers.GlobalAveragePooling2D(name="reg_gap")(x), layers.GlobalMaxPooling2D(name="reg_gmp")(x),
        layers.GlobalAveragePooling2D(name="mid_gap")(bottleneck), which])
    heads = {True: [], False: []}                 # ordinal and plain heads' logits
    for g, (size, a) in enumerate(zip(groups, starts)):
        h = layers.Dense(64, activation="relu", name=f"reg_dense{g}")(pooled)
        h = layers.Dropout(0.2, name=f"reg_drop{g}")(h)
        ordinal_group = tops[a] > 0
        heads[ordinal_group].append(layers.Dense(size * (levels if ordinal_group else 1), name=f"reg_out{g}")(h))

    def joined(logits, name):
        return logits[0] if len(logits) == 1 else layers.Concatenate(name=name)(logits)

    if not heads[True]:
        outputs["scores"] = layers.Activation("sigmoid", name="scores")(joined(heads[False], "reg_heads"))
        return keras.Model({"patch": img, "landmark": which}, outputs, name="scorer")
    outputs["ordinal"] = layers.Activation("sigmoid", name="ordinal")(joined(heads[True], "reg_heads"))
    probs = [outputs["ordinal"]]
    if heads[False]:
        probs.append(layers.Activation("sigmoid", name="plain")(joined(heads[False], "plain_heads")))
    readout = layers.Dense(n_outputs, use_bias=False, trainable=False, name="scores")
    outputs["scores"] = readout(joined(probs, "reg_probs"))
    readout.set_weights([ordinal_readout(tops)])
    return keras.Model({"patch": img, "landmark": which}, outputs, name="scorer")


#: the scorer architectures by name (``ScorerSettings.arch``): a builder takes ``(patch, n_outputs, n_landmarks)``
#: and the keywords ``base``, ``depth``, ``seg``, ``groups``, ``ordinal`` (see ``build_scorer``) and returns a model
#: with ``build_scorer``'s inputs and outputs; a new architecture is one more function and one more name here
SCORERS = {"unet": build_scorer}


def scorer_builder(name: str, setting: str = "arch"):
    """The builder of the scorer architecture ``name`` (``SCORERS``); ``ParameterError`` naming the
    ``setting`` (``"hand.arch"``) and the choices for a name that is not one."""
    from challenge.errors import ParameterError

    try:
        return SCORERS[name]
    except (KeyError, TypeError):
        raise ParameterError(setting, name, f"no such scorer architecture; choose one of "
                             f"{', '.join(SCORERS)}") from None


def ordinal_readout(tops) -> np.ndarray:
    """The matrix that turns the ordinal columns' exceedance probabilities P(score > k), column by
    column, followed by the plain columns' sigmoids (highest score 0), into every column's expected
    unit-space score: log2(score + 1) = sum over k < score of log2(k + 2) − log2(k + 1), divided by
    the column's log2(max + 1); a plain column's sigmoid is its score.  Each column's weights add up to 1."""
    tops = [int(t) for t in tops]
    levels = max(tops)
    ordinal = [c for c, top in enumerate(tops) if top > 0]
    plain = [c for c, top in enumerate(tops) if top == 0]
    w = np.zeros((len(ordinal) * levels + len(plain), len(tops)), np.float32)
    for i, c in enumerate(ordinal):
        k = np.arange(tops[c])
        w[i * levels + k, c] = (np.log2(k + 2) - np.log2(k + 1)) / np.log2(tops[c] + 1)
    for i, c in enumerate(plain):
        w[len(ordinal) * levels + i, c] = 1.0
    return w


def ordinal_targets(unit: np.ndarray, weight: np.ndarray, tops) -> np.ndarray:
    """``y_true`` of the ``ordinal`` output: [P(score > k) targets | their weights], each (N, ordinal
    columns × max), from unit-space targets and per-column weights (N, columns) of every column;
    the plain columns (highest score 0) are left out, unused thresholds weigh 0."""
    tops = np.asarray(tops, int)
    unit, weight = unit[:, tops > 0], weight[:, tops > 0]
    tops = tops[tops > 0]
    levels = int(tops.max())
    score = np.rint(np.exp2(unit * np.log2(tops + 1)) - 1)
    k = np.arange(levels)
    target = (score[..., None] > k).astype(np.float32)
    used = (k[None, :] < tops[:, None]).astype(np.float32)
    w = weight[..., None] * used[None]
    n = len(unit)
    return np.concatenate([target.reshape(n, -1), w.reshape(n, -1)], axis=1).astype(np.float32)


class _RetraceNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextmanager
def first_traces():
    """Drop TensorFlow's "frequent retracing" notice while fresh networks make their first calls.

    Each new model's predict function traces once per input shape, and TensorFlow counts those
    traces across models as if one function were retraced: six fresh networks in a row (an image's
    localizer, refiner and scorers; the out-of-fold scorers of training) draw the warning though
    nothing retraces.  Outside this block a real retrace is still reported."""
    notice = _RetraceNotice()
    log = logging.getLogger("tensorflow")
    log.addFilter(notice)
    try:
        yield
    finally:
        log.removeFilter(notice)


def epoch_plan(steps: int, epochs: int, batch: int) -> tuple[int, int]:
    """Split about ``steps`` optimiser steps into epochs: (epochs, samples drawn per epoch)."""
    epochs = max(1, min(epochs, steps))
    return epochs, -(-steps // epochs) * batch


#: steps of a loop that trace the graph and are left out of its median step time
TRACE_STEPS = 3


@dataclass
class StepRecord:
    """The timing of one ``train_steps`` call: ``steps`` run (of ``planned``), the median seconds
    of one step (making the batch and ``train_on_batch``, as the loop does them) after the first
    ``TRACE_STEPS``, and the seconds of the whole loop (compiling and first traces included)."""

    desc: str
    steps: int
    planned: int
    step_seconds: float
    seconds: float


@dataclass
class _Watch:
    limit: int | None
    records: list = field(default_factory=list)


_watches: list[_Watch] = []


@contextmanager
def watch_steps(limit: int | None = None):
    """Collect a ``StepRecord`` of every ``train_steps`` call inside the block (yields the list).
    With ``limit``, every loop stops after ``limit`` steps: a probe of the step time of a network
    built and fed exactly as its training builds and feeds it."""
    watch = _Watch(limit)
    _watches.append(watch)
    try:
        yield watch.records
    finally:
        _watches.remove(watch)


def median_step_seconds(times) -> float:
    """The median of a loop's step times after the first ``TRACE_STEPS`` (all of them when there
    are no others): the steady step time, without the graph's first traces."""
    times = list(times)
    steady = times[TRACE_STEPS:] or times
    return float(np.median(steady)) if steady else float("nan")


def train_steps(model: keras.Model, data, epochs: int, *, lr: float, loss, loss_weights=None, desc: str,
                progress: bool = True) -> float:
    """Compile ``model`` with Adam whose rate falls from ``lr`` to zero along a cosine over all
    steps, then train on every batch of ``data`` (``(x, y)`` or ``(x, y, sample_weight)``)
    ``epochs`` times, calling ``data.on_epoch_end()`` after each pass; returns the last batch's loss.
    Inside ``watch_steps`` the loop's timing is recorded (and cut short at its ``limit``)."""
    from tqdm import tqdm

    start = time.perf_counter()
    planned = epochs * len(data)
    limit = min((w.limit for w in _watches if w.limit), default=None)
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, planned))
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, loss_weights=loss_weights)
    last = float("nan")
    times: list[float] = []
    with tqdm(total=planned, desc=desc, disable=not progress, unit="step") as bar:
        for _ in range(epochs):
            for i in range(len(data)):
                if limit is not None and len(times) >= limit:
                    break
                interrupts.check()
                t = time.perf_counter()
                logs = model.train_on_batch(*data[i], return_dict=True)
                times.append(time.perf_counter() - t)
                last = float(logs["loss"])
                bar.update()
                bar.set_postfix(loss=f"{last:.4f}", refresh=False)
            else:
                data.on_epoch_end()
                continue
            break
    record = StepRecord(desc, len(times), planned, median_step_seconds(times), time.perf_counter() - start)
    for w in _watches:
        w.records.append(record)
    return last


def heatmap_loss(y_true, y_pred):
    """Spatial-softmax cross-entropy: per landmark, softmax of the logits over all pixels against
    the Gaussian target normalised to sum 1.

    Unlike per-pixel BCE, each landmark's map is one distribution over positions,
    so the few foreground pixels are not outweighed by the background.  Landmarks
    with an all-zero target (unknown) do not count; the loss is their mean.
    """
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _, h, w, k = y_pred.shape
    logits = ops.reshape(y_pred, (-1, h * w, k))
    target = ops.reshape(ops.cast(y_true, logits.dtype), (-1, h * w, k))
    total = ops.sum(target, axis=1)
    present = ops.cast(total > 0, logits.dtype)
    target = target / ops.expand_dims(ops.maximum(total, 1e-6), 1)
    ce = -ops.sum(target * ops.log_softmax(logits, axis=1), axis=1)
    return ops.sum(ce * present, axis=-1) / ops.maximum(ops.sum(present, axis=-1), 1.0)


def masked_bce(y_true, y_pred):
    """Mask BCE where ``y_true[..., 1]`` (has-a-mask flag) is 1; zero for samples without a mask."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    target, present = y_true[..., :1], y_true[..., 1:2]
    return ops.mean(_bce(target, y_pred) * present, axis=(1, 2, 3))


def _bce(target, p):
    """Element-wise binary cross-entropy of probabilities ``p`` (clipped away from 0 and 1)."""
    p = ops.clip(p, 1e-6, 1 - 1e-6)
    return -(target * ops.log(p) + (1 - target) * ops.log(1 - p))


def masked_column_bce(y_true, y_pred):
    """Per-column BCE with weights, laid out as ``masked_mse``'s ``y_true`` (the ``ordinal`` output's
    exceedance thresholds): the weighted sum over thresholds divided by the number of weighted ones."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    n = y_pred.shape[-1]
    target, weight = y_true[..., :n], y_true[..., n:]
    used = ops.sum(ops.cast(weight > 0, y_pred.dtype), axis=-1)
    return ops.sum(weight * _bce(target, y_pred), axis=-1) / ops.maximum(used, 1.0)


def masked_mse(y_true, y_pred):
    """Score MSE over the columns a patch carries: ``y_true`` = [targets | column weights], a
    weight of 0 where the column is not carried; the weighted sum of squares is divided by the
    number of carried columns (so a weight above 1 makes a column count more)."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    n = y_pred.shape[-1]
    target, weight = y_true[..., :n], y_true[..., n:]
    carried = ops.sum(ops.cast(weight > 0, y_pred.dtype), axis=-1)
    return ops.sum(weight * ops.square(y_pred - target), axis=-1) / ops.maximum(carried, 1.0)
