"""Reading radiographs: one place for every format quirk real data has.

``read_grey`` returns the image as stored (no rotation is undone here; the
localiser handles 180-degree turns) as a 2-D float32 array in [0, 1].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UsageError

#: refuse images with more pixels than this (a decompression-bomb guard); the largest real RA2 images have ~11 Mpx
MAX_PIXELS = 60_000_000


class ImageReadError(UsageError):
    """An image that cannot be used (missing, empty, truncated, not an image, too large)."""


def read_grey(path: str | Path) -> np.ndarray:
    """A radiograph as a 2-D float32 array in [0, 1] (EXIF orientation applied)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageReadError(f"{path}: {im.width}x{im.height} pixels is above the limit of {MAX_PIXELS}")
            im = ImageOps.exif_transpose(im)
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32)
                top = 65535.0 if arr.max() > 255 else 255.0
                return np.clip(arr / top, 0, 1)
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            if im.mode == "RGB":
                im = im.convert("L")
            return np.asarray(im, dtype=np.float32) / 255.0
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: no such file") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: not an image file") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from exc
