"""The bad-input corpus: every kind of broken file real data has, generated on demand.

``make_corpus(root)`` writes the corpus under ``root`` and returns a ``Corpus`` that
names each file.  Run as a script to look at it:

    python tests/badinput/make_corpus.py /tmp/corpus

CSV files (four patients, UAB001..UAB004, all 90 columns, totals = sums):
    gold.csv, template.csv, pred.csv          clean gold, template and predictions
    pred_bom.csv                              UTF-8 byte-order mark
    pred_crlf.csv                             CRLF line ends
    pred_quoted.csv                           every field quoted
    pred_trailing_columns.csv                 two trailing empty columns on every line
    pred_duplicate_patient.csv                UAB002 twice
    pred_unknown_column.csv                   an extra "Comment" column
    pred_non_numeric.csv                      "n/a" in UAB002's LH_mcp_E__ip
    pred_missing_patient.csv                  no row for UAB004
    pred_binary.csv                           JPEG bytes under a .csv name
    gold_non_integer.csv                      UAB003 with 1.5 in RH_pip_J__2 (and totals to match)
    template_empty.csv                        a header and no patients
    empty.csv                                 zero bytes

Image folder ``images/`` (template ``images/template.csv`` lists UAB001..UAB005):
    UAB001: four good images (8-bit grey JPEG, 16-bit PNG, RGB JPEG, palette PNG)
    UAB002: LH zero bytes, RH truncated JPEG, LF a text file named .jpg, RF truncated PNG
    UAB003: RF missing (a missing limb)
    UAB004: LH too small (4x4), RH a 100000x100000 PNG header (a decompression bomb)
    UAB005: in the template, no images at all
    notes.txt, UAB001-XX.jpg                  unknown extra files
"""
from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from challenge.catalogue import COLUMNS, ID, JOINTS, SCORE_COLUMNS
from challenge.tables import with_totals

PATIENTS = ["UAB001", "UAB002", "UAB003", "UAB004"]
IMAGE_PATIENTS = PATIENTS + ["UAB005"]


@dataclass
class Corpus:
    root: Path
    images: Path          # the image folder

    def __getattr__(self, name):   # corpus.pred_bom -> root / "pred_bom.csv"
        if name.startswith("_"):
            raise AttributeError(name)
        return self.root / f"{name}.csv"


# ------------------------------------------------------------------ CSV files
def gold_scores(seed: int = 0) -> pd.DataFrame:
    """Integer scores for PATIENTS, most joints 0, totals = sums."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(0.0, index=pd.Index(PATIENTS, name=ID), columns=list(SCORE_COLUMNS))
    for j in JOINTS:
        frame[j.column] = np.minimum(rng.poisson(0.4, len(PATIENTS)), j.max_score).astype(float)
    return with_totals(frame)


def csv_text(scores: pd.DataFrame, *, fmt: str = "%g") -> str:
    return scores.reset_index()[list(COLUMNS)].to_csv(index=False, float_format=fmt, lineterminator="\n")


def _replace_cell(text: str, patient: str, column: str, value: str) -> str:
    lines = text.splitlines()
    col = lines[0].split(",").index(column)
    for i, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == patient:
            cells[col] = value
            lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


def write_csvs(root: Path) -> None:
    gold = gold_scores()
    pred = (gold * 0.8 + 0.3).round(3)
    clean = csv_text(pred)
    files = {
        "gold": csv_text(gold),
        "template": ",".join(COLUMNS) + "\n" + "".join(p + "," * (len(COLUMNS) - 1) + "\n" for p in PATIENTS),
        "pred": clean,
        "pred_crlf": clean.replace("\n", "\r\n"),
        "pred_quoted": "".join(",".join(f'"{c}"' for c in line.split(",")) + "\n" for line in clean.splitlines()),
        "pred_trailing_columns": "".join(line + ",,\n" for line in clean.splitlines()),
        "pred_duplicate_patient": clean + clean.splitlines()[2] + "\n",
        "pred_unknown_column": "".join(line + ("," + ("Comment" if i == 0 else "checked")) + "\n"
                                       for i, line in enumerate(clean.splitlines())),
        "pred_non_numeric": _replace_cell(clean, "UAB002", "LH_mcp_E__ip", "n/a"),
        "pred_missing_patient": "\n".join(clean.splitlines()[:-1]) + "\n",
        "template_empty": ",".join(COLUMNS) + "\n",
    }
    odd = gold.copy()
    odd.loc["UAB003", "RH_pip_J__2"] = 1.5
    files["gold_non_integer"] = csv_text(with_totals(odd))
    for name, text in files.items():
        (root / f"{name}.csv").write_text(text, newline="")
    (root / "pred_bom.csv").write_bytes(b"\xef\xbb\xbf" + clean.encode())
    (root / "pred_binary.csv").write_bytes(_jpeg(_phantom(64, 48)))
    (root / "empty.csv").write_bytes(b"")


# ------------------------------------------------------------------ images
def _phantom(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth 8-bit grey picture with some structure (not a radiograph; just decodable pixels)."""
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(seed)
    img = 120 + 80 * np.sin(x / 7.0) * np.cos(y / 5.0) + rng.normal(0, 5, (height, width))
    return np.clip(img, 0, 255).astype(np.uint8)


def _jpeg(arr: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header claims a huge 8-bit grey image (a few bytes on disk; never decode it)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def write_images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pic = _phantom(96, 128)
    sixteen = Image.fromarray(pic.astype(np.uint16) * 257)
    palette = Image.fromarray(pic).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    good = {"UAB001-LH.jpg": _jpeg(pic), "UAB001-RH.png": _png(sixteen),
            "UAB001-LF.jpg": _jpeg(np.dstack([pic] * 3), "RGB"), "UAB001-RF.png": _png(palette)}
    jpeg, png = _jpeg(pic), _png(Image.fromarray(pic))
    bad = {"UAB002-LH.jpg": b"", "UAB002-RH.jpg": jpeg[: len(jpeg) // 2],
           "UAB002-LF.jpg": b"Patient_ID,Overall_Tol\nUAB002,3\n", "UAB002-RF.png": png[: len(png) // 2],
           "UAB004-LH.png": _png(Image.fromarray(pic[:4, :4])), "UAB004-RH.png": bomb_png()}
    partial = {f"UAB003-{limb}.jpg": _jpeg(pic) for limb in ("LH", "RH", "LF")}
    partial.update({f"UAB004-{limb}.jpg": _jpeg(pic) for limb in ("LF", "RF")})
    extra = {"notes.txt": b"scanned on the old machine\n", "UAB001-XX.jpg": jpeg}
    for name, data in {**good, **bad, **partial, **extra}.items():
        (folder / name).write_bytes(data)
    (folder / "template.csv").write_text(
        ",".join(COLUMNS) + "\n" + "".join(p + "," * (len(COLUMNS) - 1) + "\n" for p in IMAGE_PATIENTS))


def make_corpus(root: str | Path) -> Corpus:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_csvs(root)
    write_images(root / "images")
    return Corpus(root, root / "images")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/badinput/make_corpus.py OUT_DIR")
    print(make_corpus(sys.argv[1]).root)
