"""``ra2 demo`` with the method: trained, predicted, scored and ranked end to end (the quick profile on a
tiny cohort)."""
from __future__ import annotations

import json

from ra2.cli import main


def test_the_demo_trains_predicts_and_ranks_the_method_beside_the_baselines(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["demo", "--profile", "quick", "--train", "6", "--test", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| method |" in printed and "| constant |" in printed     # the leaderboard printed, the method in it
    assert json.loads((out / "bundle" / "bundle.json").read_text())["settings"]["profile"] == "quick"
    scores = json.loads((out / "report" / "scores.json").read_text())
    assert set(scores) >= {"method", "constant", "train-mean", "reader2"}
    assert all(scores["method"]["official"][m] is not None for m in ("sc1", "sc2", "sc3"))
    timings = json.loads((out / "report" / "timings.json").read_text())
    assert timings["method_train_s"] > 0 and timings["method_predict_s"] > 0
    assert (out / "review" / "index.html").is_file() and (out / "report" / "report.html").is_file()
    assert sorted(p.name for p in (out / "predictions").iterdir()) == sorted(
        f"{n}.csv" for n in scores if n != "reader2")
