"""Reading radiographs: one place for every format quirk real data has.

``read_grey`` returns the image as stored, with its EXIF orientation applied (no
180-degree turn is undone here: the localiser handles images stored upside down), as
a 2-D float32 array in [0, 1].  It reads 1-, 8- and 16-bit grey, RGB(A), CMYK and
palette images in any format Pillow knows (the challenge uses JPEG; PNG is common
for exports), and DICOM files (``.dcm``, ``.dicom`` or any file with the DICOM
magic, whatever its name) through pydicom: the modality LUT (rescale slope and
intercept) and the VOI LUT or window are applied at full depth, MONOCHROME1 is
inverted so that bone is bright, compressed transfer syntaxes go through pydicom's
decoders (RLE natively, JPEG, JPEG-LS and JPEG 2000 through pylibjpeg), and
multi-frame files are refused.  ``read_image`` returns the same array and an
``ImageInfo`` with the format, bit depth and, for DICOM, the pixel spacing in mm.
Anything it cannot use raises ``ImageReadError`` naming the file and
what is wrong: a missing or empty file, a folder, a text file with an image name, a
truncated or corrupt image, an image too small to be a radiograph, one above the
pixel limit (a decompression-bomb guard), or a DICOM file without (decodable)
pixel data.

``percentile_rescale`` is what the organisers did to the external cohort (each
image's 2nd/98th percentiles mapped to 0.05/0.9, clipped to [0, 1]);
``normalise_intensity`` applies that same map to every input, which makes it a fixed
point: an image already rescaled that way normalises to itself, and any affine change
of intensity (exposure, window, bit depth) normalises away.
"""
from __future__ import annotations

import logging
import os
import re
import struct
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import UsageError

log = logging.getLogger(__name__)

#: refuse images with more pixels than this (a decompression-bomb guard); the largest real RA2 images have ~11 Mpx.
#: Users raise it with the environment variable ``RA2_MAX_PIXELS`` (every command that reads images obeys it)
MAX_PIXELS = 60_000_000
MAX_PIXELS_ENV = "RA2_MAX_PIXELS"
#: refuse images narrower or lower than this: nothing this small can show a joint
MIN_SIDE = 16
#: the organisers' external-cohort re-scaling: these percentiles of each image ...
PERCENTILES = (2.0, 98.0)
#: ... are mapped to these intensities, then the image is clipped to [0, 1]
TARGETS = (0.05, 0.9)

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


#: names that mark a DICOM file (any other name is DICOM too when the file has the magic)
DICOM_SUFFIXES = (".dcm", ".dicom")
_DICOM_MAGIC_OFFSET, _DICOM_MAGIC = 128, b"DICM"


class ImageReadError(UsageError):
    """An image that cannot be used (missing, empty, truncated, not an image, too small or too large)."""


@dataclass(frozen=True)
class ImageInfo:
    """What ``read_image`` learnt about an image besides its pixels.

    ``pixel_spacing`` is (row spacing, column spacing) in mm per pixel, from DICOM's Pixel Spacing
    or, where that is absent, Imager Pixel Spacing (at the detector, so not corrected for the
    geometric magnification; ``spacing_source`` says which); None for JPEG/PNG and DICOM without either.
    """

    path: str
    format: str                    # Pillow's format name ("JPEG", "PNG", ...) or "DICOM"
    width: int                     # of the returned array (after EXIF orientation)
    height: int
    bits: int                      # bits per sample as stored (8, 12, 16 ...)
    pixel_spacing: tuple[float, float] | None = None
    spacing_source: str | None = None
    photometric: str | None = None  # DICOM Photometric Interpretation (MONOCHROME1 is returned inverted)
    transfer_syntax: str | None = None

    @property
    def mm_per_pixel(self) -> float | None:
        """The mean of the two spacings (radiographs have square pixels), or None when unknown."""
        return None if self.pixel_spacing is None else float(sum(self.pixel_spacing) / 2)


def is_dicom(path: str | Path) -> bool:
    """True for a file with the DICOM magic (b"DICM" after the 128-byte preamble); reads 132 bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DICOM_MAGIC_OFFSET + 4)
    except OSError:
        return False
    return head[_DICOM_MAGIC_OFFSET:] == _DICOM_MAGIC


def max_pixels() -> int:
    """The pixel limit: ``RA2_MAX_PIXELS`` from the environment if set, else ``MAX_PIXELS``."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(float(text.replace("_", "")))
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{MAX_PIXELS_ENV}={text!r}: must be a whole number of pixels, at least 1 "
                         f"(the default is {MAX_PIXELS}); unset it for the default")
    return value


@contextmanager
def _quiet_bomb_warning():
    """Pillow's own warning between its limit and twice that: our check refuses those images in one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


_PYDICOM_LOCK = threading.Lock()
_pydicom_quiet = {"depth": 0, "propagate": True}


@contextmanager
def _quiet_pydicom():
    """pydicom logs a decoder's failure with its traceback, and a truncated file as a warning, before it
    raises (or warns) what our ``ImageReadError`` then says in one line: while we read, its records stop
    at the ``pydicom`` logger (whose own handler is a NullHandler), so each bad file is one line.  With
    debug logging (``ra2 -v``) they are kept, tracebacks and all."""
    logger = logging.getLogger("pydicom")
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    with _PYDICOM_LOCK:                     # nested and concurrent reads: the first in saves, the last out restores
        if _pydicom_quiet["depth"] == 0:
            _pydicom_quiet["propagate"] = logger.propagate
            logger.propagate = False
        _pydicom_quiet["depth"] += 1
    try:
        yield
    finally:
        with _PYDICOM_LOCK:
            _pydicom_quiet["depth"] -= 1
            if _pydicom_quiet["depth"] == 0:
                logger.propagate = _pydicom_quiet["propagate"]


def _align_pil_limit() -> int:
    """Make Pillow's own bomb limit ours, so images opened elsewhere in the project obey it too
    (Pillow warns above its limit and refuses above twice that); returns the limit."""
    limit = max_pixels()
    if Image.MAX_IMAGE_PIXELS != limit:
        Image.MAX_IMAGE_PIXELS = limit
    return limit


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
    return (f"{path}: {pixels} pixels is above the limit of {max_pixels()} (a guard against decompression bombs; "
            f"if the image is genuine, raise the limit with the environment variable {MAX_PIXELS_ENV}, "
            f"for example {MAX_PIXELS_ENV}=200000000)")


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > max_pixels():
        raise ImageReadError(_too_large(path, f"{width}x{height} = {width * height}"))
    if min(width, height) < MIN_SIDE:
        raise ImageReadError(f"{path}: {width}x{height} pixels is too small for a radiograph "
                             f"(at least {MIN_SIDE} pixels a side)")


def _bits_of(im: Image.Image) -> int:
    return 16 if im.mode in _SIXTEEN_BIT else 32 if im.mode in ("I", "F") else 1 if im.mode == "1" else 8


def read_grey(path: str | Path) -> np.ndarray:
    """A radiograph as a 2-D float32 array in [0, 1] (EXIF orientation applied; DICOM as displayed)."""
    return read_image(path)[0]


def read_image(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    """``read_grey``'s array and an ``ImageInfo`` (format, bit depth, DICOM pixel spacing)."""
    path = Path(path)
    _align_pil_limit()
    try:
        if path.is_dir():
            raise ImageReadError(f"{path}: is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageReadError(f"{path}: empty file (0 bytes)")
        if path.suffix.lower() in DICOM_SUFFIXES or is_dicom(path):
            with _quiet_pydicom():
                arr, info = _read_dicom(path)
            return np.ascontiguousarray(arr, dtype=np.float32), info
        with _quiet_bomb_warning(), Image.open(path) as im:
            width, height = im.size
            _check_size(path, width, height)
            im.load()
            fmt, bits = im.format or path.suffix.lstrip(".").upper(), _bits_of(im)
            arr = _to_array(_apply_exif_orientation(im, path))
        info = ImageInfo(str(path), fmt, int(arr.shape[1]), int(arr.shape[0]), bits)
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
    return np.ascontiguousarray(arr, dtype=np.float32), info


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image as ``read_grey`` returns it, from the header only (EXIF turns that
    swap the axes applied; DICOM Columns and Rows).  Raises ``ImageReadError`` for an unusable file."""
    path = Path(path)
    _align_pil_limit()
    try:
        if path.suffix.lower() in DICOM_SUFFIXES or is_dicom(path):
            ds = _dicom_header(path)
            return int(ds.Columns), int(ds.Rows)
        with _quiet_bomb_warning(), Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels():
                raise ImageReadError(_too_large(path, f"{w}x{h} = {w * h}"))
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):   # EXIF orientations that swap the axes
                w, h = h, w
            return w, h
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise ImageReadError(_too_large(path, found.group(1) if found else "its header claims more")) from exc
    except (OSError, SyntaxError, ValueError, AttributeError, UnidentifiedImageError) as exc:
        raise ImageReadError(f"{path}: cannot read the image header ({exc})") from exc


def mm_per_pixel(path: str | Path) -> float | None:
    """Millimetres per pixel from a DICOM file's header (Pixel Spacing, else Imager Pixel Spacing;
    the mean of rows and columns), or None: JPEG/PNG, no spacing, or an unreadable file."""
    path = Path(path)
    if not (path.suffix.lower() in DICOM_SUFFIXES or is_dicom(path)):
        return None
    try:
        spacing, _ = _pixel_spacing(_dicom_header(path))
    except ImageReadError:
        return None
    return None if spacing is None else float(sum(spacing) / 2)


# ------------------------------------------------------------------ DICOM
def _dicom_header(path: Path, *, pixels: bool = False):
    """The pydicom dataset of a DICOM file (without its pixel data unless ``pixels``)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings(record=True) as caught, _quiet_pydicom():
            warnings.simplefilter("always")
            # force: a .dcm file without the 128-byte preamble (older writers) is still read
            ds = pydicom.dcmread(path, stop_before_pixels=not pixels, force=True)
    except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise ImageReadError(f"{path}: not a readable DICOM file ({exc})") from exc
    ended = [w for w in caught if "end of file" in str(w.message).lower()]
    if ended:
        raise ImageReadError(f"{path}: cannot decode the DICOM file, truncated file ({ended[0].message})")
    if len(ds) == 0:
        raise ImageReadError(f"{path}: not a readable DICOM file (no data elements)")
    for tag in ("Rows", "Columns"):
        if tag not in ds:
            raise ImageReadError(f"{path}: not a DICOM image (no {tag} element: a structured report, "
                                 "presentation state or other non-image object?)")
    return ds


def _pixel_spacing(ds) -> tuple[tuple[float, float] | None, str | None]:
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(tag)
        try:
            pair = tuple(float(v) for v in value) if value is not None else ()
        except (TypeError, ValueError):
            continue
        if len(pair) == 2 and all(np.isfinite(pair)) and min(pair) > 0:
            return (pair[0], pair[1]), tag
    return None, None


def _stored_range(ds) -> tuple[float, float]:
    """The range of stored pixel values Bits Stored and Pixel Representation allow."""
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16)
    if int(ds.get("PixelRepresentation") or 0) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0 ** bits - 1


def _first(value) -> float:
    """The first of a possibly multi-valued DICOM number."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 windowing, output in [0, 1]."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    if function == "LINEAR_EXACT":
        return np.clip((x - center) / width + 0.5, 0.0, 1.0)
    if width < 1:
        raise ValueError(f"Window Width {width:g} is below 1")
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _read_dicom(path: Path) -> tuple[np.ndarray, ImageInfo]:
    """A DICOM radiograph as displayed: modality LUT, VOI LUT or window, MONOCHROME1 inverted; [0, 1]."""
    from pydicom.pixels import apply_modality_lut, apply_voi

    ds = _dicom_header(path, pixels=True)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageReadError(f"{path}: DICOM file without pixel data")
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        raise ImageReadError(f"{path}: multi-frame DICOM ({frames} frames) is not supported: "
                             "export each radiograph as a single-frame file")
    width, height = int(ds.Columns), int(ds.Rows)
    _check_size(path, width, height)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    syntax_name = getattr(syntax, "name", None) or (str(syntax) if syntax else None)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric == "PALETTE COLOR":
        raise ImageReadError(f"{path}: a PALETTE COLOR DICOM image is not a radiograph (export it as MONOCHROME2)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")        # pydicom's notes on odd but readable headers
            raw = ds.pixel_array
    except Exception as exc:  # noqa: BLE001 -- pydicom and its plug-ins raise many kinds; all mean "cannot decode"
        # pydicom's "Unable to decode ... by all available plugins:" is followed by each plugin's reason
        why = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())[:300] or type(exc).__name__
        raise ImageReadError(f"{path}: cannot decode the DICOM pixel data"
                             f"{f' ({syntax_name})' if syntax_name else ''}: {why}") from exc
    if raw.ndim == 3 and raw.shape[-1] in (3, 4):  # colour (pydicom gives RGB): luminance, as Pillow's grey
        rgb = raw[..., :3].astype(np.float64)
        top = 2.0 ** int(ds.get("BitsStored") or 8) - 1
        arr = (rgb @ np.array([0.299, 0.587, 0.114])) / top
        info = ImageInfo(str(path), "DICOM", width, height, int(ds.get("BitsStored") or 8),
                         *_pixel_spacing(ds), photometric, syntax_name)
        return np.clip(arr, 0, 1), info
    if raw.ndim != 2:
        raise ImageReadError(f"{path}: DICOM pixel data of shape {raw.shape} is not one grey image")
    if not np.issubdtype(raw.dtype, np.integer):   # float pixel data: no LUTs apply, min-max scaled
        arr = raw.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ImageReadError(f"{path}: DICOM float pixel data holds non-finite values")
        lo, hi = float(arr.min()), float(arr.max())
        out = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    else:
        try:
            values = apply_modality_lut(raw, ds)           # rescale slope/intercept or the Modality LUT
            lo, hi = sorted(float(v) for v in apply_modality_lut(np.array(_stored_range(ds), dtype=np.int64), ds))
            if ds.get("VOILUTSequence"):
                lut_in = np.rint(values).astype(np.int64) if values.dtype.kind == "f" else values
                item = ds.VOILUTSequence[0]
                depth = int(item.LUTDescriptor[2])
                out = apply_voi(lut_in, ds).astype(np.float64) / (2.0 ** depth - 1)
            elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
                function = str(ds.get("VOILUTFunction") or "LINEAR").strip().upper()
                out = _window(values.astype(np.float64), _first(ds.WindowCenter), _first(ds.WindowWidth), function)
            else:                                          # no VOI: the modality range, full depth, as it is
                data_lo, data_hi = float(values.min()), float(values.max())
                lo, hi = min(lo, data_lo), max(hi, data_hi)
                out = (values.astype(np.float64) - lo) / (hi - lo) if hi > lo else np.zeros(values.shape)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError, NotImplementedError) as exc:
            raise ImageReadError(f"{path}: unusable DICOM LUT or window ({exc})") from exc
    out = np.clip(out, 0.0, 1.0)
    shape = str(ds.get("PresentationLUTShape", "")).strip().upper()
    if photometric == "MONOCHROME1" or (photometric == "MONOCHROME2" and shape == "INVERSE"):
        out = 1.0 - out                                     # MONOCHROME1: low values are white
    info = ImageInfo(str(path), "DICOM", width, height, int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16),
                     *_pixel_spacing(ds), photometric, syntax_name)
    return out, info


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
