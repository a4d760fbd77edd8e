"""Overlay pictures: each image with its predicted landmarks, joint-space mask outlines and scores.

Meant for a person to check the result at a glance: a dot and name per
landmark, the outline of the predicted joint space (mask > 0.5) mapped back
from its patch, and the landmark's predicted scores beside it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from challenge.catalogue import is_right, kind_of


def _patch_grid(x: float, y: float, side: float, n: int, mirrored: bool):
    """Stored-image coordinates (X, Y) of an n x n patch's pixels around (x, y)."""
    step = side / n
    u = (np.arange(n) - (n - 1) / 2) * step
    xs = x - u if mirrored else x + u
    return np.meshgrid(xs, y + u)


def draw_overlay(img: np.ndarray, result, method, out_path: str | Path) -> Path:
    """Write one PNG of ``img`` (stored orientation) with the ``ImageResult`` drawn on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    h, w = img.shape
    fig = Figure(figsize=(6, 6 * h / w), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    kind = kind_of(result.limb)
    side = result.patch_side
    for li, (name, (x, y)) in enumerate(result.landmarks.items()):
        if result.masks is not None:
            gx, gy = _patch_grid(x, y, side, result.masks.shape[1], is_right(result.limb))
            if result.masks[li].max() > 0.5:
                ax.contour(gx, gy, result.masks[li], levels=[0.5], colors="lime", linewidths=0.6)
        cols = method.scheme.columns_of(kind, name)
        text = " ".join(f"{c.split('__')[0][-1]}{2 ** result.scores[f'{result.limb}_{c}'] - 1:.1f}" for c in cols)
        ax.plot([x], [y], "o", ms=3, color="red")
        ax.text(x + 0.01 * w, y, f"{name} {text}", color="yellow", fontsize=5)
    total = sum(2 ** v - 1 for v in result.scores.values())
    ax.text(0.01 * w, 0.03 * h, f"{result.stem}  sum of joint scores {total:.1f}", color="white", fontsize=7)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    fig.savefig(out_path)
    return out_path


def joint_space_mask(result, method) -> np.ndarray:
    """The predicted joint spaces of one image as a stored-image mask (uint8, 255 = joint space):
    each landmark's mask patch (probability > 0.5) mapped back to where its patch was cut."""
    from PIL import Image

    out = np.zeros((result.height, result.width), np.uint8)
    if result.masks is None:
        return out
    n = max(1, int(round(result.patch_side)))
    for li, (x, y) in enumerate(result.landmarks.values()):
        patch = (result.masks[li] > 0.5).astype(np.uint8) * 255
        if not patch.any():
            continue
        if is_right(result.limb):                     # mask patches are cut from the mirrored image
            patch = patch[:, ::-1]
        big = np.asarray(Image.fromarray(patch).resize((n, n), Image.NEAREST))
        x0, y0 = int(round(x - n / 2)), int(round(y - n / 2))
        sx0, sy0 = max(0, x0), max(0, y0)
        sx1, sy1 = min(result.width, x0 + n), min(result.height, y0 + n)
        if sx1 > sx0 and sy1 > sy0:
            region = out[sy0:sy1, sx0:sx1]
            np.maximum(region, big[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0], out=region)
    return out
