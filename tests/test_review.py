"""``ra2 review``: the static site, the corrections it saves, the local server, and a real browser.

The browser tests drive Debian's headless Chromium with Selenium (``.ci/run`` installs
``chromium`` and ``chromium-driver``): they open the site from disk and from ``--serve``,
edit a score, drag a landmark, download, and check the CSV files validate and hold the edits.
"""
from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.errors import UsageError
from challenge.landmarks import read_landmarks
from challenge.tables import TableError, read_scores, write_scores
from evaluator.checks import validate_file
from challenge.outputs import RECORD
from review.build import build_site
from tests.conftest import untrained_bundle
from review.corrections import CorrectionError, save_corrections, saved_edits, site_index
from review.layout import check_layout, form_layout

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


# ------------------------------------------------------------------ a tiny cohort and its site
@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Two test patients: train-mean predictions (non-integer scores), gold landmarks and masks,
    one broken image, one image as DICOM."""
    from baselines.predictors import predict_baseline
    from phantoms.cohort import make_cohort

    root = tmp_path_factory.mktemp("review")
    make_cohort(root / "c", 3, 2, seed=5, size_scale=0.4)
    images = root / "images"
    shutil.copytree(root / "c" / "test", images)
    (images / "PHX0002-RF.jpg").write_bytes(b"broken")
    _as_dicom(images / "PHX0001-LF.jpg")
    template = images / "template.csv"
    preds = write_scores(predict_baseline("train-mean", root / "c" / "train", images), root / "pred.csv", template)
    return {"root": root, "images": images, "template": template, "pred": preds,
            "landmarks": root / "c" / "gold" / "landmarks.csv", "masks": root / "c" / "gold" / "masks"}


def _as_dicom(jpg: Path) -> None:
    """Replace a JPEG by a 12-bit MONOCHROME1 DICOM file of the same picture, with a pixel spacing."""
    pydicom = pytest.importorskip("pydicom")
    from PIL import Image

    from tests.conftest import write_dicom

    pixels = 4095 - np.asarray(Image.open(jpg).convert("L"), dtype=np.uint16) * 16
    write_dicom(jpg.with_suffix(".dcm"), pixels, photometric="MONOCHROME1", PixelSpacing=[0.2, 0.2])
    assert pydicom.dcmread(jpg.with_suffix(".dcm")).Rows == pixels.shape[0]
    jpg.unlink()


@pytest.fixture
def site(cohort, tmp_path):
    build_site(cohort["images"], cohort["pred"], tmp_path / "site", landmarks=cohort["landmarks"],
               masks=cohort["masks"], template=cohort["template"], max_side=300)
    return tmp_path / "site"


def _patient_js(site: Path, key: str) -> dict:
    text = (site / "data" / "patients" / f"{key}.js").read_text()
    assert text.startswith("RA2_LOADED(") and text.rstrip().endswith(");")
    return json.loads(text.strip()[len("RA2_LOADED("):-2])


# ------------------------------------------------------------------ the site's files
def test_the_form_holds_every_joint_once():
    layout = form_layout()
    check_layout(layout)
    broken = json.loads(json.dumps(layout))
    broken["hand"]["sections"][0]["rows"].pop()
    with pytest.raises(AssertionError, match="every joint"):
        check_layout(broken)


def test_site_files_images_and_failed_images(site, cohort):
    index = site_index(site)
    assert (site / RECORD).exists() and (site / "index.html").exists() and (site / "assets" / "review.js").exists()
    assert [p["id"] for p in index["patients"]] == ["PHX0001", "PHX0002"]
    assert index["csv_columns"] == list(pd.read_csv(cohort["template"]).columns)
    pred = read_scores(cohort["pred"])
    first = index["patients"][0]
    assert first["scores"] == pytest.approx([pred.loc["PHX0001", c] for c in cat.SCORE_COLUMNS], abs=1e-6)
    assert index["patients"][1]["failed"] == [
        {"limb": "RF", "reason": "PHX0002-RF.jpg: not an image file (it holds text: 'broken'...)"}]
    page = _patient_js(site, "00000")
    lf = page["images"]["LF"]
    assert (lf["format"], lf["bits"], lf["mm_per_pixel"]) == ("DICOM", 12, 0.2)      # read through pydicom
    for limb in cat.LIMBS:
        image = page["images"][limb]
        from PIL import Image
        with Image.open(site / image["file"]) as im:
            assert max(im.size) <= 300 and im.size == tuple(image["shown"])
        assert image["mask"] and (site / image["mask"]).exists()
    assert set(page["landmarks"]["LH"]) == set(index["scheme"]["carries"]["hand"].values())
    assert index["scheme"]["name"] == "svh21"


def test_rebuild_replaces_the_site_keeps_corrections_and_spares_other_folders(site, cohort, tmp_path):
    (site / "corrections").mkdir()
    (site / "corrections" / "edits.json").write_text('{"edits": {"scores": {}, "landmarks": {}}}')
    (site / "images" / "added.jpg").write_bytes(b"someone's")      # a file the site did not write: refused
    with pytest.raises(UsageError, match="images/added.jpg"):
        build_site(cohort["images"], cohort["pred"], site, landmarks=cohort["landmarks"], max_side=200)
    assert (site / "images" / "added.jpg").read_bytes() == b"someone's"
    (site / "images" / "added.jpg").unlink()
    build_site(cohort["images"], cohort["pred"], site, landmarks=cohort["landmarks"], max_side=200)
    assert (site / "corrections" / "edits.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]        # no temporary folder left
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a folder that ra2 review wrote"):
        build_site(cohort["images"], cohort["pred"], other)
    assert (other / "notes.txt").read_text() == "mine"


def test_the_bundle_scheme_ties_rows_to_landmarks(cohort, tmp_path):
    from challenge.schemes import load_scheme

    bundle = untrained_bundle(tmp_path / "bundle", load_scheme("coarse13"))
    build_site(cohort["images"], cohort["pred"], tmp_path / "s", bundle=bundle, max_side=100)
    carries = site_index(tmp_path / "s")["scheme"]
    assert carries["name"] == "coarse13" and carries["carries"]["hand"]["wrist_J__radcar"] == "wrist_proximal"
    manifest = json.loads((bundle / "bundle.json").read_text())
    manifest["scheme"]["name"] = "edited"                            # an edited manifest is not the bundle
    (bundle / "bundle.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="bundle.json: changed since training"):
        build_site(cohort["images"], cohort["pred"], tmp_path / "s", bundle=bundle)


def test_unusable_inputs_are_one_clear_line(cohort, tmp_path, capsys):
    from ra2.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text(cohort["pred"].read_text().replace("PHX0002,", "PHX0002,x", 1))
    with pytest.raises(TableError, match=r"bad\.csv is not a valid predictions file"):
        build_site(cohort["images"], bad, tmp_path / "s")
    assert main(["review", "--images", str(cohort["images"]), "--out", str(tmp_path / "s")]) == 2
    assert "--images and --predictions go together" in capsys.readouterr().err
    assert main(["review", "--out", str(tmp_path / "s"), "--serve"]) == 2
    assert "not a review site" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------ corrections
def test_corrections_are_checked_and_written_valid(site, cohort):
    edits = {"scores": {"PHX0001": {"LH_pip_E__2": 4, "RF_mtp_J__3": 2.5}},
             "landmarks": {"PHX0001-LH": {"mcp2": [10.5, 20.25]}}}
    info = save_corrections(site, edits)
    out = site / "corrections"
    assert info["scores"] == 2 and info["landmarks"] == 1
    assert not [p for p in validate_file(out / "predictions.csv", cohort["template"]) if p.level == "error"]
    got, pred = read_scores(out / "predictions.csv"), read_scores(cohort["pred"])
    assert got.loc["PHX0001", "LH_pip_E__2"] == 4 and got.loc["PHX0001", "RF_mtp_J__3"] == 2.5
    assert got.loc["PHX0001", cat.TOTAL] == pytest.approx(got.loc["PHX0001", list(cat.JOINT_COLUMNS)].sum(), abs=1e-3)
    joints = list(cat.JOINT_COLUMNS)                     # totals are sums of the rounded joints: compare joints
    assert np.allclose(got.loc["PHX0002", joints], pred.loc["PHX0002", joints], atol=1e-4)
    assert list(pd.read_csv(out / "predictions.csv").columns) == list(pd.read_csv(cohort["template"]).columns)
    lm = read_landmarks(out / "landmarks.csv").set_index(["image", "landmark"])
    assert tuple(lm.loc[("PHX0001-LH", "mcp2"), ["x", "y"]]) == (10.5, 20.25)
    assert saved_edits(site)["edits"] == edits
    for bad, words in [
        ({"scores": {"PHX0001": {"LH_pip_E__2": 6}}}, "LH_pip_E__2: 6 is outside 0-5"),
        ({"scores": {"PHX0001": {"LF_mtp_E__1": -1}}}, "outside 0-10"),
        ({"scores": {"PHX0001": {"Overall_Tol": 3}}}, "not a joint score column"),
        ({"scores": {"NOBODY": {"LH_pip_E__2": 1}}}, "patient 'NOBODY' is not in the predictions"),
        ({"scores": {"PHX0001": {"LH_pip_E__2": "2"}}}, "is not a finite number"),
        ({"landmarks": {"PHX0001-LH": {"nowhere": [1, 2]}}}, "has no landmark 'nowhere'"),
        ({"landmarks": {"PHX0001-LH": {"mcp2": [1]}}}, "expected \\[x, y\\]"),
        ([], "edits must be"),
    ]:
        with pytest.raises(CorrectionError, match=words):
            save_corrections(site, bad)
    assert read_scores(out / "predictions.csv").loc["PHX0001", "LH_pip_E__2"] == 4     # a refused edit costs nothing


# ------------------------------------------------------------------ the local server
@pytest.fixture
def served(site):
    from review.server import make_server

    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _post(url, body, headers=None):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_binds_localhost_and_saves_only_good_edits_from_its_own_page(served, site):
    assert served.server_address[0] == "127.0.0.1"
    api = served.url + "api/corrections"
    with urllib.request.urlopen(served.url + "index.html", timeout=10) as r:
        assert b"RA2 review" in r.read()
    with urllib.request.urlopen(api, timeout=10) as r:
        assert json.loads(r.read())["edits"] == {"scores": {}, "landmarks": {}}
    sid = site_index(site)["site_id"]
    good = {"site_id": sid, "edits": {"scores": {"PHX0002": {"RH_mcp_J__3": 3}}, "landmarks": {}}}
    assert _post(api, good, {"Origin": "http://evil.example"})[0] == 403
    assert _post(api, {**good, "site_id": "other"})[0] == 409
    code, body = _post(api, {"site_id": sid, "edits": {"scores": {"PHX0002": {"RH_mcp_J__3": 9}}}})
    assert code == 400 and "outside 0-4" in body["error"] and not (site / "corrections" / "predictions.csv").exists()
    code, body = _post(api, good)
    assert code == 200 and body["folder"] == "corrections/" and body["scores"] == 1
    assert read_scores(site / "corrections" / "predictions.csv").loc["PHX0002", "RH_mcp_J__3"] == 3
    with urllib.request.urlopen(api, timeout=10) as r:
        assert json.loads(r.read())["edits"] == good["edits"]


# ------------------------------------------------------------------ a real browser
@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no chromium/chromedriver on PATH (Debian: apt-get install chromium chromium-driver; .ci/run does)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1500,950", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def _wait(predicate, timeout=15.0, what="the page"):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _downloaded(driver, name) -> Path:
    path = driver.downloads / name
    _wait(lambda: path.exists() and path.stat().st_size > 0 and not list(driver.downloads.glob("*.crdownload")),
          what=f"the download {name}")
    return path


def _edit_and_drag(driver, url):
    """Open patient 1, correct a score (and try an out-of-range one), drag a landmark; returns the
    landmark's move in image pixels."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(url + "#p=00000")
    cell = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "input.cell[data-col='LH_pip_E__2']"),
                 what="the score sheet")[0]
    total = driver.find_element(By.ID, "total-total")
    before = float(total.text)
    cell.send_keys(Keys.CONTROL, "a")
    cell.send_keys("4")
    _wait(lambda: "edited" in cell.get_attribute("class"), what="the edited cell")
    predicted = driver.execute_script("return RA2_INDEX.patients[0].scores[RA2_INDEX.score_columns"
                                      ".indexOf('LH_pip_E__2')]")
    assert float(total.text) == pytest.approx(before + 4 - predicted, abs=0.11)        # the total recomputes
    other = driver.find_element(By.CSS_SELECTOR, "input.cell[data-col='RH_mcp_J__2']")
    other.send_keys(Keys.CONTROL, "a")
    other.send_keys("7")                                                                  # narrowing is 0-4
    assert "bad" in other.get_attribute("class")
    other.send_keys(Keys.TAB)
    assert "bad" not in other.get_attribute("class") and other.get_attribute("value") != "7"
    assert "RH_mcp_J__2" not in driver.execute_script("return RA2_REVIEW.edits().scores.PHX0001")

    mark = driver.find_element(By.CSS_SELECTOR, ".panel[data-limb='LH'] g.lm[data-name='mcp2'] circle")
    x0, y0 = float(mark.get_attribute("cx")), float(mark.get_attribute("cy"))
    ActionChains(driver).move_to_element(mark).click_and_hold().move_by_offset(15, 10).move_by_offset(15, 10) \
        .release().perform()
    moved = _wait(lambda: driver.execute_script(
        "var e = RA2_REVIEW.edits().landmarks['PHX0001-LH']; return e && e.mcp2"), what="the moved landmark")
    assert moved[0] - x0 > 1 and moved[1] - y0 > 1
    return x0, y0, moved


def _check_files(pred_csv: Path, lm_csv: Path, cohort, moved, x0, y0):
    assert not [p for p in validate_file(pred_csv, cohort["template"]) if p.level == "error"], \
        [str(p) for p in validate_file(pred_csv, cohort["template"])]
    got, pred = read_scores(pred_csv), read_scores(cohort["pred"])
    assert got.loc["PHX0001", "LH_pip_E__2"] == 4
    joints = list(cat.JOINT_COLUMNS)
    assert got.loc["PHX0001", cat.TOTAL] == pytest.approx(got.loc["PHX0001", joints].sum(), abs=1e-3)
    assert got.loc["PHX0001", cat.TOTAL_EROSION] == pytest.approx(got.loc["PHX0001", list(cat.EROSION_COLUMNS)].sum(),
                                                                  abs=1e-3)
    others = [c for c in joints if c != "LH_pip_E__2"]
    assert np.allclose(got.loc["PHX0001", others], pred.loc["PHX0001", others], atol=1e-4)
    assert np.allclose(got.loc["PHX0002", joints], pred.loc["PHX0002", joints], atol=1e-4)
    assert list(pd.read_csv(pred_csv).columns) == list(pd.read_csv(cohort["template"]).columns)
    lm, src = (read_landmarks(p).set_index(["image", "landmark"]) for p in (lm_csv, cohort["landmarks"]))
    assert len(lm) == len(src)
    assert tuple(lm.loc[("PHX0001-LH", "mcp2"), ["x", "y"]]) == pytest.approx(tuple(moved), abs=0.01)
    assert tuple(src.loc[("PHX0001-LH", "mcp2"), ["x", "y"]]) == pytest.approx((x0, y0), abs=0.01)
    rest = lm.drop(("PHX0001-LH", "mcp2"))
    assert np.allclose(rest[["x", "y"]], src.loc[rest.index, ["x", "y"]], atol=0.01)


def test_browser_from_disk_edit_drag_download(browser, site, cohort, tmp_path):
    from selenium.webdriver.common.by import By

    url = (site / "index.html").resolve().as_uri()
    x0, y0, moved = _edit_and_drag(browser, url)
    browser.save_screenshot(str(tmp_path / "patient.png"))
    browser.find_element(By.ID, "dl-predictions").click()
    pred_csv = _downloaded(browser, "predictions_corrected.csv")
    browser.find_element(By.ID, "dl-landmarks").click()
    lm_csv = _downloaded(browser, "landmarks_corrected.csv")
    _check_files(pred_csv, lm_csv, cohort, moved, x0, y0)

    browser.refresh()                                          # the edits outlive a reload (localStorage) ...
    cell = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "input.cell[data-col='LH_pip_E__2']"))[0]
    assert cell.get_attribute("value") == "4"
    browser.find_element(By.ID, "reset-patient").click()       # ... until "reset to predictions"
    cell = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "input.cell[data-col='LH_pip_E__2']"))[0]
    assert "edited" not in cell.get_attribute("class")
    assert browser.execute_script("return RA2_REVIEW.edits()") == {"scores": {}, "landmarks": {}}

    browser.get(url)                                           # the list: failed-images filter and sorting
    rows = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#patients tbody tr"))
    assert len(rows) == 2
    browser.find_element(By.ID, "failed-only").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#patients tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["PHX0002"]
    browser.find_element(By.ID, "failed-only").click()
    browser.find_element(By.CSS_SELECTOR, "th[data-sort='Overall_Tol']").click()
    totals = [float(r.find_elements(By.TAG_NAME, "td")[2].text)
              for r in browser.find_elements(By.CSS_SELECTOR, "#patients tbody tr")]
    assert totals == sorted(totals, reverse=True)


def test_browser_against_the_server_saves_to_disk(browser, served, site, cohort):
    from selenium.webdriver.common.by import By

    x0, y0, moved = _edit_and_drag(browser, served.url)
    status = browser.find_element(By.ID, "status")
    _wait(lambda: status.text.startswith("saved"), what="the save to disk")
    _wait(lambda: saved_edits(site)["edits"]["landmarks"], what="the landmark edit on disk")
    out = site / "corrections"
    _check_files(out / "predictions.csv", out / "landmarks.csv", cohort, moved, x0, y0)
    browser.find_element(By.ID, "dl-predictions").click()      # downloads work when served too
    assert read_scores(_downloaded(browser, "predictions_corrected.csv")).loc["PHX0001", "LH_pip_E__2"] == 4
    browser.refresh()                                          # the page reloads what the server saved
    cell = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "input.cell[data-col='LH_pip_E__2']"))[0]
    assert cell.get_attribute("value") == "4"
