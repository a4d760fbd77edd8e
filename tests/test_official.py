"""The official metrics pinned by hand-computed cases and by an independent, loop-based
re-derivation of the contract's formulas on random files."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from challenge import catalogue as cat
from challenge.tables import template_frame, with_totals, write_atomic, write_scores
from evaluator.official import OFFICIAL_KEYS, patient_weights, per_patient, score_frames
from ra2.cli import main
from tests.conftest import random_scores

EDGES = {0: 1, 1: 2, 2: 2.143547, 3: 2.143547, 4: 3.863745, 7: 3.863745, 8: 8, 20: 8, 21: 16, 55: 16,
         56: 32, 148: 32, 149: 64, 448: 64}


@pytest.mark.parametrize("total,weight", sorted(EDGES.items()))
def test_weight_bin_edges(total, weight):
    assert patient_weights([total])[0] == weight


@pytest.mark.parametrize("total", [1.5, 0.5, 148.5, -1, float("nan"), float("inf")])
def test_weight_of_anything_else_is_zero(total):
    assert patient_weights([total])[0] == 0


def reference_score(pred: pd.DataFrame, gold: pd.DataFrame) -> dict:
    """The contract's formulas written out patient by patient, joint by joint."""
    def weight(t):
        if t != int(t):
            return 0.0
        for lo, hi, w in ((0, 0, 1), (1, 1, 2), (2, 3, 2.143547), (4, 7, 3.863745), (8, 20, 8), (21, 55, 16),
                          (56, 148, 32)):
            if lo <= t <= hi:
                return float(w)
        return 64.0 if t > 148 else 0.0

    def l2(x):
        return math.log2(max(x, 0.0) + 1)

    def cols(code, limbs):
        return [c for c in cat.JOINT_COLUMNS if code in c and c[:2] in limbs]

    zero = all(max(pred.loc[p, c], 0) == 0 for p in gold.index for c in cat.JOINT_COLUMNS)
    out = {}
    specs = {"sc1": ("abs", "Overall_Tol"), "sc2_total": ("abs", "Overall_narrowing"),
             "sc3_total": ("abs", "Overall_erosion"),
             "sc2": ("rmse", cols("_J__", "LHRHLFRF")), "sc2_hand": ("rmse", cols("_J__", "LHRH")),
             "sc2_foot": ("rmse", cols("_J__", "LFRF")), "sc3": ("rmse", cols("_E__", "LHRHLFRF")),
             "sc3_hand": ("rmse", cols("_E__", "LHRH")), "sc3_foot": ("rmse", cols("_E__", "LFRF"))}
    for key, (kind, what) in specs.items():
        num = den = 0.0
        for p in gold.index:
            w = weight(gold.loc[p, "Overall_Tol"])
            if kind == "abs":
                e = abs(l2(gold.loc[p, what]) - l2(pred.loc[p, what]))
            else:
                e = math.sqrt(sum((l2(gold.loc[p, c]) - l2(pred.loc[p, c])) ** 2 for c in what) / len(what))
            num += w * e
            den += w
        out[key] = None if (kind == "rmse" and zero) or den == 0 else num / den
    return out


def test_perfect_predictions_score_zero(gold_frame):
    assert all(v == 0 for v in score_frames(gold_frame, gold_frame).values())


def test_hand_computed_case():
    gold = pd.DataFrame(0.0, index=["A", "B"], columns=list(cat.SCORE_COLUMNS))
    gold.loc["B", "LH_pip_J__2"] = 3          # B: Tol 3 -> weight 2.143547; A: Tol 0 -> weight 1
    gold = with_totals(gold)
    pred = gold.copy()
    pred.loc["A", "Overall_Tol"] = 1          # |log2(1) - log2(2)| = 1
    pred.loc["B", "Overall_Tol"] = 7          # |log2(4) - log2(8)| = 1
    pred.loc["B", "LH_pip_J__2"] = 1          # narrowing error log2(4) - log2(2) = 1 on 1 of 42 columns
    pred.loc["A", "LH_mcp_E__ip"] = -5        # clipped to 0: no error
    s = score_frames(pred, gold)
    assert s["sc1"] == pytest.approx(1.0)
    w = 2.143547
    assert s["sc2"] == pytest.approx(w * math.sqrt(1 / 42) / (1 + w))
    assert s["sc2_hand"] == pytest.approx(w * math.sqrt(1 / 30) / (1 + w))
    assert s["sc2_foot"] == 0 and s["sc3"] == 0
    assert s["sc2_total"] == 0                # the totals column of the prediction was not changed


def test_matches_reference_on_random_files_with_negatives_edges_and_shuffles():
    rng = np.random.default_rng(42)
    for trial in range(6):
        gold = random_scores(25, seed=trial, severity=2.0)
        # force bin edges into the gold totals by editing one joint, then recompute totals
        for i, t in enumerate([0, 1, 2, 3, 4, 7, 8, 20, 21, 55, 56, 148, 149]):
            row = gold.iloc[i]
            gold.iloc[i, :] = 0.0
            gold.iloc[i, gold.columns.get_loc("LH_mcp_E__1")] = min(t, 5)
            rest = t - min(t, 5)
            for c in [c for c in cat.JOINT_COLUMNS if c != "LH_mcp_E__1"]:
                take = min(rest, cat.BY_COLUMN[c].max_score)
                gold.iloc[i, gold.columns.get_loc(c)] = take
                rest -= take
            del row
        gold = with_totals(gold)
        gold.iloc[-1, gold.columns.get_loc("Overall_Tol")] = 10.5     # non-integer gold total: weight 0
        pred = gold + rng.normal(0, 1.5, gold.shape)                   # includes negatives
        pred = pred.sample(frac=1, random_state=trial)                 # shuffled rows
        pred = pred[list(rng.permutation(pred.columns))]               # shuffled columns
        ours, ref = score_frames(pred, gold), reference_score(pred, gold)
        for key in OFFICIAL_KEYS:
            assert ours[key] == pytest.approx(ref[key], abs=1e-9, rel=0), key


def test_all_zero_joint_predictions_make_sc2_sc3_undefined(gold_frame):
    pred = gold_frame.copy()
    pred[list(cat.JOINT_COLUMNS)] = 0.0
    s = score_frames(pred, gold_frame)
    assert s["sc2"] is None and s["sc3_hand"] is None and s["sc2_foot"] is None
    assert s["sc1"] is not None and s["sc2_total"] is not None
    pred[list(cat.JOINT_COLUMNS)] = -1.0      # negatives are zeros after clipping
    assert score_frames(pred, gold_frame)["sc3"] is None


def test_all_weights_zero_is_undefined():
    gold = random_scores(3, seed=2)
    gold["Overall_Tol"] = 0.5
    assert all(v is None for v in score_frames(gold, gold).values())


def test_missing_gold_patient_is_refused(gold_frame):
    with pytest.raises(ValueError, match="no prediction for gold patient"):
        score_frames(gold_frame.iloc[1:], gold_frame)


def test_per_patient_weighted_mean_is_the_metric(gold_frame):
    pred = gold_frame + 0.7
    pp = per_patient(pred, gold_frame)
    s = score_frames(pred, gold_frame)
    for key in OFFICIAL_KEYS:
        assert np.dot(pp["weight"], pp[key]) / pp["weight"].sum() == pytest.approx(s[key])


def _write_pair(tmp_path, gold, pred, template_columns=cat.COLUMNS, decimals=6):
    ids = list(gold.index)
    write_atomic(template_frame(ids, template_columns), tmp_path / "template.csv")
    write_scores(gold, tmp_path / "gold.csv", decimals=None, recompute_totals=False)
    write_scores(pred, tmp_path / "pred.csv", tmp_path / "template.csv", recompute_totals=False, decimals=decimals)


def test_score_cli_json_and_column_order_invariance(tmp_path, gold_frame):
    pred = gold_frame + np.random.default_rng(3).normal(0, 1, gold_frame.shape)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _write_pair(a, gold_frame, pred, cat.COLUMNS)
    _write_pair(b, gold_frame, pred, cat.later_release_columns())   # the later release's swapped columns
    assert main(["score", str(a / "pred.csv"), "--gold", str(a / "gold.csv"), "--json", str(a / "s.json")]) == 0
    assert main(["score", str(b / "pred.csv"), "--gold", str(b / "gold.csv"), "--json", str(b / "s.json")]) == 0
    ja, jb = json.loads((a / "s.json").read_text()), json.loads((b / "s.json").read_text())
    assert set(ja["official"]) == set(OFFICIAL_KEYS)
    assert ja["official"] == jb["official"]
    header = (b / "pred.csv").read_text().splitlines()[0].split(",")
    assert header == list(cat.later_release_columns())                # writer kept the template's order
    expected = score_frames(pred.round(6), gold_frame)
    for k in OFFICIAL_KEYS:
        assert ja["official"][k] == pytest.approx(expected[k], abs=1e-12)


def test_score_cli_json_null_when_undefined(tmp_path, gold_frame):
    pred = gold_frame.copy()
    pred[list(cat.JOINT_COLUMNS)] = 0.0
    _write_pair(tmp_path, gold_frame, pred)
    assert main(["score", str(tmp_path / "pred.csv"), "--gold", str(tmp_path / "gold.csv"),
                 "--json", str(tmp_path / "s.json")]) == 0
    text = (tmp_path / "s.json").read_text()
    assert json.loads(text)["official"]["sc2"] is None
    assert "NaN" not in text


def test_score_refuses_invalid_file(tmp_path, gold_frame, capsys):
    _write_pair(tmp_path, gold_frame, gold_frame)
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    (tmp_path / "pred.csv").write_text("\n".join(lines[:-1]) + "\n")   # one patient fewer
    assert main(["score", str(tmp_path / "pred.csv"), "--gold", str(tmp_path / "gold.csv")]) == 1
    err = capsys.readouterr().err
    assert "pred.csv" in err and gold_frame.index[-1] in err and "no row" in err
