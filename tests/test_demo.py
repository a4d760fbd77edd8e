"""``ra2 demo`` with the method: trained and scored end to end within a time budget (the quick profile on
a tiny cohort), and how the budget is chosen and refused."""
from __future__ import annotations

import json

import pytest

from challenge.errors import ParameterError
from ra2.cli import main
from ra2.demo import AFTER_TRAINING, DEMO_BUDGET, demo_budget


def test_the_demo_trains_within_what_its_budget_leaves_and_ranks_the_method(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["demo", "--profile", "quick", "--train", "6", "--test", "2", "--budget", "5m",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "method" in printed and "constant" in printed              # the leaderboard printed, the method in it
    bundle = json.loads((out / "bundle" / "bundle.json").read_text())
    budget = bundle["training"]["budget"]
    assert budget["seconds"] == pytest.approx(300 - 2 * AFTER_TRAINING[0] - AFTER_TRAINING[1])
    assert [p["stage"] for p in budget["plans"]][0] == "localizers"   # planned, from probes on this host
    timings = json.loads((out / "report" / "timings.json").read_text())
    assert timings["budget_s"] == 300 and timings["method_train_s"] > 0
    scores = json.loads((out / "report" / "scores.json").read_text())
    assert scores["method"]["official"]["sc2"] is not None


def test_the_demo_budget_by_default_and_as_given():
    assert demo_budget(None, "demo") == DEMO_BUDGET                    # no GPU here
    assert demo_budget(None, "quick") is None and demo_budget(None, "demo", method=False) is None
    assert demo_budget("none", "demo") is None and demo_budget("20m", "quick") == 1200
    with pytest.raises(ParameterError, match="expected a duration"):
        demo_budget("ten minutes", "demo")


def test_a_bad_budget_is_refused_before_any_work(tmp_path, capsys):
    assert main(["demo", "--budget", "0m", "--out", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert "--budget 0m: must be longer than 0" in err and "Traceback" not in err and not (tmp_path / "d").exists()
