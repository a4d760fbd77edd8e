"""``ra2 train --budget``: durations, the planning rule, a budgeted training and its record, a refusal."""
import json
import math
import time

import pytest

from challenge.errors import ParameterError
from submission.budget import (DEFAULT_BUDGET, LANDMARK_FIELDS, SCORER_FIELDS, STEP_FIELDS, Budget, BudgetTooSmall,
                               FieldCost, Probe, format_duration, least_budget, minimum_steps, parse_duration,
                               plan_steps)


def ra2(capsys, *argv):
    from ra2.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------ durations
@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("45m", 2700), ("1h30m", 5400), ("90s", 90),
                                           ("1h0m5s", 3605), ("1.5h", 5400), (" 2H ", 7200), ("none", None),
                                           ("None", None)])
def test_durations_in_hours_minutes_and_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2x", "", "90", "h", "1m2h", "2 hours", "-5m", "0s", "1h-3m"])
def test_any_other_spelling_is_refused_naming_the_option(text):
    with pytest.raises(ParameterError) as exc:
        parse_duration(text)
    assert exc.value.name == "budget" and ("such as 2h, 45m" in str(exc.value) or "longer than 0" in str(exc.value))


@pytest.mark.parametrize("command", ["train", "cv"])
def test_a_bad_budget_is_one_line_and_exit_2_before_any_work(capsys, tmp_path, command):
    code, out, err = ra2(capsys, command, "--data", tmp_path / "nowhere", "--out", tmp_path / "out", "--budget", "2x")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"ra2 {command}: error: --budget 2x: expected a duration such as 2h, 45m, "
                                        "1h30m or 90s (hours, minutes, seconds), or none for the profile's own lengths"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("options", [["--budget", "1h", "--steps", "5"], ["--budget", "1h", "--steps-from", "b"],
                                     ["--steps", "5", "--steps-from", "b"]])
def test_two_ways_of_setting_the_length_are_refused(capsys, tmp_path, options):
    code, _, err = ra2(capsys, "train", "--data", tmp_path, "--out", tmp_path / "out", *options)
    assert code == 2 and "both set the training's length: give one" in err and len(err.strip().splitlines()) == 1


def test_durations_are_written_as_they_are_read():
    for seconds in (90, 2700, 5400, 7200, 3605, 45):
        assert parse_duration(format_duration(seconds)) == seconds
    assert least_budget(500) == 530 and least_budget(1000) == 1080      # the margin's 5 %, rounded up


# ------------------------------------------------------------------ the rule, on made-up step times
#: a slow 2-core host: `full`'s profile steps, 4 out-of-fold scorers per kind
COSTS = {"localizer.steps": FieldCost(1000, 0.6, 20), "refiner.steps": FieldCost(800, 0.4, 20),
         "hand.steps": FieldCost(8000, 4 * 0.37, 60), "foot.steps": FieldCost(3500, 4 * 0.2, 60)}
TAIL = 120.0


def spent(costs, steps, tail=TAIL):
    return tail + sum(c.fixed + c.per_step * steps[k] for k, c in costs.items())


def test_a_plan_stays_within_the_time_and_no_network_above_its_profile():
    least = plan_steps(COSTS, 1e9, tail=TAIL).least
    for seconds in (least, least + 30, 6000, 9000, 15000, 1e6):
        plan = plan_steps(COSTS, seconds, tail=TAIL)
        assert plan.fits and spent(COSTS, plan.steps) <= seconds + 1e-6
        assert plan.seconds == pytest.approx(spent(COSTS, plan.steps))
        assert all(minimum_steps(k, c.profile) <= plan.steps[k] <= c.profile for k, c in COSTS.items())
    assert plan_steps(COSTS, 1e6, tail=TAIL).steps == {k: c.profile for k, c in COSTS.items()}
    short = plan_steps(COSTS, least - 1000, tail=TAIL)          # below the minimums: shorter, still in time
    assert not short.fits and short.least == least and spent(COSTS, short.steps) <= least - 1000
    assert all(1 <= short.steps[k] < minimum_steps(k, c.profile) for k, c in COSTS.items())


def test_minimums_are_half_the_landmark_and_a_quarter_of_the_scorer_steps():
    plan = plan_steps(COSTS, plan_steps(COSTS, 1e9, tail=TAIL).least, tail=TAIL)
    assert plan.steps == {"localizer.steps": 500, "refiner.steps": 400, "hand.steps": 2000, "foot.steps": 875}


def test_the_landmark_networks_reach_their_profile_before_the_scorers_grow():
    least = plan_steps(COSTS, 1e9, tail=TAIL).least
    to_full = sum(COSTS[k].per_step * (COSTS[k].profile - minimum_steps(k, COSTS[k].profile)) for k in LANDMARK_FIELDS)
    short = plan_steps(COSTS, least + to_full / 2, tail=TAIL).steps
    assert 500 < short["localizer.steps"] < 1000 and 400 < short["refiner.steps"] < 800
    assert short["localizer.steps"] / 1000 == pytest.approx(short["refiner.steps"] / 800, abs=0.002)   # one share
    assert (short["hand.steps"], short["foot.steps"]) == (2000, 875)
    enough = plan_steps(COSTS, least + to_full + 100, tail=TAIL).steps
    assert (enough["localizer.steps"], enough["refiner.steps"]) == (1000, 800)
    assert enough["hand.steps"] > 2000 and enough["foot.steps"] > 875
    assert enough["hand.steps"] / 8000 == pytest.approx(enough["foot.steps"] / 3500, abs=0.002)


def test_a_field_the_profile_does_not_train_stays_off():
    costs = {**COSTS, "refiner.steps": FieldCost(0, 0.0, 0.0)}
    assert plan_steps(costs, 1e6, tail=TAIL).steps["refiner.steps"] == 0


def budget_with_probes(seconds, *, started=None):
    b = Budget(seconds, started=time.time() if started is None else started)
    for kind in ("hand", "foot"):
        b.probes[f"{kind} localizer"] = Probe(step=0.3, fixed=10, save=0.5, fits=1)
        b.probes[f"{kind} refiner"] = Probe(step=0.2, fixed=10, save=0.5, fits=1)
    b.probes["hand scorer"] = Probe(step=0.37, fixed=15, save=0.5, fits=4)
    b.probes["foot scorer"] = Probe(step=0.2, fixed=15, save=0.5, fits=4)
    b.tail = {"stacker": 60.0, "hand out-of-fold predictions": 30.0}
    return b


def test_too_short_a_budget_is_refused_naming_the_least_that_fits():
    from submission.profiles import PROFILES

    full = PROFILES["full"]
    with pytest.raises(BudgetTooSmall) as exc:
        budget_with_probes(1800).plan("localizers", full, full, STEP_FIELDS, first=True)
    least = exc.value.least
    assert "--budget 30m: too short for a useful model on this host: it needs at least" in exc.value.for_option(
        "--budget") and format_duration(least) in str(exc.value)
    assert 1800 < least < DEFAULT_BUDGET
    settings = budget_with_probes(least).plan("localizers", full, full, STEP_FIELDS, first=True)   # that one fits
    assert all(settings.get(k) >= minimum_steps(k, full.get(k)) for k in STEP_FIELDS)
    with pytest.raises(BudgetTooSmall):
        budget_with_probes(least - 60).plan("localizers", full, full, STEP_FIELDS, first=True)


def test_a_replan_counts_the_slowdown_seen_and_still_ends_in_time():
    from submission.profiles import PROFILES
    from submission.models import StepRecord

    full = PROFILES["full"]
    b = budget_with_probes(6000)
    calm = b.plan("scorers", full, full, SCORER_FIELDS)
    b.seen = {"hand localizer": [StepRecord("hand localizer", 1000, 1000, 0.6, 600)]}     # twice the probe's 0.3
    assert b.slowdown() == pytest.approx(2.0)
    slow = b.plan("scorers", full, full, SCORER_FIELDS)
    assert slow.hand.steps < calm.hand.steps and slow.foot.steps < calm.foot.steps
    b.seen = {"hand localizer": [StepRecord("hand localizer", 1000, 1000, 0.24, 240)]}    # faster: believed
    assert b.slowdown() == pytest.approx(0.8)
    assert b.plan("scorers", full, full, SCORER_FIELDS).hand.steps > calm.hand.steps
    b.seen = {"hand localizer": [StepRecord("hand localizer", 1000, 1000, 0.01, 10)]}     # but not without bounds
    assert b.slowdown() == 0.5
    late = budget_with_probes(6000, started=time.time() - 4000)       # 1,700 s left, less than the minimums
    steps = late.plan("scorers", full, full, SCORER_FIELDS)            # not refused after work: shorter still
    assert 1 <= steps.hand.steps < minimum_steps("hand.steps", 8000)
    assert steps.oof_folds == 2                                         # and fewer scorers
    costs = late.costs(full, SCORER_FIELDS, folds=steps.oof_folds)
    assert spent(costs, {k: steps.get(k) for k in SCORER_FIELDS}, late.tail_seconds()) <= late.left() + 1


def test_fewer_longer_out_of_fold_scorers_when_the_profiles_four_would_each_get_under_half():
    """The profile's 4 scorers per kind while each gets FOLD_SHARE of its steps; in less time fewer
    and longer ones, down to 2; the least budget is that of 2 scorers at their minimums."""
    from submission.budget import FOLD_SHARE, LEAST_FOLDS
    from submission.profiles import PROFILES

    full = PROFILES["full"]
    roomy = budget_with_probes(10 * 3600).plan("localizers", full, full, STEP_FIELDS, first=True)
    assert roomy.oof_folds == 4 and roomy.hand.steps == 8000
    tight = budget_with_probes(2 * 3600)
    settings = tight.plan("localizers", full, full, STEP_FIELDS, first=True)
    assert LEAST_FOLDS <= settings.oof_folds < 4 and tight.plans[-1]["oof_folds"] == settings.oof_folds
    assert settings.hand.steps >= FOLD_SHARE * 8000 or settings.oof_folds == LEAST_FOLDS
    four = tight.costs(full, STEP_FIELDS, folds=4)                 # 4 scorers could not have had half each
    assert plan_steps(four, tight.left(), tail=tight.tail_seconds()).steps["hand.steps"] < FOLD_SHARE * 8000
    with pytest.raises(BudgetTooSmall) as exc:
        budget_with_probes(600).plan("localizers", full, full, STEP_FIELDS, first=True)
    two = budget_with_probes(600).costs(full, STEP_FIELDS, folds=LEAST_FOLDS)
    mins = {k: minimum_steps(k, c.profile) for k, c in two.items()}
    assert exc.value.least < spent(budget_with_probes(600).costs(full, STEP_FIELDS), mins, 90.0) + 600
    assert exc.value.least >= spent(two, mins, 90.0)
    no_stack = budget_with_probes(2 * 3600)
    for kind in ("hand", "foot"):                                  # one scorer per kind: nothing to plan
        no_stack.probes[f"{kind} scorer"] = Probe(step=0.37, fixed=15, save=0.5, fits=1)
    assert no_stack.plan("localizers", full, full, STEP_FIELDS, first=True).oof_folds == full.oof_folds


def test_a_later_fold_is_shortened_when_the_first_ran_slower_than_planned_and_never_lengthened():
    """Inside the scorer stage no stage boundary re-plans: before each later out-of-fold fold the
    budget shortens that fold's scorers if, at the step times seen, the folds left would not end in
    time; a host running as planned or faster keeps the planned lengths."""
    from submission.profiles import PROFILES
    from submission.models import StepRecord

    full = PROFILES["full"]
    b = budget_with_probes(2 * 3600, started=time.time() - 1800)
    planned = b.plan("scorers", full, full, SCORER_FIELDS)
    folds = planned.oof_folds
    hand, foot = planned.hand.steps, planned.foot.steps
    on_time = {"hand scorer": [StepRecord("hand scorer", hand, hand, 0.37, 0.37 * hand)]}
    b.seen = on_time
    assert b.trim("scorers, fold 2", planned, SCORER_FIELDS, folds - 1) is planned
    b.seen = {"hand scorer": [StepRecord("hand scorer", hand, hand, 0.37 * 1.6, 0.37 * 1.6 * hand)]}   # 60 % slower
    late = budget_with_probes(2 * 3600, started=time.time() - 1800 - 0.37 * 1.6 * hand - 0.2 * foot)
    late.seen, late.plans = b.seen, []
    short = late.trim("scorers, fold 2", planned, SCORER_FIELDS, folds - 1)
    assert short.hand.steps < hand and short.foot.steps < foot
    assert late.plans[-1]["trimmed"] and late.plans[-1]["stage"] == "scorers, fold 2"
    costs = late.costs(short, SCORER_FIELDS, folds=folds - 1)
    assert spent(costs, {k: short.get(k) for k in SCORER_FIELDS}, late.tail_seconds()) <= late.left() + 1
    fast = budget_with_probes(2 * 3600)
    fast.seen = {"hand scorer": [StepRecord("hand scorer", hand, hand, 0.1, 0.1 * hand)]}
    assert fast.trim("scorers, fold 2", planned, SCORER_FIELDS, folds - 1) is planned      # never longer


# ------------------------------------------------------------------ real trainings (quick profile, hands only)
@pytest.fixture(scope="module")
def hands(tmp_path_factory):
    """A tiny phantom cohort's training folder without its feet: fewer networks to train."""
    import shutil

    from ra2.cli import main

    root = tmp_path_factory.mktemp("budget")
    assert main(["synth", "--out", str(root / "c"), "--train", "4", "--test", "1", "--size-scale", "0.3",
                 "--seed", "1", "-q"]) == 0
    train = shutil.copytree(root / "c" / "train", root / "hands")
    for foot in train.glob("*F.jpg"):
        foot.unlink()
    lines = (train / "landmarks.csv").read_text().splitlines()
    (train / "landmarks.csv").write_text("\n".join(ln for ln in lines if not ln.split(",")[0].endswith("F")) + "\n")
    return train


@pytest.fixture(scope="module")
def budgeted(hands, tmp_path_factory):
    from ra2.cli import main

    out = tmp_path_factory.mktemp("trained") / "bundle"
    start = time.time()
    assert main(["train", "--data", str(hands), "--out", str(out), "--quick", "--budget", "4m"]) == 0
    return out, time.time() - start


def test_a_budgeted_training_ends_in_time_and_records_its_steps_step_times_and_host(budgeted):
    out, seconds = budgeted
    manifest = json.loads((out / "bundle.json").read_text())
    training, settings = manifest["training"], manifest["settings"]
    assert seconds < 240
    assert training["budget"]["seconds"] == 240 and training["budget"]["spelled"] == "4m"
    assert [p["stage"] for p in training["budget"]["plans"]] == ["localizers", "refiners", "scorers", "stacker",
                                                                  "saving"]
    assert training["budget"]["plans"][-1]["at_seconds"] < 240 - training["budget"]["margin_seconds"]
    nets = training["networks"]
    assert set(nets) == {"hand localizer", "hand refiner", "hand scorer"}
    assert nets["hand localizer"]["steps"] == settings["localizer"]["steps"] and nets["hand scorer"]["fits"] == 2
    assert nets["hand refiner"]["steps"] == settings["refiner"]["steps"]
    assert nets["hand scorer"]["steps"] == settings["hand"]["steps"] <= 12
    assert settings["foot"]["steps"] == 12             # no foot images, no foot networks: not planned
    for net in nets.values():
        assert 0 < net["seconds_per_step"] < 10 and 0 < net["probe_seconds_per_step"] < 10
    host = training["host"]
    assert host["backend"] == "tensorflow" and host["cores"] >= 1 and host["cpu"]
    assert host["device"] == "CPU" or host["device"].startswith("GPU (")


def test_steps_from_a_bundle_takes_its_step_counts_and_scorer_folds(budgeted, hands, tmp_path, capsys, monkeypatch):
    import submission.train
    from submission.settings import Settings

    out, _ = budgeted
    recorded = json.loads((out / "bundle.json").read_text())["settings"]
    calls = []
    monkeypatch.setattr(submission.train, "train_bundle", lambda *a, **kw: calls.append(kw) or tmp_path / "b")
    code, _, _ = ra2(capsys, "train", "--data", hands, "--out", tmp_path / "b", "--profile", "small",
                     "--steps-from", out)
    assert code == 0 and calls[0]["budget"] is None
    settings = calls[0]["settings"]
    assert {k: settings.get(k) for k in STEP_FIELDS + ("oof_folds",)} == {k: Settings.from_dict(recorded).get(k)
                                                                         for k in STEP_FIELDS + ("oof_folds",)}
    assert recorded["hand"]["steps"] == settings.hand.steps and recorded["oof_folds"] == settings.oof_folds
    assert settings.profile == "small" and settings.hand.patch == 48                   # the rest: the profile's
    code, _, err = ra2(capsys, "train", "--data", hands, "--out", tmp_path / "b", "--steps-from", tmp_path)
    assert code == 2 and "not a model bundle" in err


def test_the_command_line_default_is_two_hours_without_a_gpu_and_none_for_quick(hands, tmp_path, capsys,
                                                                                monkeypatch):
    import submission.train
    from submission.budget import visible_gpus

    calls = []
    monkeypatch.setattr(submission.train, "train_bundle", lambda *a, **kw: calls.append(kw) or tmp_path / "b")
    for options in (["--profile", "small"], ["--quick"], ["--profile", "small", "--budget", "none"],
                    ["--profile", "small", "--steps", "7"]):
        assert ra2(capsys, "train", "--data", hands, "--out", tmp_path / "b", *options)[0] == 0
    assert [c["budget"] for c in calls] == [None if visible_gpus() else DEFAULT_BUDGET, None, None, None]
    settings = calls[3]["settings"]                              # --steps: every network of the resolved settings
    assert (settings.profile, settings.localizer.steps, settings.hand.steps, settings.foot.steps) == ("small", 7, 7, 7)
    assert calls[1]["settings"].profile == "quick"


def test_a_budget_too_short_is_refused_before_any_network_trains(hands, tmp_path, capsys, caplog):
    import logging

    caplog.set_level(logging.INFO)
    code, out, err = ra2(capsys, "train", "--data", hands, "--out", tmp_path / "bundle", "--quick", "--no-stack",
                         "--budget", "1s")
    lines = [ln for ln in err.splitlines() if ln.startswith("ra2 train:")]
    assert code == 2 and out == "" and "Traceback" not in err and len(lines) == 1
    prefix = "ra2 train: error: --budget 1s: too short for a useful model on this host: it needs at least "
    assert lines[0].startswith(prefix)
    least = parse_duration(lines[0][len(prefix):].split(" ")[0])
    assert least > 10 and math.isfinite(least)
    assert "probed 3 networks" in caplog.text and "training the hand localizer" not in caplog.text
    assert list(tmp_path.iterdir()) == []                                   # nothing written, not even a partial
