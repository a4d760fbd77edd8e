"""``build_site``: a challenge image folder and a predictions CSV in, a static review site out.

The site opens from disk (``file://``) in any browser, with no server and no network:
its data are JavaScript files that assign globals (a page opened from disk may not
``fetch``), loaded with plain ``<script>`` tags, and each patient's data are loaded only
when that patient is shown, so 300 patients cost one small index and one page at a time::

    SITE/index.html                 the page (patient list and patient view, hash-routed)
    SITE/assets/review.js, .css     the page's code (vanilla JS, no build step, no CDN)
    SITE/data/index.js              patients, predicted scores (as read), the form's layout and ranges,
                                    the build's site_id and the predictions file's SHA-256 (drafts' key)
    SITE/data/patients/NNNNN.js     one patient: image files, sizes, landmarks, failed images, the strip's crops
    SITE/data/landmarks.js          every landmark (loaded only to download the landmarks CSV)
    SITE/data/source/               the predictions, landmarks and uncertainty CSV files the site was built from
    SITE/images/NNNNN-LIMB.jpg      the radiographs as read_grey sees them, at most MAX_SIDE px
    SITE/data/deep/NNNNN-LIMB.js    sources deeper than 8 bits: the same picture at 16 bits (zlib, base64),
                                    which the page windows itself (window/level on the source's depth)
    SITE/images/crops/NNNNN-LIMB-NN.jpg   the joint strip's crops, cut from the SOURCE at its own resolution
    SITE/data/crops/NNNNN-LIMB-NN.js      (``joint_crops``): one per image and joint-carrying landmark, a square
                                    of ``STRIP_SHARE`` (0.12) of the source's long side (a fixed share, not
                                    the landmark spacing) around it; JPEG for an 8-bit source, its 16-bit
                                    values (as data/deep) for a deeper one; each loaded only when the strip
                                    shows its joint.  Written only where the site's copy is smaller than the
                                    source (elsewhere the copy holds the source's pixels and the strip cuts
                                    from it): a 12-patient phantom site with a third of its images over
                                    1,600 px grows from about 7.5 to 11.5 MB.
    SITE/masks/NNNNN-LIMB.png       joint-space masks as transparent colour overlays (with --masks)
    SITE/corrections/               what ``ra2 review --serve`` saved (kept when the site is rebuilt)

Files are named by the patient's row number, not its ID, so no ID needs escaping in a URL.
The site is built in a temporary sibling folder and renamed into place.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from challenge.catalogue import BY_COLUMN, ID, JOINT_COLUMNS, LIMBS, OVERALL, SCORE_COLUMNS
from challenge.catalogue import kind_of as cat_kind
from challenge.dataset import scan_folder
from challenge.errors import ParameterError, UsageError, problem_lines
from challenge.outputs import check_replaceable, file_sha256, staged_folder
from challenge.images import ImageReadError, read_image
from challenge.schemes import Scheme, load_scheme
from challenge.tables import TableError, as_scores, check_scores, errors, read_table, read_template

from .corrections import CORRECTIONS
from .layout import check_layout, form_layout

log = logging.getLogger(__name__)

#: the longest side of the images copied into the site (real radiographs are ~1,500 px)
MAX_SIDE = 1600
STATIC = Path(__file__).with_name("static")
#: colour of the joint-space mask overlay (RGBA)
MASK_RGBA = (60, 255, 120, 150)
FORMAT_VERSION = 1
#: a joint strip crop's side: this share of the source's long side (at least STRIP_MIN source pixels)
STRIP_SHARE, STRIP_MIN = 0.12, 40
#: JPEG quality of the copies and of the 8-bit crops
JPEG_QUALITY = 88


def _js(name: str, obj) -> str:
    """A JavaScript file that assigns ``obj`` (as JSON) to a global."""
    return f"window.{name} = " + json.dumps(obj, separators=(",", ":"), allow_nan=False) + ";\n"


def _loader_js(obj) -> str:
    """A per-patient data file: hands its data to the page that loaded it."""
    return "RA2_LOADED(" + json.dumps(obj, separators=(",", ":"), allow_nan=False) + ");\n"


def read_predictions(path, template=None):
    """(scores indexed by Patient_ID, the CSV column order, patient order) of a valid predictions file."""
    frame = read_table(path)
    tmpl = read_template(template) if template is not None else None
    bad = errors(check_scores(frame, tmpl))
    if bad:
        raise TableError(f"{path} is not a valid predictions file ({len(bad)} error(s); ra2 validate lists them):\n"
                         f"{problem_lines(bad, 5)}")
    scores = as_scores(frame)
    order = list(tmpl.columns) if tmpl is not None else list(frame.columns)
    patients = list(tmpl[ID]) if tmpl is not None else list(frame[ID])
    return scores, order, patients


def _scheme(bundle=None, scheme=None) -> Scheme:
    if bundle is not None:
        from submission.bundle import Bundle    # no Keras: the manifest and the checksums of its files

        return Bundle.load(bundle).scheme
    return load_scheme(scheme) if scheme is not None else load_scheme()


def _grey_jpeg(img: np.ndarray, out: Path, max_side: int) -> tuple[int, int]:
    """Save a [0, 1] grey image as JPEG with its long side at most ``max_side``; returns the saved size."""
    h, w = img.shape
    im = Image.fromarray(np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    im.save(out, quality=JPEG_QUALITY)
    return im.size


def _deep_js(img: np.ndarray, size: tuple[int, int] | None, key: str) -> str:
    """A source deeper than 8 bits at the site's size (``size``; None: as it is), as 16-bit values
    (little-endian, zlib, base64) in a script that hands them to the page: ``RA2_DEEP(key, {width, height,
    data})``.  A page opened from disk may not read a picture's pixels back, but it may run a script beside it."""
    import base64
    import zlib

    h, w = img.shape
    size = (w, h) if size is None else tuple(size)
    pic = np.clip(img, 0, 1).astype(np.float32)
    if (w, h) != size:
        pic = np.asarray(Image.fromarray(pic, mode="F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    values = np.round(np.clip(pic, 0, 1) * 65535).astype("<u2")
    data = base64.b64encode(zlib.compress(values.tobytes(), 6)).decode("ascii")
    return ("RA2_DEEP(" + json.dumps(key) + "," + json.dumps({"width": int(size[0]), "height": int(size[1]),
                                                               "data": data}, separators=(",", ":")) + ");\n")


def crop_side(width: int, height: int) -> int:
    """A joint strip crop's side in source pixels: ``STRIP_SHARE`` of the long side, at least ``STRIP_MIN``
    (a fixed share rather than the landmark spacing, so that a crop is the same for every landmark of an
    image, the wrist's crowded ones included; the page's strip uses the same rule)."""
    return max(STRIP_MIN, round(STRIP_SHARE * max(width, height)))


def crop_box(xy, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The source pixels ``(x0, y0, x1, y1)`` of the crop around a landmark (x, y in source pixels): a
    ``crop_side`` square centred on it, cut back to the image; None for a landmark off the image."""
    side = crop_side(width, height)
    x0, y0 = (int(np.floor(v - side / 2)) for v in xy)
    box = (max(0, x0), max(0, y0), min(width, x0 + side), min(height, y0 + side))
    return box if box[2] > box[0] and box[3] > box[1] else None


def joint_crops(img: np.ndarray, bits: int, points: dict, names, site: Path, key: str) -> dict:
    """The joint strip's crops of one image (``key`` = NNNNN-LIMB), cut from the source array ``img`` at its
    own resolution: for each landmark of ``points`` in ``names`` (those that carry a joint), the
    ``crop_box`` around it, saved as a JPEG (an 8-bit source) or as its 16-bit values in a script like
    ``data/deep`` (a deeper one: the page windows it on the source's depth).  Returns ``{landmark: {x, y, w,
    h, file | deep, key}}`` (x, y, w, h in source pixels) for the page."""
    h, w = img.shape
    out = {}
    for n, (name, xy) in enumerate(points.items()):
        if name not in names:
            continue
        box = crop_box(xy, w, h)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        part = img[y0:y1, x0:x1]
        entry = {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "key": f"{key}-{n:02d}"}
        if bits > 8:
            entry["deep"] = f"data/crops/{key}-{n:02d}.js"
            (site / entry["deep"]).write_text(_deep_js(part, None, entry["key"]))
        else:
            entry["file"] = f"images/crops/{key}-{n:02d}.jpg"
            Image.fromarray(np.round(np.clip(part, 0, 1) * 255).astype(np.uint8)).save(
                site / entry["file"], quality=JPEG_QUALITY)
        out[name] = entry
    return out


def _auto_window(img: np.ndarray) -> list[float]:
    """The 1st and 99th percentiles of an image in [0, 1]: the page's "auto" window."""
    lo, hi = np.percentile(img[:: max(1, img.shape[0] // 512), :: max(1, img.shape[1] // 512)], (1, 99))
    return [round(float(lo), 5), round(float(max(hi, lo + 1e-3)), 5)]


def _mask_png(path: Path, size: tuple[int, int], shape: tuple[int, int], out: Path) -> str | None:
    """A joint-space mask (any non-zero pixel = joint space) as a transparent colour PNG of ``size``;
    the reason it was skipped, or None.  Read as the images are (``read_image``: the pixel limit
    ``RA2_MAX_PIXELS``, decompression bombs, EXIF turns, DICOM), so a bad mask is one warning."""
    try:
        mask = read_image(path)[0] > 0
    except ImageReadError as exc:
        return f"unreadable mask ({str(exc).removeprefix(f'{path}: ')})"
    h, w = shape
    if abs(mask.shape[0] / mask.shape[1] - h / w) > 0.02:
        return f"mask is {mask.shape[1]}x{mask.shape[0]} pixels, the image {w}x{h}"
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[mask] = MASK_RGBA
    Image.fromarray(rgba, "RGBA").resize(size, Image.Resampling.NEAREST).save(out, optimize=True)
    return None


def build_site(images_dir, predictions, out, *, landmarks=None, masks=None, bundle=None, scheme=None,
               template=None, max_side: int = MAX_SIDE, progress: bool = False, uncertainty=None) -> dict:
    """Write the review site; returns a summary (patients, images, failed images, landmarks, masks, index).

    ``uncertainty``: the file of ``ra2 predict --uncertainty-out`` (``review.uncertainty``): the page
    colours cells and landmarks by it and lists patients and joints most uncertain first."""
    from challenge.landmarks import landmark_table, read_landmarks

    out = Path(out)
    if max_side < 64:
        raise ParameterError("max_side", max_side, "too small to show a joint (at least 64)")
    folder = scan_folder(images_dir)
    scores, csv_columns, patients = read_predictions(predictions, template)
    points = landmark_table(read_landmarks(landmarks)) if landmarks is not None else {}
    unc = None
    if uncertainty is not None:
        from .uncertainty import read_uncertainty

        unc = read_uncertainty(uncertainty, patients)
        if unc["skipped"]:
            log.warning("%s: %d row(s) of patients not in the predictions skipped", uncertainty, unc["skipped"])
    if masks is not None and not Path(masks).is_dir():
        raise ParameterError("masks", masks, "not a folder (give a folder of {PID}-{LIMB}.png joint-space masks)")
    the_scheme = _scheme(bundle, scheme)
    layout = form_layout()
    check_layout(layout)
    check_replaceable(out, "review")
    try:
        with staged_folder(out, "review", keep=(CORRECTIONS,)) as tmp:
            summary = _write(tmp, folder, scores, csv_columns, patients, points, masks, the_scheme, layout, max_side,
                             progress, predictions, landmarks, unc, uncertainty)
    except OSError as exc:           # a full disk, say: the earlier site (if any) is left as it was
        raise UsageError(f"{out}: the site could not be written ({exc.strerror or exc}); nothing was changed") from exc
    summary["out"] = str(out)
    summary["index"] = str(out / "index.html")
    return summary


def _uncertainty_summary(unc, patients):
    if unc is None:
        return None
    from .uncertainty import for_site

    return for_site(unc, patients)


def _write(site: Path, folder, scores, csv_columns, patients, points, masks, scheme, layout, max_side, progress,
           predictions_path, landmarks_path, unc=None, unc_path=None) -> dict:
    from tqdm import tqdm

    for sub in ("assets", "data/patients", "data/source", "data/deep", "data/crops", "images", "images/crops",
                "masks"):
        (site / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(STATIC / "index.html", site / "index.html")
    for name in ("review.js", "review.css"):
        shutil.copy2(STATIC / name, site / "assets" / name)
    shutil.copy2(predictions_path, site / "data" / "source" / "predictions.csv")
    if landmarks_path is not None:
        shutil.copy2(landmarks_path, site / "data" / "source" / "landmarks.csv")
    if unc_path is not None:
        shutil.copy2(unc_path, site / "data" / "source" / "uncertainty.csv")

    index_rows, all_points, failed_total, n_images, n_masks, used_points, n_crops = [], {}, [], 0, 0, 0, 0
    carried = {kind: set(names.values()) for kind, names in scheme.carries.items()}
    carried.update({kind: set() for kind in ("hand", "foot") if kind not in carried})
    jobs = [(i, pid) for i, pid in enumerate(patients)]
    for i, pid in tqdm(jobs, desc="ra2 review", unit="patient", disable=not progress):
        key = f"{i:05d}"
        page = {"id": pid, "key": key, "images": {}, "landmarks": {}}
        if unc is not None:                   # each landmark's heatmap width (share of the long side) and peak
            page["widths"] = unc["width"].get(pid, {})
            page["peaks"] = unc["peak"].get(pid, {})
        failed = []
        for limb in LIMBS:
            stem = f"{pid}-{limb}"
            path = folder.path(pid, limb)
            entry = {"stem": stem, "file": None, "mask": None, "failed": None}
            if path is None:
                entry["failed"] = "no image file"
            else:
                entry["name"] = path.name
                try:
                    img, info = read_image(path)
                except ImageReadError as exc:
                    entry["failed"] = str(exc).replace(str(path), path.name, 1)
                    log.warning("image not shown: %s", exc)
                else:
                    file = f"images/{key}-{limb}.jpg"
                    shown = _grey_jpeg(img, site / file, max_side)
                    n_images += 1
                    entry.update(file=file, width=info.width, height=info.height, shown=list(shown),
                                 format=info.format, bits=info.bits, mm_per_pixel=info.mm_per_pixel,
                                 auto=_auto_window(img), deep=None, crops=None)
                    if info.bits > 8:
                        entry["deep"] = f"data/deep/{key}-{limb}.js"
                        (site / entry["deep"]).write_text(_deep_js(img, shown, f"{key}-{limb}"))
                    if stem in points and tuple(shown) != (img.shape[1], img.shape[0]):
                        # the copy is smaller than the source: the strip's crops come from the source itself
                        entry["crops"] = joint_crops(img, info.bits, points[stem], carried[cat_kind(limb)], site,
                                                     f"{key}-{limb}")
                        n_crops += len(entry["crops"])
                    mask_path = Path(masks) / f"{stem}.png" if masks is not None else None
                    if mask_path is not None and mask_path.is_file():
                        why = _mask_png(mask_path, shown, img.shape, site / f"masks/{key}-{limb}.png")
                        if why is None:
                            entry["mask"] = f"masks/{key}-{limb}.png"
                            n_masks += 1
                        else:
                            log.warning("%s: mask not shown: %s", mask_path, why)
            if entry["failed"]:
                failed.append({"limb": limb, "reason": entry["failed"]})
                failed_total.append({"image": stem, "reason": entry["failed"]})
            if stem in points:
                page["landmarks"][limb] = {n: [round(x, 2), round(y, 2)] for n, (x, y) in points[stem].items()}
                all_points[stem] = page["landmarks"][limb]
                used_points += len(points[stem])
            page["images"][limb] = entry
        (site / "data" / "patients" / f"{key}.js").write_text(_loader_js(page))
        row = scores.loc[pid]
        index_rows.append({"id": pid, "key": key, "failed": failed,          # as read: an export gives them back
                           "scores": [float(row[c]) for c in SCORE_COLUMNS]})
        if unc is not None:                   # each joint's spread over the scorers, and their sum
            spread = unc["spread"].get(pid, {})
            index_rows[-1]["spread"] = spread
            index_rows[-1]["spread_sum"] = round(sum(spread.values()), 6) if spread else None

    unused = sorted(set(points) - set(all_points))
    if unused:
        log.warning("%d image(s) of the landmark file are not in the predictions (e.g. %s): not shown",
                    len(unused), unused[0])
    joints = {c: {"max": BY_COLUMN[c].max_score, "limb": BY_COLUMN[c].limb, "damage": BY_COLUMN[c].damage}
              for c in JOINT_COLUMNS}
    index = {
        "format": FORMAT_VERSION, "site": site.name, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "site_id": f"{time.time_ns():x}",
        "predictions_sha256": file_sha256(site / "data" / "source" / "predictions.csv"),
        "source": {"images": str(folder.root), "predictions": str(predictions_path),
                   "landmarks": str(landmarks_path) if landmarks_path is not None else None,
                   "uncertainty": str(unc_path) if unc_path is not None else None},
        "uncertainty": _uncertainty_summary(unc, patients),
        "id_column": ID, "csv_columns": csv_columns, "score_columns": list(SCORE_COLUMNS),
        "overall": list(OVERALL), "joints": joints, "layout": layout, "limbs": list(LIMBS),
        "scheme": {"name": scheme.name, "carries": scheme.carries},
        "has_landmarks": landmarks_path is not None, "patients": index_rows,
        "strip": {"share": STRIP_SHARE, "min": STRIP_MIN},
    }
    (site / "data" / "index.js").write_text(_js("RA2_INDEX", index))
    order = [[stem, name] for stem, named in all_points.items() for name in named]
    (site / "data" / "landmarks.js").write_text(_js("RA2_LANDMARKS", {"points": all_points, "order": order}))
    return {"patients": len(patients), "images": n_images, "failed": failed_total, "landmarks": used_points,
            "masks": n_masks, "crops": n_crops, "keys": {row["id"]: row["key"] for row in index_rows}}
