"""Issue 39, points 4-6: the method's own uncertainty (``ra2 predict --uncertainty-out``, ``ra2 review
--uncertainty``), the joint strip, and the viewer (window/level on the source's depth, invert, turn, flip,
enlarge, linked zoom).

The browser tests drive headless Chromium as tests/test_review.py does (its fixtures are reused) and
keep a screenshot of each point in their ``tmp_path`` (not committed).
"""
from __future__ import annotations

import json
import zlib
import base64

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.errors import UsageError
from challenge.schemes import load_scheme
from review.build import build_site
from review.corrections import site_index
from review.uncertainty import COLUMNS, cuts, read_uncertainty
from tests.conftest import untrained_bundle
from tests.test_review import _downloaded, _wait, browser, cohort  # noqa: F401  (fixtures)


def ra2(capsys, *argv):
    from ra2.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ ra2 predict --uncertainty-out (a quick bundle)
@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """A quick bundle (two out-of-fold scorers per kind) and its predictions of two test patients, without
    and with ``--uncertainty-out``."""
    pytest.importorskip("keras")
    from ra2.cli import main

    root = tmp_path_factory.mktemp("unc")
    assert main(["synth", "--out", str(root / "c"), "--train", "6", "--test", "2", "--size-scale", "0.4",
                 "--seed", "4", "-q"]) == 0
    assert main(["train", "--data", str(root / "c" / "train"), "--out", str(root / "bundle"), "--quick"]) == 0
    test = root / "c" / "test"
    base = ["predict", "--bundle", str(root / "bundle"), "--images", str(test), "--template",
            str(test / "template.csv")]
    assert main(base + ["--out", str(root / "plain.csv")]) == 0
    assert main(base + ["--out", str(root / "pred.csv"), "--uncertainty-out", str(root / "u.csv"),
                        "--landmarks-out", str(root / "lm.csv")]) == 0
    return root


@pytest.mark.slow
def test_predict_writes_the_scorers_spread_and_the_heatmaps_confidence_without_changing_the_predictions(predicted):
    from submission.bundle import Bundle

    root = predicted
    assert (root / "plain.csv").read_bytes() == (root / "pred.csv").read_bytes()      # the same predictions
    u = pd.read_csv(root / "u.csv", dtype={cat.ID: str})
    assert tuple(u.columns) == COLUMNS
    assert set(u["measure"]) == {"scorer_sd", "heatmap_width", "heatmap_peak"}
    assert np.isfinite(u["value"]).all() and (u["value"] >= 0).all()
    sd = u[u["measure"] == "scorer_sd"]
    for pid, part in sd.groupby(cat.ID):                   # every joint column of every analysed image, once
        assert sorted(part["name"]) == sorted(cat.JOINT_COLUMNS), pid
        assert all(img == f"{pid}-{col[:2]}" for img, col in zip(part["image"], part["name"]))
    assert sd["value"].max() > 0                            # two scorers trained on other folds disagree somewhere
    assert (sd["value"] <= pd.Series([cat.BY_COLUMN[c].max_score for c in sd["name"]], index=sd.index) / 2).all()
    scheme = Bundle.load(root / "bundle").scheme
    width = u[u["measure"] == "heatmap_width"]
    lm = pd.read_csv(root / "lm.csv")
    assert len(width) == len(lm) == len(u[u["measure"] == "heatmap_peak"])          # one of each per landmark
    for image, part in width.groupby("image"):
        assert sorted(part["name"]) == sorted(scheme.landmarks[cat.kind_of(image[-2:])])
    assert (width["value"] < 0.5).all()                     # a share of the long side
    peak = u[u["measure"] == "heatmap_peak"]["value"]
    assert (peak > 0).all() and (peak <= 1).all()


@pytest.mark.slow
def test_the_members_model_gives_each_scorers_own_answer_and_they_average_to_the_ensembles(predicted):
    from submission.predict import Method

    method = Method(predicted / "bundle", uncertainty=True)
    rng = np.random.default_rng(0)
    for kind in method.kinds:
        models = [method.bundle.load_model(f) for f in method.bundle.scorer_files(kind)]
        shape = method.scorers[kind].inputs
        x = {t.name.split(":")[0]: rng.random((3, *t.shape[1:])).astype(np.float32) for t in shape}
        each = np.asarray(method.members[kind].predict_on_batch(x)["scores"])        # (3, K, C)
        assert each.shape[1] == len(models) == 2
        for k, m in enumerate(models):
            np.testing.assert_allclose(each[:, k], np.asarray(m.predict_on_batch(x)["scores"]), atol=1e-5)
        np.testing.assert_allclose(each.mean(axis=1), np.asarray(method.scorers[kind].predict_on_batch(x)["scores"]),
                                   atol=1e-5)


def test_predict_refuses_uncertainty_from_a_single_scorer_before_any_work(tmp_path, capsys, cohort):  # noqa: F811
    bundle = untrained_bundle(tmp_path / "bundle", load_scheme("svh21"))          # one hand scorer
    out, unc = tmp_path / "p.csv", tmp_path / "u.csv"
    base = ["predict", "--bundle", bundle, "--images", cohort["images"], "--template", cohort["template"]]
    code, _, err = ra2(capsys, *base, "--out", out, "--uncertainty-out", unc)
    assert code == 2 and "fewer than two scorers for hand (1)" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not unc.exists()
    code, _, err = ra2(capsys, *base, "--out", out, "--uncertainty-out", out)
    assert code == 2 and "--out and --uncertainty-out name the same file" in err


# ------------------------------------------------------------------ ra2 review --uncertainty: reading the file
def _uncertainty_csv(path, rows):
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(path, index=False)
    return path


def _made_up(cohort, path):  # noqa: F811
    """A known uncertainty for the test cohort: PHX0002 the more uncertain patient, its RH_mcp_J__3 the most
    uncertain cell; every landmark of PHX0001-LH but mcp2 sharp."""
    rows = []
    for pid, scale in (("PHX0001", 0.1), ("PHX0002", 0.2)):
        for i, col in enumerate(cat.JOINT_COLUMNS):
            rows.append([pid, f"{pid}-{col[:2]}", col, "scorer_sd", round(scale * ((i * 37) % 11) / 10, 4)])
    rows.append(["PHX0002", "PHX0002-RH", "RH_mcp_J__3", "scorer_sd", 1.5])
    rows = [r for r in rows if not (r[0] == "PHX0002" and r[2] == "RH_mcp_J__3" and r[4] != 1.5)]
    lm = pd.read_csv(cohort["landmarks"])
    for _, r in lm[lm["image"] == "PHX0001-LH"].iterrows():
        wide = 0.03 if r["landmark"] == "mcp2" else 0.002
        rows.append(["PHX0001", "PHX0001-LH", r["landmark"], "heatmap_width", wide])
        rows.append(["PHX0001", "PHX0001-LH", r["landmark"], "heatmap_peak", 0.2])
    return _uncertainty_csv(path, rows)


def test_review_reads_the_uncertainty_and_refuses_a_broken_file_in_one_line(cohort, tmp_path, capsys):  # noqa: F811
    good = _made_up(cohort, tmp_path / "u.csv")
    unc = read_uncertainty(good, ["PHX0001", "PHX0002"])
    assert unc["spread"]["PHX0002"]["RH_mcp_J__3"] == 1.5 and len(unc["spread"]["PHX0001"]) == 86
    assert unc["width"]["PHX0001"]["LH"]["mcp2"] == 0.03
    assert cuts([5, 4, 3, 2, 1, 0, 0, 0, 0, 0]) == [4.0, 2.0]           # above: the top 10 %, the next 20 %
    assert cuts([0.03] + [0.002] * 20) == [0.002, 0.002]                # ties: a class is smaller, never larger
    assert cuts([0, 0, 0]) == [0.0, 0.0] and cuts([]) is None
    text = good.read_text()
    for broken, words in [
        (text.replace("scorer_sd", "spread", 1), "line 2: measure 'spread' is none of"),
        (text.replace(",scorer_sd,0.0", ",scorer_sd,-1", 1), "is not a finite number of at least 0"),
        (text.replace("PHX0001,PHX0001-LH", "PHX0001,PHX0002-LH", 1), "image 'PHX0002-LH' is not PHX0001-LIMB"),
        (text.replace("LH_mcp_E__ip", "RH_mcp_E__ip", 1), "'RH_mcp_E__ip' is not a joint column of LH"),
        (text + text.splitlines()[1] + "\n", "is given twice"),
        (text.replace("measure", "what"), "no column measure"),
        ("", "the file is empty"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(broken)
        with pytest.raises(UsageError, match=words):
            read_uncertainty(bad, ["PHX0001", "PHX0002"])
        code, _, err = ra2(capsys, "review", "--images", cohort["images"], "--predictions", cohort["pred"],
                           "--uncertainty", bad, "--out", tmp_path / "site", "-q")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "--uncertainty" in err, (words, err)
        assert not (tmp_path / "site").exists()
    other = _uncertainty_csv(tmp_path / "other.csv", [["NOBODY", "NOBODY-LH", "LH_pip_E__2", "scorer_sd", 1]])
    with pytest.raises(UsageError, match="no row of a patient of the predictions"):
        read_uncertainty(other, ["PHX0001"])
    code, _, err = ra2(capsys, "review", "--uncertainty", good, "--out", tmp_path / "site")
    assert code == 2 and "--uncertainty is read when the site is built" in err


# ------------------------------------------------------------------ the site, in a real browser
@pytest.fixture
def unsure_site(cohort, tmp_path):  # noqa: F811
    unc = _made_up(cohort, tmp_path / "u.csv")
    build_site(cohort["images"], cohort["pred"], tmp_path / "site", landmarks=cohort["landmarks"],
               masks=cohort["masks"], template=cohort["template"], max_side=300, uncertainty=unc)
    return tmp_path / "site"


def _open(driver, url, key=None):
    from selenium.webdriver.common.by import By

    driver.get(url + (f"#p={key}" if key else ""))
    if key:
        return _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "section.patient input.cell"), what="the sheet")
    return _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#patients tbody tr"), what="the patient list")


def _key(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def test_browser_colours_and_orders_by_the_uncertainty(browser, unsure_site, cohort, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    index = site_index(unsure_site)
    unc = read_uncertainty(unsure_site / "data" / "source" / "uncertainty.csv", ["PHX0001", "PHX0002"])
    url = (unsure_site / "index.html").resolve().as_uri()
    rows = _open(browser, url)
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["PHX0002", "PHX0001"]   # most uncertain first
    assert browser.find_element(By.CSS_SELECTOR, "th[data-sort='spread']").get_attribute("class") == "sorted"
    sums = [float(r.find_elements(By.TAG_NAME, "td")[-1].text) for r in rows]
    assert sums == pytest.approx([round(sum(unc["spread"][p].values()), 2) for p in ("PHX0002", "PHX0001")], abs=0.01)
    browser.save_screenshot(str(tmp_path / "uncertainty-list.png"))

    rows[0].find_element(By.TAG_NAME, "a").click()                      # PHX0002, the first of the list
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "section.patient[data-patient='PHX0002'] input.cell"))
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.sheet td[data-col]')).map(function (td) {"
        " return [td.getAttribute('data-col'), Number(td.getAttribute('data-spread')), td.className]; })")
    cut1, cut2 = index["uncertainty"]["cell_cuts"]
    all_cells = sorted((v for p in unc["spread"].values() for v in p.values()), reverse=True)
    n = len(all_cells)
    assert sum(v > cut1 for v in all_cells) <= 0.1 * n and sum(v > cut2 for v in all_cells) <= 0.3 * n
    assert sum(v >= cut1 for v in all_cells) > 0.1 * n and sum(v >= cut2 for v in all_cells) > 0.3 * n
    for col, sd, cls in cells:
        assert sd == unc["spread"]["PHX0002"][col]
        assert ("u1" in cls) == (sd > cut1) and ("u2" in cls) == (cut2 < sd <= cut1), (col, sd, cls)
    assert sum("u1" in c for _, _, c in cells) > 0 and sum("u2" in c for _, _, c in cells) > 0
    ranked = [b.get_attribute("data-col") for b in browser.find_elements(By.CSS_SELECTOR, "#unsure button")]
    mine = unc["spread"]["PHX0002"]
    want = sorted(mine, key=lambda c: (-mine[c], list(index["score_columns"]).index(c)))
    assert ranked == want[:8] and ranked[0] == "RH_mcp_J__3"
    _key(browser, "u")                                                    # the most uncertain joint, in the strip
    strip = _wait(lambda: [s for s in browser.find_elements(By.ID, "strip") if s.is_displayed()], what="the strip")[0]
    assert strip.get_attribute("data-joint") == "RH_mcp_J__3"
    _key(browser, "u")
    assert strip.get_attribute("data-joint") == want[1]
    assert "sel" in browser.find_element(By.CSS_SELECTOR, f"td[data-col='{want[1]}']").get_attribute("class")

    browser.find_element(By.LINK_TEXT, "← list").click()
    _open(browser, url, "00000")                                          # PHX0001
    marks = browser.execute_script(
        "return Array.from(document.querySelectorAll(\".panel[data-limb='LH'] g.lm\")).map(function (g) {"
        " return [g.getAttribute('data-name'), g.getAttribute('class')]; })")
    assert marks and {n for n, c in marks if "u1" in c} == {"mcp2"}           # the one wide heatmap
    rh = browser.find_elements(By.CSS_SELECTOR, ".panel[data-limb='RH'] g.lm")
    assert rh and not any("u1" in g.get_attribute("class") or "u2" in g.get_attribute("class") for g in rh)
    browser.save_screenshot(str(tmp_path / "uncertainty-patient.png"))


def test_browser_joint_strip_scores_and_accepts_rounded(browser, unsure_site, cohort, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    url = (unsure_site / "index.html").resolve().as_uri()
    _open(browser, url, "00000")                                          # PHX0001
    index = site_index(unsure_site)
    pred = dict(zip(index["score_columns"], index["patients"][0]["scores"]))
    browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='LH_pip_E__2']").click()
    strip = _wait(lambda: [s for s in browser.find_elements(By.ID, "strip") if s.is_displayed()], what="the strip")[0]
    sides = strip.find_elements(By.CSS_SELECTOR, ".side")
    assert [s.get_attribute("data-col") for s in sides] == ["LH_pip_E__2", "RH_pip_E__2"]
    for side in sides:                                                    # erosion of a hand joint: 0-5
        assert [b.text for b in side.find_elements(By.CSS_SELECTOR, ".scores button")] == [str(i) for i in range(6)]
        col = side.get_attribute("data-col")
        value = side.find_element(By.CSS_SELECTOR, ".method").text
        assert f"method {round(pred[col], 2):g}" in value and f"records {round(pred[col])}" in value, value
        crop = side.find_element(By.CSS_SELECTOR, "svg.crop-view")      # centred on the joint's landmark
        x, y, w, h = map(float, crop.get_dom_attribute("viewBox").split())
        limb = col[:2]
        lm = pd.read_csv(cohort["landmarks"]).set_index(["image", "landmark"]).loc[(f"PHX0001-{limb}", "pip2")]
        assert (x + w / 2, y + h / 2) == pytest.approx((lm["x"], lm["y"]), abs=0.01)
        image = json.loads((unsure_site / "data" / "patients" / "00000.js").read_text()[len("RA2_LOADED("):-3]
                           )["images"][limb]
        assert w == h == max(40, round(0.12 * max(image["width"], image["height"])))
    browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='LF_mtp_J__3']").click()   # narrowing: 0-4
    first = "#strip .side:first-child .scores button"
    assert _wait(lambda: [b.text for b in browser.find_elements(By.CSS_SELECTOR, first)]) == [str(i) for i in range(5)]
    browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='LF_mtp_E__3']").click()   # foot erosion: 0-10
    assert len(_wait(lambda: browser.find_elements(By.CSS_SELECTOR, first))) == 11

    total = float(browser.find_element(By.ID, "total-total").text)
    accept = browser.find_element(By.CSS_SELECTOR, "#strip .side[data-col='LF_mtp_E__3'] .accept")
    accept.click()                                                        # the method's value, rounded
    rounded = round(pred["LF_mtp_E__3"])
    assert browser.execute_script("return RA2_REVIEW.edits().scores.PHX0001") == {"LF_mtp_E__3": rounded}
    assert browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='LF_mtp_E__3']").get_attribute("value") == \
        str(rounded)
    assert float(browser.find_element(By.ID, "total-total").text) == pytest.approx(
        total + rounded - pred["LF_mtp_E__3"], abs=0.051)
    browser.find_element(By.CSS_SELECTOR, "#strip .side[data-col='RF_mtp_E__3'] .scores button[data-score='7']").click()
    assert browser.execute_script("return RA2_REVIEW.edits().scores.PHX0001") == {"LF_mtp_E__3": rounded,
                                                                                  "RF_mtp_E__3": 7}
    on = browser.find_element(By.CSS_SELECTOR, "#strip .side[data-col='RF_mtp_E__3'] .scores button.on")
    assert on.text == "7"
    browser.save_screenshot(str(tmp_path / "joint-strip.png"))


def _deep_values(site, key):
    text = (site / "data" / "deep" / f"{key}.js").read_text()
    body = json.loads(text[text.index(",") + 1:text.rindex(")")])
    raw = zlib.decompress(base64.b64decode(body["data"]))
    return np.frombuffer(raw, "<u2").reshape(body["height"], body["width"])


@pytest.fixture
def deep_site(cohort, tmp_path):  # noqa: F811
    """The cohort with PHX0002-LH as a true 12-bit DICOM (about 3,500 grey levels, no window in the file),
    built at full size."""
    import shutil

    from PIL import Image

    from tests.conftest import write_dicom

    images = tmp_path / "images"
    shutil.copytree(cohort["images"], images)
    jpg = images / "PHX0002-LH.jpg"
    grey = np.asarray(Image.open(jpg).convert("L"), dtype=np.int64)
    yy, xx = np.mgrid[0:grey.shape[0], 0:grey.shape[1]]
    pixels = np.clip(grey * 14 + (xx * 3 + yy * 5) % 14, 0, 4095).astype(np.uint16)
    write_dicom(jpg.with_suffix(".dcm"), pixels)
    jpg.unlink()
    build_site(images, cohort["pred"], tmp_path / "site", landmarks=cohort["landmarks"], template=cohort["template"],
               max_side=4000)
    return tmp_path / "site", images


def test_browser_viewer_windows_the_source_depth_inverts_turns_enlarges_and_links(
        browser, deep_site, cohort, tmp_path):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from challenge.images import read_image

    site, images = deep_site
    page = json.loads((site / "data" / "patients" / "00001.js").read_text()[len("RA2_LOADED("):-3])
    assert page["images"]["LH"]["deep"] == "data/deep/00001-LH.js" and page["images"]["LH"]["bits"] == 12
    assert page["images"]["RH"]["deep"] is None                            # an 8-bit JPEG: its JPEG copy is enough
    assert sorted(p.name for p in (site / "data" / "deep").iterdir()) == ["00000-LF.js", "00001-LH.js"]
    values = _deep_values(site, "00001-LH")
    source, _ = read_image(images / "PHX0002-LH.dcm")
    np.testing.assert_array_equal(values, np.round(source * 65535))        # the source's values, all of them
    assert len(np.unique(values)) > 2000                                  # far more than 256 levels

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url, "00001")
    lh = browser.find_element(By.CSS_SELECTOR, ".panel[data-limb='LH']")
    rh = browser.find_element(By.CSS_SELECTOR, ".panel[data-limb='RH']")
    _wait(lambda: lh.get_attribute("data-deep") == "rendered", what="the 16-bit picture")
    lo_v, hi_v = np.percentile(np.unique(values), (40, 60))                # a narrow window: 8 bits could not
    browser.execute_script("var w = document.getElementById('view-window'), l = document.getElementById('view-level');"
                           "w.value = arguments[0]; l.value = arguments[1];"
                           "w.dispatchEvent(new Event('input'));", (hi_v - lo_v) / 65535, (lo_v + hi_v) / 2 / 65535)
    width, level = (float(browser.find_element(By.ID, f"view-{k}").get_attribute("value")) for k in ("window", "level"))
    lo, span = (level - width / 2) * 65535, width * 65535
    want = np.round(np.clip((values.astype(float) - lo) / span, 0, 1) * 255)
    inside = (values >= lo) & (values <= lo + span)
    assert len(np.unique(values[inside])) > 256                            # more levels in the window than 8 bits hold
    shown = _wait(lambda: (lambda g: [g] if g.shape == want.shape and np.abs(g - want).max() <= 1 else None)(
        _rendered(browser, "LH")), what="the windowed 16-bit picture")[0]
    assert len(np.unique(shown[inside])) > 200                             # its grey levels all used
    assert "of 0–4095" in lh.find_element(By.CSS_SELECTOR, ".wl").text     # in the source's own levels
    rh_matrix = [float(v) for v in browser.find_element(By.CSS_SELECTOR, "#wl-RH feColorMatrix")
                 .get_attribute("values").split()]                         # an 8-bit source: an SVG colour matrix
    assert rh_matrix[0] == pytest.approx(1 / width) and rh_matrix[4] == pytest.approx(-lo / 65535 / width)
    browser.find_element(By.ID, "view-invert").click()
    _wait(lambda: (lambda g: g.shape == want.shape and np.abs(g - (255 - want)).max() <= 1)(_rendered(browser, "LH")),
          what="the inverted picture")
    rh_matrix = [float(v) for v in browser.find_element(By.CSS_SELECTOR, "#wl-RH feColorMatrix")
                 .get_attribute("values").split()]
    assert rh_matrix[0] == pytest.approx(-1 / width) and rh_matrix[4] == pytest.approx(1 + lo / 65535 / width)
    browser.save_screenshot(str(tmp_path / "viewer-window-invert.png"))
    browser.find_element(By.ID, "view-full").click()
    browser.find_element(By.ID, "view-invert").click()

    # linked zoom: the wheel on the left hand's mcp3; the right hand follows to its own mcp3, at the same zoom
    target = lh.find_element(By.CSS_SELECTOR, "g.lm[data-name='mcp3'] circle")
    browser.execute_script("var r = arguments[0].getBoundingClientRect(), s = arguments[1];"
                           "s.dispatchEvent(new WheelEvent('wheel', {deltaY: -900, clientX: r.x + r.width / 2,"
                           " clientY: r.y + r.height / 2, bubbles: true, cancelable: true}));",
                           target, lh.find_element(By.CSS_SELECTOR, "svg.view"))
    lm = pd.read_csv(cohort["landmarks"]).set_index(["image", "landmark"])
    lx, ly, lw, lhh = map(float, lh.find_element(By.CSS_SELECTOR, "svg.view").get_dom_attribute("viewBox").split())
    x, y, w, h = map(float, rh.find_element(By.CSS_SELECTOR, "svg.view").get_dom_attribute("viewBox").split())
    assert lw < 0.5 * page["images"]["LH"]["width"]                         # zoomed in
    assert w / page["images"]["RH"]["width"] == pytest.approx(lw / page["images"]["LH"]["width"], rel=0.01)
    rx, ry = lm.loc[("PHX0002-RH", "mcp3"), ["x", "y"]]
    assert x <= rx <= x + w and y <= ry <= y + h                           # its mcp3 in view
    browser.save_screenshot(str(tmp_path / "viewer-linked.png"))
    lh.find_element(By.CSS_SELECTOR, "button").click()                      # fit
    browser.find_element(By.ID, "view-link").click()                        # unlinked: the right hand stays
    before = rh.find_element(By.CSS_SELECTOR, "svg.view").get_dom_attribute("viewBox")
    browser.execute_script("arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: 200,"
                           " clientY: 300, bubbles: true, cancelable: true}));",
                           lh.find_element(By.CSS_SELECTOR, "svg.view"))
    assert rh.find_element(By.CSS_SELECTOR, "svg.view").get_dom_attribute("viewBox") == before
    lh.find_element(By.CSS_SELECTOR, "button").click()

    # turn the left hand by 90° clockwise (its top to the right): a landmark dragged to the right on screen
    # moves towards the image's top (y falls), not across it
    lh.find_element(By.CSS_SELECTOR, "button.turn").click()
    assert lh.get_attribute("data-rot") == "90"
    vb = lh.find_element(By.CSS_SELECTOR, "svg.view").get_dom_attribute("viewBox").split()
    assert float(vb[2]) == page["images"]["LH"]["height"] and float(vb[3]) == page["images"]["LH"]["width"]
    mark = lh.find_element(By.CSS_SELECTOR, "g.lm[data-name='mcp2'] circle")
    x0, y0 = float(mark.get_attribute("cx")), float(mark.get_attribute("cy"))
    ActionChains(browser).move_to_element(mark).click_and_hold().move_by_offset(10, 0).move_by_offset(10, 0) \
        .release().perform()
    moved = _wait(lambda: browser.execute_script(
        "var e = RA2_REVIEW.edits().landmarks['PHX0002-LH']; return e && e.mcp2"), what="the moved landmark")
    assert moved[1] - y0 < -10 and abs(moved[0] - x0) < 0.1 * abs(moved[1] - y0)
    lh.find_element(By.CSS_SELECTOR, "button.flip").click()
    assert lh.get_attribute("data-flip") == "1"
    label = lh.find_element(By.CSS_SELECTOR, "g.lm[data-name='mcp2'] text").rect
    assert label["width"] > label["height"]                                 # labels stay upright (not turned)
    browser.save_screenshot(str(tmp_path / "viewer-turned-flipped.png"))

    small = lh.size
    lh.find_element(By.CSS_SELECTOR, "button.enlarge").click()              # one panel alone, enlarged
    assert lh.is_displayed() and not rh.is_displayed()
    assert lh.size["width"] > 1.8 * small["width"] and lh.size["height"] > 1.8 * small["height"]
    browser.save_screenshot(str(tmp_path / "viewer-enlarged.png"))
    lh.find_element(By.CSS_SELECTOR, "button.enlarge").click()
    assert lh.is_displayed() and rh.is_displayed()


def _rendered(driver, limb) -> np.ndarray:
    """The grey values of a deep panel's rendered picture (its blob read back through a canvas)."""
    data = driver.execute_async_script(
        "var done = arguments[1], im = new Image(),"
        " href = document.querySelector(\".panel[data-limb='\" + arguments[0] + \"'] image.pic\").getAttribute('href');"
        "im.onload = function () { var c = document.createElement('canvas'); c.width = im.width;"
        " c.height = im.height; var x = c.getContext('2d'); x.drawImage(im, 0, 0);"
        " var d = x.getImageData(0, 0, c.width, c.height).data, g = [];"
        " for (var i = 0; i < d.length; i += 4) g.push(d[i]); done([c.width, c.height, g]); };"
        "im.onerror = function () { done(null); }; im.src = href;", limb)
    assert data, "the rendered picture could not be read"
    w, h, g = data
    return np.array(g, float).reshape(h, w)
