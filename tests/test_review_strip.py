"""Issue 39, points 4 and 5, what the first build left out: the joint strip at the source's own resolution
(crops cut from the source when the site's copy is smaller, at the source's bit depth), how much the
method's left and right differ (shown in the strip, a list order and a per-patient order), and each
landmark's heatmap peak beside its width.

The browser tests drive headless Chromium as tests/test_review.py does (its fixtures are reused) and keep
their screenshots in ``tmp_path`` (not committed).
"""
from __future__ import annotations

import base64
import io
import json
import shutil
import zlib

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.images import read_image
from review.build import build_site, crop_box, crop_side
from review.corrections import site_index
from review.uncertainty import read_uncertainty
from tests.test_review import _wait, browser, cohort  # noqa: F401  (fixtures)
from tests.test_review_uncertainty import _key, _made_up, _open


def _page(site, key) -> dict:
    return json.loads((site / "data" / "patients" / f"{key}.js").read_text()[len("RA2_LOADED("):-3])


def _deep_crop(site, path) -> np.ndarray:
    text = (site / path).read_text()
    body = json.loads(text[text.index(",") + 1:text.rindex(")")])
    return np.frombuffer(zlib.decompress(base64.b64decode(body["data"])), "<u2").reshape(body["height"], body["width"])


def _full_joint(page, index, limbs):
    """A joint column whose landmark's crop lies whole inside the image on each of ``limbs``."""
    carries = index["scheme"]["carries"]["hand"]
    for name, lm in carries.items():
        crops = [page["images"][limb]["crops"].get(lm) for limb in limbs]
        if all(c and c["w"] == c["h"] == crop_side(page["images"][limb]["width"], page["images"][limb]["height"])
               for c, limb in zip(crops, limbs)):
            return f"{limbs[0]}_{name}", lm
    raise AssertionError("no joint with whole crops")


def _shot(element) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("L"), dtype=float)


def _picture(driver, css) -> np.ndarray:
    """The grey values of the picture an SVG <image> shows (its href, a blob the page made, read back through
    a canvas; a file's pixels may not be read back from a page opened from disk)."""
    data = driver.execute_async_script(
        "var done = arguments[1], im = new Image(), href = document.querySelector(arguments[0]).getAttribute('href');"
        "im.onload = function () { try { var c = document.createElement('canvas'); c.width = im.width;"
        " c.height = im.height; var x = c.getContext('2d'); x.drawImage(im, 0, 0);"
        " var d = x.getImageData(0, 0, c.width, c.height).data, g = [];"
        " for (var i = 0; i < d.length; i += 4) g.push(d[i]); done([c.width, c.height, g]); }"
        " catch (err) { done(null); } };"
        "im.onerror = function () { done(null); }; im.src = href;", css)
    assert data, f"the picture of {css} could not be read"
    w, h, g = data
    return np.array(g, float).reshape(h, w)


def _set_window(driver, width, level):
    driver.execute_script("var w = document.getElementById('view-window'), l = document.getElementById('view-level');"
                          "w.value = arguments[0]; l.value = arguments[1];"
                          "w.dispatchEvent(new Event('input'));", width, level)
    return (float(driver.find_element("id", f"view-{k}").get_attribute("value")) for k in ("window", "level"))


def _corr(a, b) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# ------------------------------------------------------------------ crops from the source, 8 bits
@pytest.fixture
def small_site(cohort, tmp_path):  # noqa: F811
    """The cohort's site with copies capped at 160 px: every image is smaller in the site than its source."""
    build_site(cohort["images"], cohort["pred"], tmp_path / "site", landmarks=cohort["landmarks"],
               template=cohort["template"], max_side=160)
    return tmp_path / "site"


def test_strip_crops_come_from_the_source_at_full_resolution_and_window_invert_and_zoom(
        browser, small_site, cohort, tmp_path):  # noqa: F811
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    site, index = small_site, site_index(small_site)
    page = _page(site, "00000")                                          # PHX0001: LH, RH JPEG sources
    assert index["strip"] == {"share": 0.12, "min": 40}
    col, lm = _full_joint(page, index, ["LH", "RH"])
    points = pd.read_csv(cohort["landmarks"]).set_index(["image", "landmark"])
    sources = {}
    for limb in ("LH", "RH"):
        image = page["images"][limb]
        src, info = read_image(cohort["images"] / f"PHX0001-{limb}.jpg")
        sources[limb] = src
        assert max(image["shown"]) == 160 < max(image["width"], image["height"]) == max(src.shape)
        carried = set(index["scheme"]["carries"]["hand"].values())
        assert set(image["crops"]) == carried & set(page["landmarks"][limb])      # one per joint-carrying landmark
        c = image["crops"][lm]
        assert (c["x"], c["y"], c["x"] + c["w"], c["y"] + c["h"]) == crop_box(
            points.loc[(f"PHX0001-{limb}", lm), ["x", "y"]], src.shape[1], src.shape[0])
        with Image.open(site / c["file"]) as im:                          # the source's own pixels
            assert im.size == (c["w"], c["h"])
            got = np.asarray(im.convert("L"), float)
        want = src[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]] * 255
        assert np.abs(got - want).mean() < 4.0 and _corr(got, want) > 0.95     # JPEG (JPEG_QUALITY)
        scale = max(image["shown"]) / max(image["width"], image["height"])
        assert c["w"] * c["h"] > 4 * (c["w"] * scale) * (c["h"] * scale)  # far more pixels than the copy holds there
    deep = sorted(f.name for f in (site / "data" / "crops").iterdir())    # 16-bit crops: the DICOM's (PHX0001-LF) only
    assert deep and all(n.startswith("00000-LF-") for n in deep) and page["images"]["LF"]["bits"] == 12

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url, "00000")
    browser.find_element(By.CSS_SELECTOR, f"input.cell[data-col='{col}']").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#strip svg.crop-view"), what="the strip")
    views = {limb: browser.find_element(By.CSS_SELECTOR, f"#strip svg.crop-view[data-limb='{limb}']")
             for limb in ("LH", "RH")}
    for limb, view in views.items():
        c = page["images"][limb]["crops"][lm]
        assert view.get_attribute("data-source") == "crop"
        pic = view.find_element(By.CSS_SELECTOR, "image.strip-crop")
        assert pic.get_attribute("href") == c["file"] and pic.get_attribute("filter") == f"url(#wl-{limb})"
        assert [float(pic.get_attribute(k)) for k in ("x", "y", "width", "height")] == [c["x"], c["y"], c["w"], c["h"]]
        x, y, w, h = map(float, view.get_dom_attribute("viewBox").split())
        assert w == h == c["w"] and (x + w / 2, y + h / 2) == pytest.approx(
            tuple(points.loc[(f"PHX0001-{limb}", lm), ["x", "y"]]), abs=0.01)
        assert browser.execute_async_script(                             # the file the page loads: the crop's size
            "var done = arguments[1], im = new Image(); im.onload = function () { done([im.width, im.height]); };"
            "im.onerror = function () { done(null); }; im.src = arguments[0];", c["file"]) == [c["w"], c["h"]]

    def shown(limb):            # the crop as drawn (brought back to its own pixels), beside the source's pixels
        c = page["images"][limb]["crops"][lm]
        got = np.asarray(Image.fromarray(_shot(views[limb]).astype(np.uint8)).resize((c["w"], c["h"]),
                                                                                  Image.Resampling.BOX), float)
        return got, sources[limb][c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]] * 255

    got, want = shown("LH")
    assert _corr(got, want) > 0.9
    lo, hi = np.percentile(want, (30, 70))                                # a narrow window of the crop's greys
    width, level = _set_window(browser, (hi - lo) / 255, (lo + hi) / 2 / 255)
    got, want = shown("LH")
    windowed = np.clip((want / 255 - (level - width / 2)) / width, 0, 1) * 255
    assert _corr(got, windowed) > 0.85 and np.abs(got - windowed).mean() < 25
    browser.save_screenshot(str(tmp_path / "strip-window.png"))
    browser.find_element(By.ID, "view-invert").click()
    got_inv, _ = shown("LH")
    assert _corr(got_inv, 255 - windowed) > 0.85 and np.abs(got_inv - (255 - windowed)).mean() < 25
    browser.find_element(By.ID, "view-invert").click()
    browser.find_element(By.ID, "view-full").click()

    side = page["images"]["LH"]["crops"][lm]["w"]                         # the wheel zooms; linked, both sides
    browser.execute_script("var r = arguments[0].getBoundingClientRect();"
                           "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -600,"
                           " clientX: r.x + r.width / 2, clientY: r.y + r.height / 2, bubbles: true, cancelable: true}));", views["LH"])
    lw = float(views["LH"].get_dom_attribute("viewBox").split()[2])
    rw = float(views["RH"].get_dom_attribute("viewBox").split()[2])
    rside = page["images"]["RH"]["crops"][lm]["w"]
    assert lw < 0.5 * side and rw / rside == pytest.approx(lw / side, rel=1e-6)
    zoomed, _ = shown("LH")
    assert zoomed.std() > 1                                               # a picture, not an empty view
    browser.save_screenshot(str(tmp_path / "strip-zoomed.png"))
    ActionChains(browser).double_click(views["LH"]).perform()
    assert float(views["LH"].get_dom_attribute("viewBox").split()[2]) == side
    assert float(views["RH"].get_dom_attribute("viewBox").split()[2]) == rside

    # a landmark moved off its crop: the strip follows it, cut from the site's copy
    mark = browser.find_element(By.CSS_SELECTOR, f".panel[data-limb='LH'] g.lm[data-name='{lm}'] circle")
    ActionChains(browser).move_to_element(mark).click_and_hold().move_by_offset(30, 0).move_by_offset(30, 0) \
        .release().perform()
    moved = _wait(lambda: browser.execute_script(
        "var e = RA2_REVIEW.edits().landmarks['PHX0001-LH']; return e && e[arguments[0]]", lm), what="the move")
    view = _wait(lambda: browser.find_element(By.CSS_SELECTOR, "#strip svg.crop-view[data-limb='LH']"))
    assert view.get_attribute("data-source") == "copy"
    x, y, w, h = map(float, view.get_dom_attribute("viewBox").split())
    assert (x + w / 2, y + h / 2) == pytest.approx(tuple(moved), abs=0.01)


# ------------------------------------------------------------------ crops from the source, 12 bits
@pytest.fixture
def deep_small_site(cohort, tmp_path):  # noqa: F811
    """PHX0002-LH as a true 12-bit DICOM, the site's copies capped at 160 px."""
    from PIL import Image

    from tests.conftest import write_dicom

    images = tmp_path / "images"
    shutil.copytree(cohort["images"], images)
    jpg = images / "PHX0002-LH.jpg"
    grey = np.asarray(Image.open(jpg).convert("L"), dtype=np.int64)
    yy, xx = np.mgrid[0:grey.shape[0], 0:grey.shape[1]]
    write_dicom(jpg.with_suffix(".dcm"), np.clip(grey * 14 + (xx * 3 + yy * 5) % 14, 0, 4095).astype(np.uint16))
    jpg.unlink()
    build_site(images, cohort["pred"], tmp_path / "site", landmarks=cohort["landmarks"], template=cohort["template"],
               max_side=160)
    return tmp_path / "site", images


def test_strip_windows_a_deep_source_on_its_own_16_bit_crop(browser, deep_small_site, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    site, images = deep_small_site
    index = site_index(site)
    page = _page(site, "00001")
    lh = page["images"]["LH"]
    assert lh["bits"] == 12 and lh["deep"] and max(lh["shown"]) == 160
    src, _ = read_image(images / "PHX0002-LH.dcm")
    col, lm = _full_joint(page, index, ["LH", "RH"])
    c = lh["crops"][lm]
    assert "file" not in c and c["deep"].startswith("data/crops/00001-LH-")
    values = _deep_crop(site, c["deep"])                                  # the source's values, at its resolution
    np.testing.assert_array_equal(values, np.round(src[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]] * 65535))
    scale = 160 / max(lh["width"], lh["height"])
    assert values.size > 4 * (c["w"] * scale) * (c["h"] * scale)
    assert page["images"]["RH"]["crops"][lm]["file"]                      # the 8-bit source beside it: JPEG

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url, "00001")
    browser.find_element(By.CSS_SELECTOR, f"input.cell[data-col='{col}']").click()
    view = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#strip svg.crop-view[data-limb='LH']"))[0]
    assert view.get_attribute("data-source") == "deep-crop"
    _wait(lambda: view.get_attribute("data-deep") == "rendered", what="the 16-bit crop")
    css = "#strip image.strip-crop[data-limb='LH']"
    lo_v, hi_v = np.percentile(np.unique(values), (40, 60))               # a window narrower than 8 bits resolve
    width, level = _set_window(browser, (hi_v - lo_v) / 65535, (lo_v + hi_v) / 2 / 65535)
    lo, span = (level - width / 2) * 65535, width * 65535
    want = np.round(np.clip((values.astype(float) - lo) / span, 0, 1) * 255)
    inside = (values >= lo) & (values <= lo + span)
    assert len(np.unique(values[inside])) > 256
    got = _wait(lambda: (lambda g: [g] if g.shape == want.shape and np.abs(g - want).max() <= 1 else None)(
        _picture(browser, css)), what="the windowed 16-bit crop")[0]
    assert len(np.unique(got[inside])) > 200                              # the window's levels all used
    browser.save_screenshot(str(tmp_path / "strip-deep-window.png"))
    browser.find_element(By.ID, "view-invert").click()
    _wait(lambda: (lambda g: g.shape == want.shape and np.abs(g - (255 - want)).max() <= 1)(_picture(browser, css)),
          what="the inverted 16-bit crop")


# ------------------------------------------------------------------ left and right differ; the heatmap's peak
@pytest.fixture
def lr_site(cohort, tmp_path):  # noqa: F811
    """PHX0001's left and right made to differ most (LH/RH_mcp_E__3 by 4, LF/RF_mtp_J__2 by 3), PHX0002 the more
    uncertain patient (``_made_up``), and PHX0001-LH's mcp2 with a low heatmap peak."""
    pred = pd.read_csv(cohort["pred"], dtype={cat.ID: str})
    row = pred[cat.ID] == "PHX0001"
    for col, v in (("LH_mcp_E__3", 4.5), ("RH_mcp_E__3", 0.5), ("LF_mtp_J__2", 4.0), ("RF_mtp_J__2", 1.0)):
        pred.loc[row, col] = v
    pred.to_csv(tmp_path / "pred.csv", index=False)
    unc = pd.read_csv(_made_up(cohort, tmp_path / "u0.csv"), dtype={cat.ID: str})
    unc.loc[(unc["image"] == "PHX0001-LH") & (unc["name"] == "mcp2") & (unc["measure"] == "heatmap_peak"),
            "value"] = 0.05
    unc.to_csv(tmp_path / "u.csv", index=False)
    build_site(cohort["images"], tmp_path / "pred.csv", tmp_path / "site", landmarks=cohort["landmarks"],
               template=cohort["template"], max_side=300, uncertainty=tmp_path / "u.csv")
    return tmp_path / "site", pred.set_index(cat.ID)


def _lr(pred, pid):
    lefts = [c for c in cat.JOINT_COLUMNS if c[0] == "L"]
    return {c: abs(pred.loc[pid, c] - pred.loc[pid, "R" + c[1:]]) for c in lefts}


def test_browser_orders_patients_and_joints_by_how_much_left_and_right_differ(browser, lr_site, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    site, pred = lr_site
    url = (site / "index.html").resolve().as_uri()

    def listed():
        rows = browser.find_elements(By.CSS_SELECTOR, "#patients tbody tr")
        return [r.find_element(By.TAG_NAME, "a").text for r in rows]

    _open(browser, url)
    assert listed() == ["PHX0002", "PHX0001"]                             # most uncertain first, as before
    menu = Select(browser.find_element(By.ID, "list-order"))
    assert [o.text for o in menu.options][:3] == ["as in the predictions file", "most uncertain first",
                                                  "left/right differ most first"]
    assert menu.first_selected_option.text == "most uncertain first"
    menu.select_by_value("lr")
    assert listed() == ["PHX0001", "PHX0002"]                             # left and right differ most first
    sums = {r.find_element(By.TAG_NAME, "a").text: float(r.find_element(By.CSS_SELECTOR, "td.lr").text)
            for r in browser.find_elements(By.CSS_SELECTOR, "#patients tbody tr")}
    assert sums == pytest.approx({pid: round(sum(_lr(pred, pid).values()), 2) for pid in pred.index}, abs=0.01)
    assert browser.find_element(By.CSS_SELECTOR, "th[data-sort='lr']").get_attribute("class") == "sorted"
    browser.save_screenshot(str(tmp_path / "lr-list.png"))
    menu.select_by_value("spread")
    assert listed() == ["PHX0002", "PHX0001"]
    browser.find_element(By.CSS_SELECTOR, "th[data-sort='lr']").click()  # the column sorts the same way
    assert listed() == ["PHX0001", "PHX0002"] and menu.first_selected_option.get_attribute("value") == "lr"

    browser.find_element(By.LINK_TEXT, "PHX0001").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "section.patient[data-patient='PHX0001'] input.cell"))
    mine = _lr(pred, "PHX0001")
    columns = list(cat.SCORE_COLUMNS)
    want = sorted((c for c in mine if round(mine[c], 6) > 0), key=lambda c: (-round(mine[c], 6), columns.index(c)))
    buttons = browser.find_elements(By.CSS_SELECTOR, "#lr-differ button")
    assert [b.get_attribute("data-col") for b in buttons] == want[:8]
    assert want[:2] == ["LH_mcp_E__3", "LF_mtp_J__2"] and "Δ4" in buttons[0].text
    _key(browser, "d")                                                    # the joint whose sides differ most
    strip = _wait(lambda: [s for s in browser.find_elements(By.ID, "strip") if s.is_displayed()], what="the strip")[0]
    assert strip.get_attribute("data-joint") == "LH_mcp_E__3"
    assert browser.find_element(By.ID, "strip-lr").text == "left and right differ by 4"
    _key(browser, "d")
    assert strip.get_attribute("data-joint") == "LF_mtp_J__2"
    assert browser.find_element(By.ID, "strip-lr").text == "left and right differ by 3"
    cell = browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='RH_pip_E__2']")   # any joint: its difference
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'});", cell)
    cell.click()
    _wait(lambda: strip.get_attribute("data-joint") == "RH_pip_E__2", what="the strip")
    assert float(browser.find_element(By.ID, "strip-lr").get_attribute("data-lr")) == pytest.approx(
        mine["LH_pip_E__2"], abs=1e-6)
    browser.save_screenshot(str(tmp_path / "lr-strip.png"))


def test_browser_shows_each_landmarks_heatmap_peak_beside_its_width(browser, lr_site, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    site, _ = lr_site
    unc = read_uncertainty(site / "data" / "source" / "uncertainty.csv", ["PHX0001", "PHX0002"])
    assert unc["peak"]["PHX0001"]["LH"]["mcp2"] == 0.05 and unc["peak"]["PHX0001"]["LH"]["mcp3"] == 0.2
    assert _page(site, "00000")["peaks"]["LH"]["mcp2"] == 0.05
    _open(browser, (site / "index.html").resolve().as_uri(), "00000")
    tips = browser.execute_script(
        "return Array.from(document.querySelectorAll(\".panel[data-limb='LH'] g.lm\")).map(function (g) {"
        " var t = g.querySelector('title'); return [g.getAttribute('data-name'), g.getAttribute('data-peak'),"
        " t ? t.textContent : null]; })")
    assert tips
    for name, peak, tip in tips:
        want = 0.05 if name == "mcp2" else 0.2
        assert float(peak) == want and f"heatmap peak {want:g} " in tip and "heatmap width" in tip, (name, tip)
    browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='LH_mcp_E__2']").click()   # mcp2 in the strip
    conf = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#strip .side[data-col='LH_mcp_E__2'] .lm-conf"))[0]
    assert conf.text == "· mcp2 peak 0.05 width 0.03" and "u1" in conf.get_attribute("class")
    assert not browser.find_elements(By.CSS_SELECTOR, "#strip .side[data-col='RH_mcp_E__2'] .lm-conf")   # none given
    left, right = (browser.find_element(By.CSS_SELECTOR, f"#strip .crop[data-limb='{limb}']").rect
                   for limb in ("LH", "RH"))
    box = browser.find_element(By.ID, "strip").rect                       # a long head widens neither side
    assert abs(left["width"] - right["width"]) <= 1 and right["x"] + right["width"] <= box["x"] + box["width"]
    assert "peak" in browser.find_element(By.CSS_SELECTOR, "p.legend").text
    browser.save_screenshot(str(tmp_path / "heatmap-peak.png"))
