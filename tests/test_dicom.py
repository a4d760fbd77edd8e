"""DICOM radiographs: read wherever JPEG and PNG are, displayed as a reader sees them.

Every file here is written by pydicom from phantom-like arrays: 12- and 16-bit grey,
MONOCHROME1, rescale slope/intercept, a window, a VOI LUT, RLE and JPEG 2000 compression,
a multi-frame file, broken pixel data, and extension-less names in a challenge folder.
"""
from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from challenge.dataset import rescale_folder, scan_folder
from challenge.images import ImageReadError, image_size, normalise_intensity, read_grey, read_image
from tests.conftest import write_dicom


def phantom(height=150, width=110, bits=12, seed=0) -> np.ndarray:
    """An asymmetric radiograph-like picture using the whole range of ``bits`` (a bone bar, soft tissue,
    a dark corner, noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = 0.3 + 0.15 * np.sin(x / 7.0) + 0.45 * (np.abs(x - y * width / height) < 9) + rng.normal(0, 0.03, (height, width))
    img[: height // 6, : width // 5] = 0.0
    top = 2 ** bits - 1
    return np.clip(np.round(img * top), 0, top).astype(np.uint16)


# ------------------------------------------------------------------ pixels as displayed
def test_12bit_grey_keeps_its_full_depth(tmp_path):
    pic = phantom(bits=12)
    out, info = read_image(write_dicom(tmp_path / "a.dcm", pic))
    assert out.dtype == np.float32 and out.shape == pic.shape
    np.testing.assert_allclose(out, pic / 4095.0, atol=1e-6)
    assert len(np.unique(np.round(out * 4095))) > 256          # more grey levels than 8 bits hold
    assert (info.format, info.bits, info.photometric, info.pixel_spacing) == ("DICOM", 12, "MONOCHROME2", None)
    assert (info.width, info.height) == (110, 150) and image_size(tmp_path / "a.dcm") == (110, 150)


def test_16bit_grey(tmp_path):
    pic = phantom(bits=16, seed=1)
    np.testing.assert_allclose(read_grey(write_dicom(tmp_path / "a.dcm", pic, bits=16)), pic / 65535.0, atol=1e-6)


def test_monochrome1_is_inverted_so_bone_is_bright(tmp_path):
    pic = phantom()
    mono2 = read_grey(write_dicom(tmp_path / "m2.dcm", pic))
    mono1 = read_grey(write_dicom(tmp_path / "m1.dcm", (4095 - pic).astype(np.uint16), photometric="MONOCHROME1"))
    np.testing.assert_allclose(mono1, mono2, atol=1e-6)


def test_rescale_slope_intercept_and_window(tmp_path):
    pic = phantom()
    slope, intercept, center, width = 2.0, -1000.0, 2500.0, 4000.0
    path = write_dicom(tmp_path / "w.dcm", pic, RescaleSlope=slope, RescaleIntercept=intercept,
                       WindowCenter=[center, 100.0], WindowWidth=[width, 50.0])     # the first window is used
    values = pic * slope + intercept
    expected = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)          # DICOM PS3.3 C.11.2.1.2
    np.testing.assert_allclose(read_grey(path), expected, atol=1e-6)
    assert (expected == 0).any() and (expected == 1).any()                            # the window clips both ends
    sig = read_grey(write_dicom(tmp_path / "s.dcm", pic, WindowCenter=2000.0, WindowWidth=1500.0,
                                VOILUTFunction="SIGMOID"))
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-4 * (pic - 2000.0) / 1500.0)), atol=1e-6)


def test_voi_lut_sequence_is_applied(tmp_path):
    pic = phantom()
    lut = np.round(65535 * (np.arange(4096) / 4095.0) ** 0.5).astype(np.uint16)       # a gamma curve
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = lut.tolist()
    item["LUTData"].VR = "US"
    path = write_dicom(tmp_path / "lut.dcm", pic, VOILUTSequence=Sequence([item]),
                       WindowCenter=100.0, WindowWidth=10.0)                             # the LUT wins
    np.testing.assert_allclose(read_grey(path), lut[pic] / 65535.0, atol=1e-6)


def test_pixel_spacing_is_recorded(tmp_path):
    pic = phantom()
    info = read_image(write_dicom(tmp_path / "p.dcm", pic, PixelSpacing=[0.15, 0.148]))[1]
    assert info.pixel_spacing == (0.15, 0.148) and info.spacing_source == "PixelSpacing"
    assert info.mm_per_pixel == pytest.approx(0.149)
    info = read_image(write_dicom(tmp_path / "i.dcm", pic, ImagerPixelSpacing=[0.1, 0.1]))[1]
    assert info.pixel_spacing == (0.1, 0.1) and info.spacing_source == "ImagerPixelSpacing"
    png = tmp_path / "p.png"
    from PIL import Image
    Image.fromarray((pic // 16).astype(np.uint8)).save(png)
    assert read_image(png)[1].pixel_spacing is None and read_image(png)[1].format == "PNG"


# ------------------------------------------------------------------ compression
@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_files_decode_losslessly(tmp_path, syntax):
    from pydicom.pixels import get_encoder
    if not get_encoder(syntax).is_available:
        pytest.skip(f"no encoder for {syntax.name} here (pylibjpeg-openjpeg writes JPEG 2000)")
    pic = phantom(bits=12, seed=2)
    path = write_dicom(tmp_path / "c.dcm", pic, photometric="MONOCHROME1", syntax=syntax)
    out, info = read_image(path)
    assert info.transfer_syntax == syntax.name
    np.testing.assert_allclose(out, 1 - pic / 4095.0, atol=1e-6)


def test_undecodable_and_unusable_files_name_the_file(tmp_path):
    pic = phantom()
    good = write_dicom(tmp_path / "rle.dcm", pic, syntax=RLELossless).read_bytes()
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(good[: len(good) - len(good) // 3])          # the RLE segments cut short
    with pytest.raises(ImageReadError, match=r"broken\.dcm: .*(cannot decode|not a readable DICOM)"):
        read_grey(bad)
    ds = pydicom.dcmread(tmp_path / "rle.dcm")
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless               # claims JPEG-LS, holds RLE bytes
    ds.save_as(tmp_path / "liar.dcm")
    with pytest.raises(ImageReadError, match=r"liar\.dcm: cannot decode the DICOM pixel data \(JPEG-LS"):
        read_grey(tmp_path / "liar.dcm")
    frames = np.stack([pic, pic, pic])
    with pytest.raises(ImageReadError, match=r"multi\.dcm: multi-frame DICOM \(3 frames\) is not supported"):
        read_grey(write_dicom(tmp_path / "multi.dcm", frames))
    ds = pydicom.dcmread(tmp_path / "rle.dcm")
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm")
    with pytest.raises(ImageReadError, match=r"nopix\.dcm: DICOM file without pixel data"):
        read_grey(tmp_path / "nopix.dcm")
    ds = pydicom.dcmread(write_dicom(tmp_path / "palette.dcm", pic))
    ds.PhotometricInterpretation = "PALETTE COLOR"
    ds.save_as(tmp_path / "palette.dcm")
    with pytest.raises(ImageReadError, match=r"palette\.dcm: a PALETTE COLOR DICOM image is not a radiograph"):
        read_grey(tmp_path / "palette.dcm")
    (tmp_path / "text.dcm").write_text("Patient_ID,Overall_Tol\nUAB001,3\n")
    with pytest.raises(ImageReadError, match=r"text\.dcm: "):
        read_grey(tmp_path / "text.dcm")
    with pytest.raises(ImageReadError, match=r"tiny\.dcm: 12x10 pixels is too small"):
        read_grey(write_dicom(tmp_path / "tiny.dcm", pic[:10, :12]))


# ------------------------------------------------------------------ folders
def test_challenge_folders_find_dcm_and_extension_less_dicom(tmp_path):
    pic = phantom()
    write_dicom(tmp_path / "P1-LH.dcm", pic)
    write_dicom(tmp_path / "P1-RH", pic, photometric="MONOCHROME1")   # no extension: found by its magic
    write_dicom(tmp_path / "P1-LF.DICOM", pic)
    (tmp_path / "P1-RF").write_text("not a DICOM file")               # no extension, no magic: not an image
    folder = scan_folder(tmp_path)
    assert sorted(folder.images["P1"]) == ["LF", "LH", "RH"]
    assert folder.path("P1", "RH").name == "P1-RH" and [p.name for p in folder.unexpected] == ["P1-RF"]
    assert read_grey(folder.path("P1", "RH")).shape == pic.shape
    written = rescale_folder(tmp_path, tmp_path / "out")
    assert sorted(p.name for p in written) == ["P1-LF.png", "P1-LH.png", "P1-RH.png"]


def test_dicom_normalises_like_the_same_picture_as_jpeg(tmp_path):
    from PIL import Image
    pic = phantom(bits=16, seed=4)
    Image.fromarray(np.round(pic / 257).astype(np.uint8)).save(tmp_path / "a.jpg", quality=95)
    dicom = normalise_intensity(read_grey(write_dicom(tmp_path / "a.dcm", pic, bits=16, RescaleSlope=0.5,
                                                      RescaleIntercept=100.0)))
    jpeg = normalise_intensity(read_grey(tmp_path / "a.jpg"))
    assert np.abs(dicom - jpeg).mean() < 0.01


def test_baselines_read_a_dicom_test_folder(tmp_path):
    """A phantom test folder converted to DICOM gives the image-stats baseline the same features."""
    from PIL import Image

    from baselines.predictors import image_features
    from phantoms.cohort import make_cohort

    make_cohort(tmp_path / "c", 1, 1, seed=3, size_scale=0.3)
    jpg = sorted((tmp_path / "c" / "test").glob("*.jpg"))
    assert len(jpg) == 4
    dcm_dir = tmp_path / "dcm"
    dcm_dir.mkdir()
    for k, path in enumerate(jpg):
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.uint16) * 16    # 8 -> 12 bits
        name = path.stem if k % 2 else path.stem + ".dcm"
        write_dicom(dcm_dir / name, pixels, PixelSpacing=[0.1, 0.1])
    folder = scan_folder(dcm_dir)
    assert len(folder.images) == 1 and not folder.missing()
    for path in jpg:
        pid, limb = path.stem.rsplit("-", 1)
        a, b = image_features(path), image_features(folder.path(pid, limb))
        np.testing.assert_allclose(b, a, atol=0.02)
