"""Image geometry of the method, numpy only (no Keras): what training and prediction share.

* The localizer's *canonical frame* (``canonical``): right-side images are mirrored to the left,
  the grey image is resized with its aspect kept and padded to ``size`` x ``size``, intensities are
  mapped so that the image's 2nd/98th percentiles become 0/1 (robust to the intensity
  normalisation the organisers applied to external data); ``Frame`` maps points both ways.
* The refiner's frame (``refine_frame``): the same mirroring and intensity range, resized so that
  one pixel is ``pitch`` × the stored long side, unpadded; crops are cut from it by ``cut_crops``
  (bilinear, optionally turned and scaled about their centres).
* Joint patches (``extract_patches``): a square around a landmark whose side scales with the image
  (reference: √(H·W)/4096 × 384 px, times ``patch_scale``; or a physical size, see ``patch_mm``),
  resized to ``patch`` pixels, mirrored and intensity-mapped like the canonical frame, cut with a
  ``CONTEXT`` margin so that training can shift them by random crops.
* Heatmap targets and peaks (``heatmaps``, ``spatial_softmax``, ``find_peaks``), the coordinate
  channels the networks see (``with_coords``), 180° turns and the random affine moves of the
  localizer's augmentation (``turn``, ``random_affine``, ``warp``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from challenge.catalogue import is_right

CONTEXT = 1.25      # a joint patch is cut this much wider than the network sees (room for random crops)


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


def _left_scaled(img: np.ndarray, limb: str, s: float) -> tuple[np.ndarray, Frame]:
    """A stored image mirrored to the left side, resized by ``s`` (anti-aliased) with intensities
    mapped so that its 2nd/98th percentiles become 0/1, and its ``Frame`` (no padding)."""
    h, w = img.shape
    mirrored = is_right(limb)
    if mirrored:
        img = img[:, ::-1]
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    small = resize(img, nw, nh)
    lo, hi = intensity_range(small)
    return (small - lo) / (hi - lo), Frame(w, h, max(nw, nh), nw / w, nh / h, 0, 0, mirrored)


def canonical(img: np.ndarray, limb: str, size: int) -> tuple[np.ndarray, Frame]:
    """The image in the localizer's canonical square frame (float32, ~[0, 1]) and the mapping back."""
    small, f = _left_scaled(img, limb, size / max(img.shape))
    nh, nw = small.shape
    out = np.zeros((size, size), np.float32)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = small
    return out, replace(f, size=size, ox=ox, oy=oy)


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


def map_width(prob: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(S, S, L) probability maps (each summing to 1) and their (L, 2) peaks (x, y) -> (L,) widths: the
    root-mean-square distance, in map pixels, of each map's probability from its peak.  A sharp map
    gives about its Gaussian's sd; a flat one, or one with a second peak at another joint, much more."""
    s = prob.shape[0]
    yy, xx = np.mgrid[0:s, 0:s]
    out = np.zeros(prob.shape[2])
    for k in range(prob.shape[2]):
        p = prob[:, :, k]
        d2 = (xx - points[k, 0]) ** 2 + (yy - points[k, 1]) ** 2
        out[k] = np.sqrt((p * d2).sum() / max(p.sum(), 1e-12))
    return out


def turn(points: np.ndarray, size: int) -> np.ndarray:
    """Canonical points after turning the square frame by 180°."""
    return (size - 1) - np.asarray(points, dtype=float)


def random_affine(rng: np.random.Generator, size: int, *, shift: float, scale: float,
                  degrees: float) -> np.ndarray:
    """A random 2 x 3 map of canonical points (x, y): rotation and scale about the centre, then a shift."""
    a = np.deg2rad(rng.uniform(-degrees, degrees))
    s = np.exp(rng.uniform(-np.log(scale), np.log(scale)))
    m = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.full(2, (size - 1) / 2)
    t = rng.uniform(-shift, shift, 2) * size
    return np.hstack([m, (c + t - m @ c)[:, None]])


def warp(img: np.ndarray, affine: np.ndarray, mode: str = "constant", window: tuple[int, int, int] | None = None
         ) -> np.ndarray:
    """The image moved by a 2 x 3 point map (bilinear; zero outside, or ``mode`` as scipy's), as
    ``affine`` moves its points.  ``window`` (x0, y0, size): only that square of the moved image,
    the same pixels as cropping the whole result, for the work of the square alone."""
    inv = np.linalg.inv(affine[:, :2])
    off = -inv @ affine[:, 2]
    # scipy works in (row, col): swap x and y in the inverse map
    matrix, offset, shape = inv[::-1, ::-1], off[::-1], None
    if window is not None:
        x0, y0, shape = window[0], window[1], (window[2], window[2])
        offset = offset + matrix @ np.array([y0, x0], float)
    return ndimage.affine_transform(img, matrix, offset=offset, output_shape=shape, order=1, mode=mode, cval=0.0)


def spatial_softmax(logits: np.ndarray) -> np.ndarray:
    """(..., S, S, L) logit maps -> per-channel probability maps summing to 1 over the pixels."""
    z = logits - logits.max(axis=(-3, -2), keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=(-3, -2), keepdims=True)


def patch_side(width: int, height: int, patch_scale: float) -> float:
    """Side of a joint patch in stored-image pixels."""
    return np.sqrt(width * height) / 4096 * 384 * patch_scale


def patch_mm(sides_mm) -> float | None:
    """The patch side in millimetres of a limb kind: the median over the training images whose
    pixel spacing is known of their ``patch_side`` × mm per pixel (None when none is known).

    A bundle records it; an image with a known pixel spacing is then cut with patches of this
    physical size (``extract_patches(side=patch_mm / mm_per_pixel)``), in training and at
    prediction, whatever its pixel count or field of view; other images keep ``patch_side``."""
    sides_mm = [s for s in sides_mm if s]
    return float(np.median(sides_mm)) if sides_mm else None


def extract_patches(img: np.ndarray, limb: str, points: np.ndarray, *, patch: int, patch_scale: float,
                    mask: np.ndarray | None = None, context: float = CONTEXT, side: float | None = None):
    """Patches (L, C, C) with C = round(patch × context) around stored-image points (L, 2).

    ``side``: a patch's side in stored pixels when it is known otherwise (from the pixel
    spacing, see ``patch_mm``); by default ``patch_side`` of the image's size.

    The patches are what cropping the image resized to the patch pitch would give,
    but only the windows around the points are resized (a 1,500-px radiograph is
    not resized whole for 21 small patches).  Right-side images are mirrored;
    intensities are mapped by the image's 2nd/98th percentiles (of a subsampled
    copy); outside the image is 0; a NaN point gives a blank patch.  With a mask
    (same shape as the image) also returns the mask patches (L, C, C), else None.
    """
    h, w = img.shape
    c = int(round(patch * context))
    f = patch / (side or patch_side(w, h, patch_scale))
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    fx, fy = nw / w, nh / h
    step = max(1, int(np.sqrt(h * w / 250_000)))
    lo, hi = intensity_range(img[::step, ::step])
    pts = np.asarray(points, dtype=float).copy()
    mirrored = is_right(limb)
    if mirrored:
        img = img[:, ::-1]
        mask = mask[:, ::-1] if mask is not None else None
        pts[:, 0] = w - 1 - pts[:, 0]
    out = np.zeros((len(pts), c, c), np.float32)
    out_mask = np.zeros((len(pts), c, c), np.float32) if mask is not None else None
    for k, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        cx, cy = int(round((x + 0.5) * fx - 0.5)), int(round((y + 0.5) * fy - 0.5))
        x0, y0 = cx - c // 2, cy - c // 2
        sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(nw, x0 + c), min(nh, y0 + c)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        box = (sx0 / fx, sy0 / fy, sx1 / fx, sy1 / fy)        # the window in stored pixels
        out[k, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = (_window(img, box, sx1 - sx0, sy1 - sy0) - lo) / (hi - lo)
        if out_mask is not None:
            out_mask[k, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = _window(mask, box, sx1 - sx0, sy1 - sy0)
    return out, out_mask


def _window(img: np.ndarray, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    """The stored-image window ``box`` (x0, y0, x1, y1 in pixel edges) resized to width × height
    (anti-aliased bilinear, as ``resize`` does for a whole image)."""
    h, w = img.shape
    bx0, by0 = max(0, int(np.floor(box[0])) - 2), max(0, int(np.floor(box[1])) - 2)
    bx1, by1 = min(w, int(np.ceil(box[2])) + 2), min(h, int(np.ceil(box[3])) + 2)
    piece = Image.fromarray(np.ascontiguousarray(img[by0:by1, bx0:bx1], dtype=np.float32), mode="F")
    return np.asarray(piece.resize((width, height), Image.BILINEAR,
                                   box=(box[0] - bx0, box[1] - by0, box[2] - bx0, box[3] - by0)), dtype=np.float32)


def center(patches: np.ndarray, patch: int) -> np.ndarray:
    """The central ``patch`` x ``patch`` crop of context patches."""
    o = (patches.shape[1] - patch) // 2
    return patches[:, o:o + patch, o:o + patch]


def refine_frame(img: np.ndarray, limb: str, pitch: float) -> tuple[np.ndarray, Frame]:
    """A stored (H, W) image mirrored to the left side, resized to one pixel per ``pitch`` × long side,
    intensities mapped so that its 2nd/98th percentiles are 0/1 (float32), and its ``Frame``: the
    refiner's frame."""
    if not 0 < pitch < 0.5:
        raise ValueError(f"refiner pitch {pitch} is outside (0, 0.5)")
    small, f = _left_scaled(img, limb, 1.0 / (pitch * max(img.shape)))
    return small.astype(np.float32), f


def crop_grid(side: int) -> np.ndarray:
    """(side, side, 2) offsets (x, y) of a crop's pixels from its centre."""
    g = np.arange(side, dtype=np.float64) - (side - 1) / 2
    gx, gy = np.meshgrid(g, g)
    return np.stack([gx, gy], axis=-1)


def cut_crops(images: np.ndarray, which: np.ndarray, centres: np.ndarray, side: int,
              affines: np.ndarray | None = None) -> np.ndarray:
    """(N, side, side) float32 crops: crop i samples ``images[which[i]]`` (bilinear, 0 outside) at
    ``centres[i] + affines[i] @ offset`` for each pixel's offset (x, y) from the crop's centre
    (``crop_grid``); no affine = the identity.  A crop whose centre is not finite is all 0.

    The only function that cuts crops, for the training contexts, the training crops and prediction.
    """
    images = np.asarray(images, dtype=np.float32)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    n = len(centres)
    ok = np.isfinite(centres).all(axis=1)
    centres = np.where(ok[:, None], centres, 0.0)
    grid = crop_grid(side)
    if affines is None:
        pos = centres[:, None, None, :] + grid[None]
    else:
        pos = centres[:, None, None, :] + np.einsum("nij,hwj->nhwi", np.asarray(affines, np.float64), grid)
    if len(images) == 1:    # one image (prediction, contexts): plain 2-D sampling, the same values
        coords = np.stack([pos[..., 1], pos[..., 0]])
        out = ndimage.map_coordinates(images[0], coords, order=1, mode="constant", cval=0.0, prefilter=False)
    else:
        index = np.broadcast_to(np.asarray(which, dtype=np.float64)[:, None, None], (n, side, side))
        coords = np.stack([index, pos[..., 1], pos[..., 0]])
        out = ndimage.map_coordinates(images, coords, order=1, mode="constant", cval=0.0, prefilter=False)
    out[~ok] = 0.0
    return out.astype(np.float32)
