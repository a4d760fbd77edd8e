"""report.html of ``ra2 leaderboard --out`` and ``ra2 demo``: self-contained, and the Wilcoxon tests in words."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from challenge import catalogue as cat
from challenge.tables import with_totals, write_scores
from evaluator.files import compare_files, leaderboard_files
from evaluator.html_report import WHY_WEIGHTS, wilcoxon_words, write_demo_html
from tests.conftest import random_scores


def _self_contained(text: str) -> None:
    """Every picture embedded, no link leaves the output folder."""
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    for href in re.findall(r'href="([^"]*)"', text):
        assert not re.match(r"^[a-z]+:", href) and not href.startswith("/"), href
    assert "<script" not in text


@pytest.fixture
def weighted_vs_unweighted(tmp_path):
    """Gold where most patients have little damage and a few much; A is exact on the heavily damaged
    (heavily weighted) patients and a little off on the rest, B the other way round."""
    gold = random_scores(36, seed=4, severity=0.05)
    heavy = list(gold.index[:8])
    for col in cat.JOINT_COLUMNS[:40]:
        gold.loc[heavy, col] = 3.0
    gold = with_totals(gold)
    joints = list(cat.JOINT_COLUMNS)
    a, b = gold.copy(), gold.copy()
    light = [p for p in gold.index if p not in heavy]
    a.loc[light, joints[:6]] += 1.0          # A: a little off on the many light patients
    b.loc[light, joints[:6]] += 0.5          # B: half as far off on them ...
    b.loc[heavy, joints[:40]] = 0.5          # ... but badly off on the heavy ones
    paths = {}
    for name, frame in (("gold", gold), ("A", with_totals(a)), ("B", with_totals(b))):
        paths[name] = write_scores(frame, tmp_path / f"{name}.csv")
    return paths


def test_wilcoxon_in_words():
    better = {"median_difference": -0.2, "p_value": 0.001}
    assert wilcoxon_words(better, "A", "B").startswith("on the median patient A's error is 0.200 lower than B's; "
                                                       "A is better than B per patient (p = 0.0010 < 0.05)")
    worse = {"median_difference": 0.1, "p_value": 0.97}
    text = wilcoxon_words(worse, "A", "B", 0.3, 0.5)
    assert "A's error is 0.100 higher than B's" in text and "no evidence that A is better" in text
    assert "Yet A leads the weighted metric (0.300 against 0.500)" in text
    assert "undefined" in wilcoxon_words(None, "A", "B")


def test_leaderboard_report_html(weighted_vs_unweighted, tmp_path):
    p = weighted_vs_unweighted
    out = tmp_path / "board"
    result = leaderboard_files([p["A"], p["B"]], p["gold"], names=["A", "B"], n_boot=60, seed=1, out_dir=out)
    assert str(out / "report.html") in result["files"]
    text = (out / "report.html").read_text()
    _self_contained(text)
    assert text.count("<tr") == 3 and "Bayes factor" in text and 'alt="bootstrap distributions"' in text


def test_demo_report_says_which_way_and_why(weighted_vs_unweighted, tmp_path):
    p = weighted_vs_unweighted
    comp = compare_files(p["A"], p["B"], p["gold"])
    sc1 = comp["tests"]["sc1"]
    assert comp["official"]["a"]["sc1"] < comp["official"]["b"]["sc1"] and sc1["median_difference"] > 0
    board = leaderboard_files([p["A"], p["B"]], p["gold"], names=["A", "B"], n_boot=60, seed=1, out_dir=tmp_path)
    overlay = tmp_path / "overlays" / "PHX0001-LH.png"
    overlay.parent.mkdir()
    Image.fromarray(np.full((400, 300, 3), 90, np.uint8)).save(overlay)
    shap = tmp_path / "shap_hand_same_side.png"
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(shap)
    scores = {"A": {"official": comp["official"]["a"], "paper": comp["paper"]["a"]},
              "B": {"official": comp["official"]["b"], "paper": comp["paper"]["b"]}}
    timings = {"synth_s": 1.25, "baseline_constant_s": 0.5, "method_train_s": 600.0, "total_s": 601.75}
    path = write_demo_html(tmp_path / "report.html", board=board, scores=scores, comparisons={"A_vs_B": comp},
                           timings=timings, cohort="cohort", shap=[shap],
                           overlays=[("PHX0001-LH", overlay, "../review/index.html#p=00000")],
                           review_index="../review/index.html")
    text = path.read_text()
    _self_contained(text)
    assert "A against B: paired Wilcoxon per patient" in text
    assert "A&#x27;s error is" in text and "higher than B&#x27;s" in text
    assert "Yet A leads the weighted metric" in text and WHY_WEIGHTS.split(":")[0] in text
    assert 'href="../review/index.html#p=00000"' in text and "data:image/jpeg;base64," in text
    assert re.search(r"<td class=\"l\">method: training</td><td>600.0</td><td>10.0</td>", text)
    assert not list(tmp_path.glob(".report.html.*"))           # written through a temporary file


def test_demo_writes_the_review_site_and_report_html(tmp_path, capsys):
    from ra2.cli import main

    assert main(["demo", "--no-method", "--train", "2", "--test", "2", "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2] == f"review site: {tmp_path / 'd' / 'review' / 'index.html'}"
    assert out[-1] == f"report.html: {tmp_path / 'd' / 'report' / 'report.html'}"
    text = (tmp_path / "d" / "report" / "report.html").read_text()
    _self_contained(text)
    assert "<h2>Time</h2>" in text and "review site" in text
    md = (tmp_path / "d" / "report" / "report.md").read_text()
    assert "| step | seconds |" in md and "{" not in md.split("## Time")[1]
    assert (tmp_path / "d" / "review" / "data" / "index.js").exists()
