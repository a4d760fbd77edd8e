"""Paired Wilcoxon against scipy, bootstrap ranking determinism and ties, compare and leaderboard commands."""
import json

import numpy as np
import pytest
from scipy import stats

from challenge.tables import template_frame, write_atomic, write_scores
from evaluator.stats import agreement, bootstrap_ranking, paired_wilcoxon, pearson
from ra2.cli import main
from tests.conftest import random_scores


def test_wilcoxon_matches_scipy_one_sided():
    rng = np.random.default_rng(0)
    a, b = rng.random(40), rng.random(40) + 0.1
    ours = paired_wilcoxon(a, b)
    ref = stats.wilcoxon(a, b, alternative="less")
    assert ours.p_value == pytest.approx(ref.pvalue) and ours.statistic == pytest.approx(ref.statistic)
    assert ours.median_difference == pytest.approx(np.median(a - b))
    assert paired_wilcoxon(b, a).p_value > 0.5          # one-sided: the other direction is not significant


def test_wilcoxon_identical_errors_is_undefined():
    t = paired_wilcoxon([1, 2, 3], [1, 2, 3])
    assert t.p_value is None and t.median_difference == 0


def test_pearson_constant_is_undefined():
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)


def test_agreement_perfect(gold_frame):
    res = agreement(gold_frame, gold_frame)
    assert res["groups"]["narrowing_hand"]["rmse"] == 0
    assert res["groups"]["erosion_foot"]["r"] == pytest.approx(1.0)


def _teams(gold, noise=(0.3, 0.31, 2.0), seed=0):
    rng = np.random.default_rng(seed)
    return {f"t{i}": gold + rng.normal(0, s, gold.shape) for i, s in enumerate(noise)}


def test_bootstrap_is_deterministic_by_seed():
    gold = random_scores(40, seed=5)
    teams = _teams(gold)
    a = bootstrap_ranking(teams, gold, n_boot=200, seed=7)
    b = bootstrap_ranking(teams, gold, n_boot=200, seed=7)
    c = bootstrap_ranking(teams, gold, n_boot=200, seed=8)
    for key in ("sc1", "sc2", "sc3"):
        assert np.array_equal(a["metrics"][key]["samples"], b["metrics"][key]["samples"])
        assert a["metrics"][key]["K"] == b["metrics"][key]["K"]
        assert not np.array_equal(a["metrics"][key]["samples"], c["metrics"][key]["samples"])


def test_bootstrap_ties_and_bayes_factor():
    gold = random_scores(60, seed=6)
    r = bootstrap_ranking(_teams(gold), gold, n_boot=300, seed=1)
    m = r["metrics"]["sc2"]
    best = int(np.argmin(m["scores"]))
    assert m["rank"][best] == 1 and m["K"][best] is None
    assert m["rank"][2] == 3 and m["K"][2] == float("inf") and not m["tied"][2]   # the noisy team is far behind
    other = 1 - best
    k = m["K"][other]                                    # two near-identical teams: tied
    samples = m["samples"]
    better = np.sum(samples[:, best] <= samples[:, other])
    assert k == pytest.approx(better / (300 - better)) and m["tied"][other] == (k <= 3)


@pytest.fixture
def cohort_files(tmp_path):
    gold = random_scores(30, seed=9)
    write_atomic(template_frame(list(gold.index)), tmp_path / "template.csv")
    write_scores(gold, tmp_path / "gold.csv", decimals=None)
    for name, pred in _teams(gold, seed=2).items():
        write_scores(pred, tmp_path / f"{name}.csv", tmp_path / "template.csv")
    return tmp_path


def test_compare_cli(cohort_files, capsys):
    d = cohort_files
    rc = main(["compare", str(d / "t0.csv"), str(d / "t2.csv"), "--gold", str(d / "gold.csv"),
               "--reader2", str(d / "t1.csv"), "--json", str(d / "c.json")])
    out = capsys.readouterr().out
    assert rc == 0 and "Wilcoxon" in out and "reader 2" in out
    res = json.loads((d / "c.json").read_text())
    assert res["tests"]["sc2"]["p_value"] < 1e-3            # much less noise: A is better
    assert "reader2" in res and res["reader2"]["official"]["sc2"] > 0


def test_compare_per_fold(tmp_path, capsys):
    rows = ["fold,method,sc1,sc2,sc3"] + [f"{f},full,{0.3 + f / 100},{0.2 + f / 100},0.25" for f in range(6)] + \
           [f"{f},no-seg,{0.4 + f / 100},{0.3 + f / 50},0.26" for f in range(6)]
    (tmp_path / "folds.csv").write_text("\n".join(rows) + "\n")
    rc = main(["compare", "full", "no-seg", "--per-fold", str(tmp_path / "folds.csv"), "--json", str(tmp_path / "j")])
    assert rc == 0
    res = json.loads((tmp_path / "j").read_text())
    assert res["tests"]["sc2"]["p_value"] == pytest.approx(stats.wilcoxon(
        [0.2 + f / 100 for f in range(6)], [0.3 + f / 50 for f in range(6)], alternative="less").pvalue)
    assert main(["compare", "full", "nope", "--per-fold", str(tmp_path / "folds.csv")]) == 2
    assert "no method 'nope'" in capsys.readouterr().err


def test_leaderboard_cli_outputs(cohort_files, capsys):
    d = cohort_files
    rc = main(["leaderboard", *(str(d / f"t{i}.csv") for i in range(3)), "--gold", str(d / "gold.csv"),
               "--n-boot", "100", "--out", str(d / "lb")])
    out = capsys.readouterr().out
    assert rc == 0 and "| team |" in out
    for f in ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.png"):
        assert (d / "lb" / f).stat().st_size > 0
    res = json.loads((d / "lb" / "leaderboard.json").read_text())
    assert res["table"][-1]["team"] == "t2"             # the noisiest team is last
