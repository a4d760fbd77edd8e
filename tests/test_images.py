"""``challenge.images``: every format real radiographs come in, every way a file can be broken,
and intensity normalisation under the organisers' percentile re-scaling."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from challenge import images
from challenge.dataset import rescale_folder
from challenge.images import ImageReadError, normalise_intensity, percentile_rescale, read_grey


def picture(height=120, width=90, seed=0) -> np.ndarray:
    """An asymmetric 8-bit test picture (a bright diagonal bar, a dark corner, noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = 60 + 40 * np.sin(x / 9.0) + 100 * (np.abs(x - y * width / height) < 8) + rng.normal(0, 6, (height, width))
    img[: height // 5, : width // 4] = 5
    return np.clip(img, 0, 255).astype(np.uint8)


def save(im: Image.Image, path, **kw):
    im.save(path, **kw)
    return path


# ------------------------------------------------------------------ formats
def test_8bit_grey_png_is_exact(tmp_path):
    pic = picture()
    out = read_grey(save(Image.fromarray(pic), tmp_path / "a.png"))
    assert out.dtype == np.float32 and out.shape == pic.shape
    np.testing.assert_allclose(out, pic / 255.0, atol=1e-7)


def test_16bit_grey_png_keeps_its_depth(tmp_path):
    pic16 = picture().astype(np.uint16) * 257 + 3
    out = read_grey(save(Image.fromarray(pic16), tmp_path / "a.png"))
    np.testing.assert_allclose(out, pic16 / 65535.0, atol=1e-6)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "P", "1", "CMYK"])
def test_colour_palette_alpha_and_bilevel_modes_become_grey(tmp_path, mode):
    pic = picture()
    im = Image.fromarray(pic).convert(mode)
    path = save(im, tmp_path / ("a.jpg" if mode == "CMYK" else "a.png"))
    out = read_grey(path)
    assert out.shape == pic.shape and out.dtype == np.float32 and 0 <= out.min() <= out.max() <= 1
    tol = {"1": 1.0, "P": 0.02, "CMYK": 0.06}.get(mode, 1e-6)   # bilevel is dithered; P and JPEG are lossy
    assert np.abs(out - pic / 255.0).mean() < (0.5 if mode == "1" else tol)


def test_grey_and_rgb_jpeg(tmp_path):
    pic = picture()
    grey = read_grey(save(Image.fromarray(pic), tmp_path / "g.jpg", quality=95))
    rgb = read_grey(save(Image.fromarray(np.dstack([pic] * 3)), tmp_path / "c.jpeg", quality=95))
    assert np.abs(grey - pic / 255.0).mean() < 0.01 and np.abs(rgb - grey).mean() < 0.01


@pytest.mark.parametrize("orientation, expected", [
    (3, lambda a: np.rot90(a, 2)),       # stored turned by 180 degrees
    (6, lambda a: np.rot90(a, -1)),      # stored turned 90 degrees anticlockwise: turn clockwise to view
    (2, lambda a: a[:, ::-1]),           # mirrored
])
def test_exif_orientation_is_applied(tmp_path, orientation, expected):
    pic = picture()
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = read_grey(save(Image.fromarray(pic), tmp_path / "o.png", exif=exif))
    np.testing.assert_allclose(out, expected(pic / 255.0), atol=1e-7)


def test_smallest_accepted_and_too_small(tmp_path):
    ok = read_grey(save(Image.fromarray(picture(16, 16)), tmp_path / "ok.png"))
    assert ok.shape == (16, 16)
    with pytest.raises(ImageReadError, match=r"tiny\.png: 200x15 pixels is too small for a radiograph"):
        read_grey(save(Image.fromarray(picture(15, 200)), tmp_path / "tiny.png"))


def test_large_image_reads_and_pixel_limit_is_clear(tmp_path, monkeypatch):
    big = np.tile(picture(), (34, 34))            # 4080 x 3060, larger than any real RA2 image
    assert read_grey(save(Image.fromarray(big), tmp_path / "big.jpg", quality=80)).shape == big.shape
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    monkeypatch.setattr(images, "MAX_PIXELS", 10000)
    path = save(Image.fromarray(picture()), tmp_path / "a.png")
    with pytest.raises(ImageReadError, match=r"a\.png: 90x120 = 10800 pixels is above the limit of 10000 "
                                             r"\(a guard against decompression bombs"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")         # Pillow's own warning is silenced: ours is the one line
            read_grey(path)                        # caught by our own check (Pillow only warns)
    assert Image.MAX_IMAGE_PIXELS == 10000         # Pillow's own limit follows ours
    monkeypatch.setattr(images, "MAX_PIXELS", 4000)
    with pytest.raises(ImageReadError, match=r"a\.png: 10800 pixels is above the limit of 4000 "):
        read_grey(path)                            # refused by Pillow while opening: the same message


# ------------------------------------------------------------------ broken files
def test_broken_files_name_the_file_and_the_fault(tmp_path):
    pic = Image.fromarray(picture())
    jpeg = save(pic, tmp_path / "whole.jpg").read_bytes()
    cases = {
        "zero.jpg": (b"", "empty file (0 bytes)"),
        "cut.jpg": (jpeg[: len(jpeg) // 3], "cannot decode the image, truncated file"),
        "text.jpg": (b"Patient_ID,Overall_Tol\nUAB001,3\n", "not an image file (it holds text: 'Patient_ID"),
        "noise.jpg": (bytes(range(7, 200)), "not an image file (unknown format"),
    }
    for name, (data, words) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageReadError) as err:
            read_grey(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name)) and words in str(err.value), str(err.value)
    with pytest.raises(ImageReadError, match=r"nothing\.jpg: no such file"):
        read_grey(tmp_path / "nothing.jpg")
    with pytest.raises(ImageReadError, match="is a folder"):
        read_grey(tmp_path)


def test_image_read_error_is_a_usage_error():
    from challenge.errors import UsageError
    assert issubclass(ImageReadError, UsageError)


# ------------------------------------------------------------------ intensity
def test_percentile_rescale_does_what_the_organisers_did():
    img = picture().astype(np.float32) / 255.0
    out = percentile_rescale(img)
    assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_allclose(np.percentile(out, [2, 98]), [0.05, 0.9], atol=1e-5)
    mid = (img > np.percentile(img, 2)) & (img < np.percentile(img, 98))
    slope = np.polyfit(img[mid], out[mid], 1)[0]
    assert slope == pytest.approx(0.85 / np.subtract(*np.percentile(img, [98, 2])), rel=1e-4)


@pytest.mark.parametrize("change", [
    lambda a: a,                                  # the organisers' map applied to our own input
    lambda a: 0.4 * a + 0.3,                      # a brighter, flatter exposure
    lambda a: a * 257.0 / 65535.0,                # the same picture stored in 16 bits
    lambda a: percentile_rescale(a),              # the external cohort as the organisers re-scaled it
    lambda a: percentile_rescale(0.5 * a + 0.1, 1, 99, (0.2, 0.7)),   # another site's re-scaling
])
def test_normalised_input_is_stable_under_rescaling(change):
    img = picture(seed=3).astype(np.float32) / 255.0
    base = normalise_intensity(img)
    assert np.abs(normalise_intensity(change(img)) - base).max() < 1e-4


def test_normalised_input_is_stable_after_an_8bit_jpeg_round_trip(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    pic16 = (picture(seed=5).astype(np.float32) * 180 + 900).astype(np.uint16)   # a dim 16-bit original
    Image.fromarray(pic16).save(src / "P1-LH.png")
    (src / "template.csv").write_text("Patient_ID\nP1\n")
    (src / "P2-LH.jpg").write_bytes(b"")                                        # unreadable: skipped
    written = rescale_folder(src, dst)
    assert [p.name for p in written] == ["P1-LH.png"] and (dst / "template.csv").read_text() == "Patient_ID\nP1\n"
    assert not (dst / "P2-LH.jpg").exists()
    before, after = normalise_intensity(read_grey(src / "P1-LH.png")), normalise_intensity(read_grey(dst / "P1-LH.png"))
    assert np.abs(after - before).mean() < 0.005 and np.abs(after - before).max() < 0.01


def test_flat_and_invalid_images():
    flat = percentile_rescale(np.full((20, 20), 0.7))
    assert np.all(flat == np.float32(0.05))
    with pytest.raises(ValueError, match="finite"):
        normalise_intensity(np.array([[0.1, np.nan]]))
