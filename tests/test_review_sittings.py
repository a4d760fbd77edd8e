"""``ra2 review`` over several sittings (issue 39): the method's totals are kept (an edit moves them
by its difference, never resums them), drafts outlive a rebuild of the same predictions and reach
the server only when the reader sends them, an exported CSV loads back as edits, and each patient's
review state (not reviewed / reviewed / corrected) is kept, shown, keyed and exported.

The browser tests drive headless Chromium as tests/test_review.py does (its fixtures are reused).
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.outputs import file_sha256
from review.build import build_site
from review.corrections import CorrectionError, moved_totals, review_states, save_corrections, site_index
from tests.test_review import _downloaded, _wait, browser, cohort  # noqa: F401  (fixtures)

EXTRA = ("PHX0003", "PHX0004")      # patients without images: four patients for the review progress


@pytest.fixture(scope="module")
def calibrated(cohort):  # noqa: F811
    """The cohort's predictions for four patients with calibrated totals (not the sums of the joints)
    and joints with many decimals: an export that resums or rounds cannot give them back."""
    frame = pd.read_csv(cohort["pred"], dtype={cat.ID: str})
    rng = np.random.default_rng(3)
    extra = frame.iloc[[0, 1]].copy()
    extra[cat.ID] = list(EXTRA)
    frame = pd.concat([frame, extra], ignore_index=True)
    for col in cat.JOINT_COLUMNS:
        frame[col] = np.clip(frame[col] + rng.uniform(-0.3, 0.3, len(frame)), 0, cat.BY_COLUMN[col].max_score)
        frame[col] = frame[col].round(9)
    ero, nar = frame[list(cat.EROSION_COLUMNS)].sum(axis=1), frame[list(cat.NARROWING_COLUMNS)].sum(axis=1)
    frame[cat.TOTAL_EROSION] = (0.87 * ero + 1.2345678901).round(10)
    frame[cat.TOTAL_NARROWING] = (0.91 * nar + 0.7654321).round(10)
    frame[cat.TOTAL] = (0.9 * (ero + nar) + 2.0000001).round(10)
    path = cohort["root"] / "calibrated.csv"
    frame.to_csv(path, index=False)
    return path


def _build(cohort, calibrated, out):  # noqa: F811
    build_site(cohort["images"], calibrated, out, max_side=120)
    return out


@pytest.fixture
def site(cohort, calibrated, tmp_path):  # noqa: F811
    return _build(cohort, calibrated, tmp_path / "site")


def _frame(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={cat.ID: str}).set_index(cat.ID)


def _assert_same_values(got: pd.DataFrame, want: pd.DataFrame, rows=None):
    """Every value of ``rows`` (default all) equal, exactly, column by column."""
    rows = list(want.index) if rows is None else rows
    assert list(got.columns) == list(want.columns)
    for col in want.columns:
        a, b = got.loc[rows, col].to_numpy(float), want.loc[rows, col].to_numpy(float)
        assert (a == b).all(), (col, a, b)


# ------------------------------------------------------------------ the totals rule, server side
def test_server_export_keeps_predicted_totals_and_moves_edited_ones(site, calibrated):
    pred = _frame(calibrated)
    assert pred.loc["PHX0001", cat.TOTAL] != pytest.approx(pred.loc["PHX0001", list(cat.JOINT_COLUMNS)].sum(), abs=0.1)
    save_corrections(site, {"scores": {}, "landmarks": {}})
    _assert_same_values(_frame(site / "corrections" / "predictions.csv"), pred)      # untouched: as read

    new = {"LH_pip_E__2": 4.0, "RF_mtp_J__3": 2.5, "LF_mtp_E__1": 7.0}
    save_corrections(site, {"scores": {"PHX0001": new}, "landmarks": {}})
    got = _frame(site / "corrections" / "predictions.csv")
    d_ero = sum(v - pred.loc["PHX0001", c] for c, v in new.items() if c in cat.EROSION_COLUMNS)
    d_nar = sum(v - pred.loc["PHX0001", c] for c, v in new.items() if c in cat.NARROWING_COLUMNS)
    for col, delta in ((cat.TOTAL_EROSION, d_ero), (cat.TOTAL_NARROWING, d_nar), (cat.TOTAL, d_ero + d_nar)):
        assert got.loc["PHX0001", col] == pytest.approx(pred.loc["PHX0001", col] + delta, abs=1e-6), col
    for col, v in new.items():
        assert got.loc["PHX0001", col] == v
    others = [c for c in pred.columns if c not in new and c not in cat.OVERALL]
    _assert_same_values(got, pred, ["PHX0002", *EXTRA])                             # other patients: as read
    assert (got.loc["PHX0001", others].to_numpy(float) == pred.loc["PHX0001", others].to_numpy(float)).all()


def test_moved_totals_and_review_states_units():
    cols = list(cat.SCORE_COLUMNS)
    pred = pd.DataFrame(1.0, index=["A", "B"], columns=cols)
    pred[list(cat.OVERALL)] = [[10.0, 6.0, 4.0], [3.0, 2.0, 1.0]]                  # calibrated: not sums
    corrected = pred.copy()
    corrected.loc["A", cat.EROSION_COLUMNS[0]] = 3.0                                # +2 erosion
    corrected.loc["A", cat.NARROWING_COLUMNS[0]] = 0.5                              # -0.5 narrowing
    corrected.loc["B", cat.TOTAL] = 99.0                                            # a resum elsewhere is undone
    out = moved_totals(pred, corrected, ["A"])
    assert list(out.loc["A", list(cat.OVERALL)]) == [11.5, 8.0, 3.5]
    assert list(out.loc["B", list(cat.OVERALL)]) == [3.0, 2.0, 1.0]
    corrected.loc["B", list(cat.EROSION_COLUMNS[:4])] = 0.0                          # -4 erosion of a total of 2
    assert list(moved_totals(pred, corrected, ["B"]).loc["B", list(cat.OVERALL)]) == [0.0, 0.0, 1.0]   # never < 0
    states = review_states(["A", "B", "C", "D"], {"scores": {"A": {"x": 1}, "D": {}},
                                                 "landmarks": {"C-LH": {"m": [1, 2]}}, "review": {"B": "reviewed",
                                                                                                 "A": "reviewed"}})
    assert states == {"A": "corrected", "B": "reviewed", "C": "corrected", "D": "not reviewed"}


def test_server_writes_review_state_and_checks_the_marks(site):
    info = save_corrections(site, {"scores": {"PHX0002": {"RH_mcp_J__3": 3}}, "landmarks": {},
                                   "review": {"PHX0001": "reviewed", "PHX0003": "reviewed"}})
    assert info["reviewed"] == 3
    assert (site / "corrections" / "review_state.csv").read_text() == (
        "Patient_ID,state\nPHX0001,reviewed\nPHX0002,corrected\nPHX0003,reviewed\nPHX0004,not reviewed\n")
    for bad, words in [({"review": {"NOBODY": "reviewed"}}, "'NOBODY' .*not in the predictions"),
                       ({"review": {"PHX0001": "done"}}, "must be 'reviewed'"),
                       ({"review": ["PHX0001"]}, "edits must be")]:
        with pytest.raises(CorrectionError, match=words):
            save_corrections(site, {"scores": {}, "landmarks": {}, **bad})


def test_the_index_names_the_predictions_by_content(site, calibrated, cohort, tmp_path):  # noqa: F811
    index = site_index(site)
    assert index["predictions_sha256"] == file_sha256(calibrated) and len(index["predictions_sha256"]) == 64
    again = site_index(_build(cohort, calibrated, site))
    assert again["site_id"] != index["site_id"] and again["predictions_sha256"] == index["predictions_sha256"]
    other = tmp_path / "other.csv"
    other.write_text(calibrated.read_text().replace("PHX0004,", "PHX0005,"))
    assert site_index(_build(cohort, other, tmp_path / "s2"))["predictions_sha256"] != index["predictions_sha256"]


# ------------------------------------------------------------------ a real browser
PIDS = ("PHX0001", "PHX0002", *EXTRA)


def _on(driver, key):
    """Wait until the page shows patient ``key`` (its sheet drawn)."""
    _wait(lambda: driver.execute_script("var s = document.querySelector('section.patient');"
                                        "return s && s.querySelector('input.cell') && s.getAttribute('data-patient')")
          == PIDS[int(key)], what=f"patient {key}")


def _open(driver, url, key=None):
    from selenium.webdriver.common.by import By

    driver.get(url + (f"#p={key}" if key else ""))
    if key:
        return _on(driver, key)
    return _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#patients tbody tr"), what="the patient list")


def _type(driver, column, text):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    cell = driver.find_element(By.CSS_SELECTOR, f"input.cell[data-col='{column}']")
    cell.send_keys(Keys.CONTROL, "a")
    cell.send_keys(text)
    _wait(lambda: "edited" in cell.get_attribute("class"), what=f"the edited cell {column}")
    cell.send_keys(Keys.ESCAPE)
    return cell


def _key(driver, key):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def test_browser_export_of_an_untouched_file_is_the_predictions_and_an_edit_moves_one_total(
        browser, site, calibrated):  # noqa: F811
    from selenium.webdriver.common.by import By

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url)
    assert "No patient's totals changed" in browser.find_element(By.ID, "totals-changed").text
    browser.find_element(By.ID, "dl-predictions").click()
    pred = _frame(calibrated)
    path = _downloaded(browser, "predictions_corrected.csv")
    _assert_same_values(_frame(path), pred)                                         # every value, exactly
    path.unlink()

    _open(browser, url, "00000")
    total = float(browser.find_element(By.ID, "total-total").text)
    assert total == pytest.approx(pred.loc["PHX0001", cat.TOTAL], abs=0.051)      # the method's, not a sum
    _type(browser, "LH_pip_E__2", "4")
    delta = 4 - pred.loc["PHX0001", "LH_pip_E__2"]
    assert float(browser.find_element(By.ID, "total-total").text) == pytest.approx(
        pred.loc["PHX0001", cat.TOTAL] + delta, abs=0.051)
    assert "by corrected joints" in browser.find_element(By.CSS_SELECTOR, ".totals small").text
    browser.find_element(By.ID, "dl-predictions").click()
    got = _frame(_downloaded(browser, "predictions_corrected.csv"))
    assert got.loc["PHX0001", cat.TOTAL] == pytest.approx(pred.loc["PHX0001", cat.TOTAL] + delta, abs=1e-6)
    assert got.loc["PHX0001", cat.TOTAL_EROSION] == pytest.approx(pred.loc["PHX0001", cat.TOTAL_EROSION] + delta,
                                                                  abs=1e-6)
    assert got.loc["PHX0001", cat.TOTAL_NARROWING] == pred.loc["PHX0001", cat.TOTAL_NARROWING]
    assert got.loc["PHX0001", "LH_pip_E__2"] == 4
    _assert_same_values(got, pred, ["PHX0002", *EXTRA])                             # the others: as predicted
    _open(browser, url)
    note = browser.find_element(By.ID, "totals-changed").text
    assert "for 1 patient(s): PHX0001" in note
    row = browser.find_element(By.CSS_SELECTOR, "#patients tr[data-key='00000']")
    assert "edited" in row.find_elements(By.TAG_NAME, "td")[2].get_attribute("class")
    other = browser.find_element(By.CSS_SELECTOR, "#patients tr[data-key='00001']")
    assert "edited" not in (other.find_elements(By.TAG_NAME, "td")[2].get_attribute("class") or "")


def test_browser_drafts_outlive_a_rebuild_and_a_loaded_csv_applies_its_differences(
        browser, site, cohort, calibrated, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url, "00001")
    _type(browser, "RH_mcp_J__3", "3")
    _key(browser, "r")                                                # PHX0002 marked reviewed (corrected anyway)
    _on(browser, "00002")                                             # the next unreviewed
    _build(cohort, calibrated, site)                                  # a rebuild: another site_id, same predictions
    browser.refresh()
    _open(browser, url, "00001")
    cell = browser.find_element(By.CSS_SELECTOR, "input.cell[data-col='RH_mcp_J__3']")
    assert cell.get_attribute("value") == "3" and "edited" in cell.get_attribute("class")
    assert browser.execute_script("return RA2_REVIEW.review()") == {"PHX0002": "reviewed"}

    pred = _frame(calibrated)
    loaded = pred.copy()
    loaded.loc["PHX0001", "LH_pip_E__2"] = 5                          # three cells differ from the predictions ...
    loaded.loc["PHX0003", "RF_mtp_E__1"] = 9
    loaded.loc["PHX0003", "LH_mcp_J__2"] = zero = 0.0 if pred.loc["PHX0003", "LH_mcp_J__2"] else 1.0
    loaded.loc["PHX0002", "RH_mcp_J__3"] = pred.loc["PHX0002", "RH_mcp_J__3"]   # ... one undoes the draft edit
    loaded.loc["PHX0004", cat.TOTAL] = 0                              # totals of the file are not joints: ignored
    csv = tmp_path / "exported.csv"
    loaded.reset_index().to_csv(csv, index=False)
    browser.find_element(By.ID, "load-csv").send_keys(str(csv))
    text = _wait(lambda: browser.find_element(By.ID, "loaded").text, what="the loaded CSV's count")
    assert text == "exported.csv: 4 cell(s) changed"
    assert browser.execute_script("return RA2_REVIEW.edits().scores") == {
        "PHX0001": {"LH_pip_E__2": 5}, "PHX0003": {"RF_mtp_E__1": 9, "LH_mcp_J__2": zero}}
    assert browser.execute_script("return RA2_REVIEW.loadCorrections(arguments[0], 'again.csv')",
                                  csv.read_text()) == 0                # loaded twice: nothing more changes


def test_browser_review_progress_key_reload_and_review_state_csv(browser, site):  # noqa: F811
    from selenium.webdriver.common.by import By

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url)
    assert browser.find_element(By.ID, "progress").text == "0 of 4 reviewed"
    _open(browser, url, "00002")
    assert "r marks this patient reviewed and opens the next unreviewed" in \
        browser.find_element(By.CSS_SELECTOR, ".legend").text                  # the key help
    _key(browser, "r")
    _on(browser, "00003")                                             # PHX0003 reviewed: on to PHX0004
    _open(browser, url, "00000")
    assert browser.find_element(By.ID, "patient-state").text == "not reviewed"
    _key(browser, "r")
    _on(browser, "00001")                                             # PHX0001 reviewed: on to PHX0002
    _key(browser, "r")
    _on(browser, "00003")                                             # PHX0003 is reviewed: skipped
    _type(browser, "LF_mtp_E__1", "8")                                # PHX0004 corrected, not marked
    browser.refresh()                                                 # the states survive a reload
    rows = _open(browser, url)
    states = {r.get_attribute("data-key"): r.get_attribute("data-state") for r in rows}
    assert states == {"00000": "reviewed", "00001": "reviewed", "00002": "reviewed", "00003": "corrected"}
    assert browser.find_element(By.ID, "progress").text == "4 of 4 reviewed"
    _open(browser, url, "00001")
    browser.find_element(By.ID, "unmark-reviewed").click()            # back to not reviewed
    _wait(lambda: browser.find_element(By.ID, "patient-state").text == "not reviewed", what="the unmarked state")
    browser.find_element(By.ID, "dl-review").click()
    assert _downloaded(browser, "review_state.csv").read_text() == (
        "Patient_ID,state\nPHX0001,reviewed\nPHX0002,not reviewed\nPHX0003,reviewed\nPHX0004,corrected\n")


@pytest.fixture
def served(site):
    from review.server import make_server

    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_browser_hands_drafts_from_disk_to_the_server_only_when_sent(browser, site, served, calibrated):  # noqa: F811
    from selenium.webdriver.common.by import By

    url = (site / "index.html").resolve().as_uri()
    _open(browser, url, "00000")
    _type(browser, "LH_pip_E__2", "4")
    _key(browser, "r")                                                # PHX0001 corrected and marked
    _on(browser, "00001")
    _open(browser, url, "00002")
    _key(browser, "r")                                                # PHX0003 reviewed
    _open(browser, url)
    browser.find_element(By.ID, "to-server").click()
    prompt = _wait(lambda: _alert(browser), what="the server address prompt")
    prompt.send_keys(served.url)
    prompt.accept()
    send = _wait(lambda: [b for b in browser.find_elements(By.ID, "send-drafts") if b.is_displayed()],
                 what="the offer to send the drafts")[0]
    assert send.text == "send 3 draft edit(s) to the server"
    assert browser.execute_script("return location.hash") == ""       # the drafts left the address
    assert not (site / "corrections").exists()                        # offered, not sent
    send.click()
    status = browser.find_element(By.ID, "status")
    _wait(lambda: status.text.startswith("saved"), what="the save to disk")
    assert not send.is_displayed()
    got = _frame(site / "corrections" / "predictions.csv")
    assert got.loc["PHX0001", "LH_pip_E__2"] == 4
    _assert_same_values(got, _frame(calibrated), ["PHX0002", *EXTRA])
    assert (site / "corrections" / "review_state.csv").read_text() == (
        "Patient_ID,state\nPHX0001,corrected\nPHX0002,not reviewed\nPHX0003,reviewed\nPHX0004,not reviewed\n")
    _open(browser, served.url)                                        # sent: nothing more is offered
    assert not browser.find_element(By.ID, "send-drafts").is_displayed()
    assert browser.find_element(By.ID, "progress").text == "2 of 4 reviewed"


def _alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None
