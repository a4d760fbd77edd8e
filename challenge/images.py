"""Reading radiographs: one place for every format quirk real data has.

``read_grey`` returns the image as stored, with its EXIF orientation applied (no
180-degree turn is undone here: the localiser handles images stored upside down), as
a 2-D float32 array in [0, 1].  It reads 1-, 8- and 16-bit grey, RGB(A), CMYK and
palette images in any format Pillow knows (the challenge uses JPEG; PNG is common
for exports).  Anything it cannot use raises ``ImageReadError`` naming the file and
what is wrong: a missing or empty file, a folder, a text file with an image name, a
truncated or corrupt image, an image too small to be a radiograph, or one above the
pixel limit (a decompression-bomb guard).

``percentile_rescale`` is what the organisers did to the external cohort (each
image's 2nd/98th percentiles mapped to 0.05/0.9, clipped to [0, 1]);
``normalise_intensity`` applies that same map to every input, which makes it a fixed
point: an image already rescaled that way normalises to itself, and any affine change
of intensity (exposure, window, bit depth) normalises away.
"""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UsageError

log = logging.getLogger(__name__)

#: refuse images with more pixels than this (a decompression-bomb guard); the largest real RA2 images have ~11 Mpx
MAX_PIXELS = 60_000_000
#: refuse images narrower or lower than this: nothing this small can show a joint
MIN_SIDE = 16
#: the organisers' external-cohort re-scaling: these percentiles of each image ...
PERCENTILES = (2.0, 98.0)
#: ... are mapped to these intensities, then the image is clipped to [0, 1]
TARGETS = (0.05, 0.9)

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(UsageError):
    """An image that cannot be used (missing, empty, truncated, not an image, too small or too large)."""


def _align_pil_limit() -> None:
    """Make Pillow's own bomb limit ours, so images opened elsewhere in the project obey it too
    (Pillow warns above its limit and refuses above twice that)."""
    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _describe_non_image(path: Path) -> str:
    """Why Pillow did not recognise a file, from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(32)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"not an image file (unknown format; it starts with bytes {head[:8].hex(' ')})"
    if all(c.isprintable() or c.isspace() for c in text):
        first = text.strip().splitlines()[0][:24] if text.strip() else ""
        return f"not an image file (it holds text: {first!r}...)"
    return f"not an image file (unknown format; it starts with bytes {head[:8].hex(' ')})"


def _to_array(im: Image.Image) -> np.ndarray:
    """A decoded Pillow image as float32 grey in [0, 1]."""
    if im.mode in _SIXTEEN_BIT:
        return np.asarray(im, dtype=np.float32) / 65535.0
    if im.mode == "I":            # 32-bit integer: Pillow's mode for some 16-bit files
        arr = np.asarray(im, dtype=np.float32)
        top = 255.0 if arr.max() <= 255 else 65535.0 if arr.max() <= 65535 else float(arr.max())
        return np.clip(arr / top, 0, 1)
    if im.mode == "F":            # floating point (e.g. TIFF): [0, 1] kept, anything else min-max scaled
        arr = np.asarray(im, dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            raise ValueError("it holds non-finite pixel values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0 and hi <= 1:
            return arr.copy()
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if im.mode not in ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr"):
        im = im.convert("RGB")    # LAB, HSV and other exotic modes
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def _apply_exif_orientation(im: Image.Image, path: Path) -> Image.Image:
    """The image turned as its EXIF orientation says; a broken EXIF block is ignored (logged)."""
    try:
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, ZeroDivisionError) as exc:
        log.warning("%s: unreadable EXIF orientation ignored (%s)", path, exc)
        return im


def _too_large(path: Path, pixels: str) -> str:
    return (f"{path}: {pixels} pixels is above the limit of {MAX_PIXELS} (a guard against decompression bombs; "
            "raise challenge.images.MAX_PIXELS if the image is genuine)")


def read_grey(path: str | Path) -> np.ndarray:
    """A radiograph as a 2-D float32 array in [0, 1] (EXIF orientation applied)."""
    path = Path(path)
    _align_pil_limit()
    try:
        if path.is_dir():
            raise ImageReadError(f"{path}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(_too_large(path, f"{width}x{height} = {width * height}"))
            if min(width, height) < MIN_SIDE:
                raise ImageReadError(f"{path}: {width}x{height} pixels is too small for a radiograph "
                                     f"(at least {MIN_SIDE} pixels a side)")
            im.load()
            arr = _to_array(_apply_exif_orientation(im, path))
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise ImageReadError(f"{path}: permission denied") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: {_describe_non_image(path)}") from exc
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise ImageReadError(_too_large(path, found.group(1) if found else "its header claims more")) from exc
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        what = "truncated file" if "truncated" in str(exc) or isinstance(exc, EOFError) else "corrupt image"
        raise ImageReadError(f"{path}: cannot decode the image, {what} ({exc})") from exc
    return np.ascontiguousarray(arr, dtype=np.float32)


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) of an image as ``read_grey`` returns it (EXIF turns applied), read from the
    header only; None for a file Pillow cannot open."""
    _align_pil_limit()
    try:
        with Image.open(path) as im:
            width, height = im.size
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):   # EXIF orientations that swap the axes
                width, height = height, width
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return int(width), int(height)


# ------------------------------------------------------------------ intensity
def percentile_rescale(img: np.ndarray, lo: float = PERCENTILES[0], hi: float = PERCENTILES[1],
                       to: tuple[float, float] = TARGETS) -> np.ndarray:
    """The image's ``lo``/``hi`` percentiles mapped linearly to ``to``, clipped to [0, 1]
    (float32).  With the defaults this is the organisers' external-cohort re-scaling.

    A flat image (the two percentiles equal) becomes ``to[0]`` everywhere.
    """
    arr = np.asarray(img, dtype=np.float32)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError("percentile_rescale needs a non-empty image of finite values")
    p_lo, p_hi = np.percentile(arr, [lo, hi])
    if p_hi - p_lo <= 1e-12:
        return np.full(arr.shape, to[0], dtype=np.float32)
    scale = (to[1] - to[0]) / (p_hi - p_lo)
    return np.clip((arr - p_lo) * scale + to[0], 0.0, 1.0).astype(np.float32)


def normalise_intensity(img: np.ndarray) -> np.ndarray:
    """The method's intensity normalisation: the organisers' own percentile map, applied to every
    image.  Images the organisers re-scaled come out unchanged (up to 8-bit rounding), and images
    that differ from each other by an affine intensity change come out the same."""
    return percentile_rescale(img, *PERCENTILES, to=TARGETS)


def rescale_folder(src: str | Path, dst: str | Path, *, quality: int = 95) -> list[Path]:
    """A copy of a challenge folder with every readable image percentile-re-scaled as the organisers
    did for the external cohort, saved as 8-bit grey in the format its name says; CSV files are copied and
    unreadable images skipped (logged).  Returns the images written."""
    from .dataset import scan_folder

    folder = scan_folder(src)
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for csv_file in Path(src).glob("*.csv"):
        shutil.copy2(csv_file, dst / csv_file.name)
    written = []
    for patient in folder.patients:
        for path in folder.images[patient].values():
            try:
                img = percentile_rescale(read_grey(path))
            except ImageReadError as exc:
                log.warning("not re-scaled: %s", exc)
                continue
            out = dst / path.name
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(out, quality=quality)
            written.append(out)
    return written
