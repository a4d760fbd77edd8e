"""Training to a time budget (``ra2 train --budget 2h``): step counts from step times measured on this host.

A profile fixes each network's training length in optimiser steps; how long a step takes depends on
the host (the same `full` hand scorer ran 2.7 and about 11 steps a second on two 2-core hosts of one
kind).  With a budget, ``train.train_bundle`` reads the images, then *probes* every network it will
train: it builds the network and its data stream through the training's own code and runs a few
steps (``models.watch_steps(limit=PROBE_STEPS)``), keeping the median step time after the first
traces and what the rest cost (building, tracing, saving); the out-of-fold predictions and the
stacker are probed too (``Budget.tail``).  The probe networks are thrown away; their time counts.

The step counts are then planned per setting, addressed by its ``Settings`` path (``localizer.steps``,
``refiner.steps``, ``hand.steps``, ``foot.steps``; the out-of-fold scorers of a kind cost K times one),
by ``plan_steps``:

1. every field gets its minimum, ``MIN_SHARE`` of its profile steps (the landmark networks half, the
   scorers a quarter; docs/measurements.md, "Training to a time budget", says why); if the minimums
   do not fit, the training is refused before any network trains, naming the least budget that
   would do on this host;
2. then the landmark networks (localizer, refiner) up to their full profile lengths, both at the
   same share of their profile steps: they are a small part of the time and a wrong landmark
   spoils every patch cut around it;
3. then the scorers share the rest, both at the same share of their profile steps.

No field ever gets more steps than its profile.

The number of out-of-fold scorers per kind (``oof_folds``, K) is planned too.  The profile's K are
kept while every scorer can have at least ``FOLD_SHARE`` of its profile steps; when it cannot, the
plan tries fewer scorers, each trained longer, down to ``LEAST_FOLDS`` (2: every patient still has
an out-of-fold prediction for the stacker), and keeps the largest K that reaches that share, or else
the K that gives the scorers the largest share.  Longer scorers beat more of them
(docs/measurements.md: `full`'s hand scorers at 8,000 instead of 3,000 steps were better on every
seed; one scorer instead of four was 3.5 % worse on SC2; on real hands 2 scorers of 3,000 steps gave
the best scores measured).  The minimums are those of ``LEAST_FOLDS`` scorers.  The plan is made again at the start of each stage
(localizers, refiners, scorers) with the time actually left and the probes' step times scaled by
how much slower (or faster) than probed the finished networks actually ran, so that a host that
slows down still ends in time (a probe is five steps, a training hundreds: a host loaded while it
probed and quiet afterwards gets the time back); all out-of-fold scorers of one kind share one step
count.  A re-plan that
finds even the minimums too long gives the networks left the same smaller share of their profile
steps and says so: ending in time is what a budget is for.  Inside the scorer stage, before each
later out-of-fold fold, ``Budget.trim`` shortens that fold's scorers if, at the step times seen so far,
the folds left would not end in time (never lengthens them).
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ParameterError

log = logging.getLogger(__name__)

#: ``ra2 train``'s budget on a host where Keras sees no GPU (with a GPU: the profile's lengths)
DEFAULT_BUDGET = 2 * 3600.0
#: the step settings, by their dotted paths (``Settings.get``, ``Settings.with_values``)
LANDMARK_FIELDS = ("localizer.steps", "refiner.steps")
SCORER_FIELDS = ("hand.steps", "foot.steps")
STEP_FIELDS = LANDMARK_FIELDS + SCORER_FIELDS
#: the least share of its profile steps a network is trained for (see the module's docstring)
MIN_SHARE = {"localizer.steps": 0.5, "refiner.steps": 0.5, "hand.steps": 0.25, "foot.steps": 0.25}
#: out-of-fold scorers per kind: the profile's K while each scorer gets at least FOLD_SHARE of its profile
#: steps, else fewer and longer ones, down to LEAST_FOLDS (see the module's docstring)
FOLD_SHARE = 0.5
LEAST_FOLDS = 2
#: the time kept free at the end: this share of the budget, and at least MARGIN_LEAST seconds
MARGIN_SHARE = 0.05
MARGIN_LEAST = 15.0
#: a probe's timed steps, after the first traces (``models.TRACE_STEPS``, 3: not imported, it loads Keras)
PROBE_TIMED = 5
_TRACES = 3
PROBE_STEPS = _TRACES + PROBE_TIMED
#: the least ``Budget.slowdown`` believed: trained steps at half the probes' time or faster count as half
SPEEDUP_LEAST = 0.5

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str, name: str = "budget") -> float | None:
    """Seconds of a duration such as ``2h``, ``45m``, ``1h30m``, ``90s`` or ``1.5h``; None for ``none``.
    Anything else raises ``ParameterError`` naming ``name``."""
    spelled = str(text).strip().lower().replace(" ", "")
    if spelled == "none":
        return None
    match = _DURATION.fullmatch(spelled)
    if not spelled or match is None or not any(match.groups()):
        raise ParameterError(name, text, "expected a duration such as 2h, 45m, 1h30m or 90s (hours, minutes, "
                                         "seconds), or none for the profile's own lengths")
    seconds = sum(float(v) * _UNITS[u] for v, u in zip(match.groups(), "hms") if v)
    if seconds <= 0:
        raise ParameterError(name, text, "must be longer than 0 (or none for the profile's own lengths)")
    return seconds


def format_duration(seconds: float) -> str:
    """``2h``, ``1h30m``, ``12m``, ``3m20s``, ``45s``: whole seconds, the way ``parse_duration`` reads them."""
    s = int(round(seconds))
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{sec}s" if sec else "")
    return text or "0s"


def margin(budget: float) -> float:
    """Seconds of a budget kept free at its end (start-up, exit and the probes' noise)."""
    return max(MARGIN_LEAST, MARGIN_SHARE * budget)


def least_budget(need: float) -> float:
    """The least budget (rounded up: to 10 s under 10 minutes, else to whole minutes) whose
    margin still leaves ``need`` seconds."""
    raw = max(need + MARGIN_LEAST, need / (1 - MARGIN_SHARE))
    step = 10 if raw < 600 else 60
    return float(math.ceil(raw / step) * step)


def process_started() -> float:
    """When this process started (``time.time()`` seconds; now where the system does not say), so that a
    budget also covers Python's start-up and imports."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        started = time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
    return min(started, time.time())


def command_started(young: float = 60.0) -> float:
    """When the running command started: this process's start when it began less than ``young``
    seconds ago (a command run from a shell reaches its handler within seconds), else now (a
    handler called inside a longer-lived process, such as a test run)."""
    started, now = process_started(), time.time()
    return started if now - started < young else now


def clock(t: float) -> str:
    """A wall-clock time (local) of ``time.time()`` seconds, as a log line gives it."""
    return time.strftime("%H:%M:%S", time.localtime(t))


# ------------------------------------------------------------------ the rule (pure)
@dataclass(frozen=True)
class FieldCost:
    """What the networks trained with one step setting (a ``Settings`` path) cost: ``per_step`` seconds for one
    more step (every network of the field and every fit of it: K out-of-fold scorers cost K times
    one) and ``fixed`` seconds whatever the steps (building, first traces, saving)."""

    profile: int
    per_step: float
    fixed: float = 0.0


@dataclass(frozen=True)
class Plan:
    """Planned steps per field, the estimated seconds of that work (fixed costs and ``tail``
    included), the seconds the minimums need, and whether the minimums fit the time given."""

    steps: dict
    seconds: float
    least: float
    fits: bool


def minimum_steps(name: str, profile: int) -> int:
    """A field's least steps: ``MIN_SHARE`` of its profile steps, rounded up, at least 1."""
    return min(profile, max(1, math.ceil(MIN_SHARE[name] * profile)))


def _cost(costs: dict, steps: dict) -> float:
    return sum(costs[k].per_step * steps[k] for k in steps)


def _at_share(costs: dict, names, share: float, floor: dict) -> dict:
    return {k: min(costs[k].profile, max(floor[k], int(share * costs[k].profile + 1e-9))) for k in names}


def _largest_share(costs: dict, names, money: float, floor: dict) -> dict:
    """The steps of ``names`` at the largest common share of their profile steps (each at least its
    ``floor``) whose per-step cost fits ``money`` seconds; the floors when even they do not."""
    names = list(names)
    if not names:
        return {}
    if _cost(costs, full := _at_share(costs, names, 1.0, floor)) <= money:
        return full
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _cost(costs, _at_share(costs, names, mid, floor)) <= money:
            lo = mid
        else:
            hi = mid
    return _at_share(costs, names, lo, floor)


def plan_steps(costs: dict, seconds: float, *, tail: float = 0.0) -> Plan:
    """Steps for the fields in ``costs`` (name -> ``FieldCost``; a field with profile 0, like a
    profile without refiner, keeps 0) within ``seconds``, of which ``tail`` goes to work after the
    networks (out-of-fold predictions, stacker, saving): minimums first, then the landmark fields up
    to their profile, then the scorer fields (see the module's docstring).  When the minimums do not
    fit, ``fits`` is False and every field gets the largest common share of its profile steps that
    does fit, at least 1 step."""
    active = {k: c for k, c in costs.items() if c.profile > 0}
    idle = {k: 0 for k in costs if k not in active}
    fixed = tail + sum(c.fixed for c in active.values())
    mins = {k: minimum_steps(k, c.profile) for k, c in active.items()}
    least = fixed + _cost(active, mins)
    if least > seconds:
        ones = {k: 1 for k in active}
        steps = _largest_share(active, active, seconds - fixed, ones)
        return Plan({**steps, **idle}, fixed + _cost(active, steps), least, False)
    money = seconds - least
    steps = dict(mins)
    for group in (LANDMARK_FIELDS, SCORER_FIELDS):
        names = [k for k in group if k in active]
        before = _cost(active, {k: steps[k] for k in names})
        steps.update(_largest_share(active, names, money + before, mins))
        money -= _cost(active, {k: steps[k] for k in names}) - before
    return Plan({**steps, **idle}, fixed + _cost(active, steps), least, True)


# ------------------------------------------------------------------ the host
def host_info() -> dict:
    """CPU model, usable cores, Keras backend and version, and the device Keras trains on."""
    import platform

    import keras

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    gpus = visible_gpus()
    return {"cpu": cpu, "cores": cores, "backend": keras.backend.backend(), "keras": keras.__version__,
            "device": f"GPU ({', '.join(gpus)})" if gpus else "CPU"}


def visible_gpus() -> list[str]:
    """The GPUs Keras' backend sees (none on a CPU-only host)."""
    import keras

    try:
        devices = keras.distribution.list_devices()
    except Exception:  # noqa: BLE001 -- a backend without device listing
        devices = []
    return [str(d) for d in devices if "gpu" in str(d).lower() or "cuda" in str(d).lower()]


# ------------------------------------------------------------------ bookkeeping of one training
def field_of(network: str) -> str:
    """The ``Settings`` path of the steps of a network named ``"<kind> localizer|refiner|scorer"``."""
    kind, role = network.split(" ", 1)
    return {"localizer": "localizer.steps", "refiner": "refiner.steps"}.get(role, f"{kind}.steps")


@dataclass
class Probe:
    """One network's probe: median seconds of a step, seconds of one fit besides its steps (building,
    data stream, first traces) and of saving it; ``fits``: how many times the training fits it."""

    step: float
    fixed: float
    save: float
    fits: int


class BudgetTooSmall(ParameterError):
    """A budget whose minimums do not fit on this host; ``least``: the least budget (seconds) that would."""

    def __init__(self, budget: float, least: float, why: str):
        self.least = least
        super().__init__("budget", format_duration(budget), f"too short for a useful model on this host: it needs "
                                                            f"at least {format_duration(least)} ({why})")


@dataclass
class Budget:
    """The time budget of one training: its deadline, the probes, the step times seen, the plans.

    ``scorer_rounds``: how many times the scorer stage and what follows it (out-of-fold predictions,
    stacker) will run within this budget with the planned scorer steps (``ra2 cv`` trains its
    ``--no-seg`` ablation with the same steps after the full method: 2)."""

    seconds: float
    started: float = field(default_factory=time.time)
    scorer_rounds: int = 1
    probes: dict = field(default_factory=dict)        # network -> Probe
    tail: dict = field(default_factory=dict)          # work after the networks -> seconds (one round)
    seen: dict = field(default_factory=dict)          # network -> [models.StepRecord] of its real fits
    plans: list = field(default_factory=list)
    folds: int | None = None                          # the out-of-fold scorers per kind last planned

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    @property
    def margin(self) -> float:
        return margin(self.seconds)

    def left(self, now: float | None = None) -> float:
        """Seconds left for work: to the deadline, less the margin."""
        return self.deadline - self.margin - (time.time() if now is None else now)

    def slowdown(self) -> float:
        """How much slower than probed the finished networks' steps ran (step-weighted; below 1 when
        faster, but not below ``SPEEDUP_LEAST``)."""
        seen = [(r.steps, r.step_seconds, self.probes[n].step) for n, rs in self.seen.items() if n in self.probes
                for r in rs if r.steps > _TRACES and math.isfinite(r.step_seconds)]
        probed = sum(n * p for n, _, p in seen)
        return max(SPEEDUP_LEAST, sum(n * s for n, s, _ in seen) / probed) if probed > 0 else 1.0

    def costs(self, settings, fields, folds: int | None = None) -> dict:
        """``FieldCost`` of the given step fields from the probes (scaled by ``slowdown``); ``folds``:
        the scorers fitted per kind, instead of the probes' count."""
        ratio, out = self.slowdown(), {}
        for name in fields:
            nets = [(n, p) for n, p in self.probes.items() if field_of(n) == name]
            rounds = self.scorer_rounds if name in SCORER_FIELDS else 1

            def fits(p):
                return folds if folds and name in SCORER_FIELDS and p.fits > 1 else p.fits

            out[name] = FieldCost(settings.get(name) if nets else 0,
                                  ratio * rounds * sum(fits(p) * p.step for _, p in nets),
                                  ratio * rounds * sum(fits(p) * (p.fixed + p.save) for _, p in nets))
        return out

    def _plan_folds(self, profile, fields, left: float) -> tuple[int | None, dict, Plan]:
        """(K, costs, plan) for the time ``left``: the profile's K out-of-fold scorers while each gets
        ``FOLD_SHARE`` of its profile steps, else fewer (see the module's docstring).  K is None when
        the scorers are not planned here or do not come in folds."""
        scorers = [f for f in fields if f in SCORER_FIELDS]
        top = max((p.fits for n, p in self.probes.items() if field_of(n) in scorers), default=1)
        if not scorers or top <= LEAST_FOLDS:
            costs = self.costs(profile, fields)
            return None, costs, plan_steps(costs, left, tail=self.tail_seconds())
        tried = []
        for k in range(top, LEAST_FOLDS - 1, -1):
            costs = self.costs(profile, fields, folds=k)
            plan = plan_steps(costs, left, tail=self.tail_seconds())
            share = min(plan.steps[f] / costs[f].profile for f in scorers if costs[f].profile > 0)
            if plan.fits and share >= FOLD_SHARE - 1e-9:
                return k, costs, plan
            tried.append((plan.fits, share, k, costs, plan))
        _, _, k, costs, plan = max(tried, key=lambda t: (t[0], t[1], t[2]))
        return k, costs, plan

    def tail_seconds(self) -> float:
        return self.slowdown() * self.scorer_rounds * sum(self.tail.values())

    def plan(self, stage: str, profile, settings, fields, *, first: bool = False):
        """The settings for ``stage`` with the step ``fields`` still to train planned from ``profile``
        (the profile's own lengths) in the time left; logs the plan and the estimated end.  On the
        ``first`` plan, minimums that do not fit raise ``BudgetTooSmall`` (nothing has trained yet)."""
        now = time.time()
        left = self.left(now)
        trained = {field_of(n) for n in self.probes}          # a limb kind without images has no networks
        fields = [f for f in fields if profile.get(f) > 0 and f in trained]
        folds, costs, plan = self._plan_folds(profile, fields, left)
        if first or not plan.fits:
            log.info("budget: %s spent so far; the rest at the least steps: %s, and after the networks %s",
                     format_duration(now - self.started),
                     ", ".join(f"{_label(k)} {c.fixed + c.per_step * minimum_steps(k, c.profile):.0f} s"
                               for k, c in costs.items() if c.profile > 0),
                     ", ".join(f"{k} {v * self.slowdown() * self.scorer_rounds:.0f} s" for k, v in self.tail.items())
                     or "nothing")
        if not plan.fits:
            if first:
                need = now - self.started + plan.least
                raise BudgetTooSmall(self.seconds, least_budget(need),
                                     f"{format_duration(now - self.started)} already spent reading and probing, "
                                     f"{format_duration(plan.least)} for the shortest useful training")
            log.warning("budget: the time left (%s) is less than the shortest useful training of what is left "
                        "(%s): the networks left get %s of their profile steps to end in time",
                        format_duration(left), format_duration(plan.least),
                        ", ".join(f"{k} {v}" for k, v in plan.steps.items()))
        settings = settings.with_values({**plan.steps, **({"oof_folds": folds} if folds else {})})
        self.folds = folds or self.folds
        end = now + plan.seconds
        self.plans.append({"stage": stage, "at_seconds": round(now - self.started, 1),
                           "left_seconds": round(left, 1), "steps": dict(plan.steps),
                           **({"oof_folds": folds} if folds else {}),
                           "estimated_seconds": round(plan.seconds, 1), "slowdown": round(self.slowdown(), 3),
                           "minimums_fit": plan.fits})
        log.info("budget: %s: planned steps %s; training estimated to end at %s (budget %s ends at %s)", stage,
                 ", ".join(f"{_label(k)} {settings.get(k)}{self._times(k)}" for k in STEP_FIELDS
                           if profile.get(k) > 0 and k in trained),
                 clock(end), format_duration(self.seconds), clock(self.deadline))
        return settings

    def trim(self, stage: str, settings, fields, folds_left: int):
        """Before a later out-of-fold fold: ``settings`` with the scorer ``fields`` shortened, if need be,
        so that the ``folds_left`` folds still to train end in time at the step times seen so far (the
        earlier folds' included); never longer than ``settings`` already gives them.  A host that slows
        down inside the scorer stage, where no stage boundary re-plans, still ends in time; one that
        speeds up keeps the planned lengths.  Logs and records a shortening."""
        now = time.time()
        left = self.left(now)
        trained = {field_of(n) for n in self.probes}
        fields = [f for f in fields if settings.get(f) > 0 and f in trained]
        costs = self.costs(settings, fields, folds=folds_left)
        plan = plan_steps(costs, left, tail=self.tail_seconds())
        steps = {k: min(v, settings.get(k)) for k, v in plan.steps.items() if k in fields}
        if all(steps[k] == settings.get(k) for k in steps):
            return settings
        log.warning("budget: %s: the scorers ran slower than planned (%s left for %d more fold(s)): shortened "
                    "to %s to end in time", stage, format_duration(left), folds_left,
                    ", ".join(f"{_label(k)} {v}" for k, v in steps.items()))
        self.plans.append({"stage": stage, "at_seconds": round(now - self.started, 1), "left_seconds": round(left, 1),
                           "steps": dict(steps), "estimated_seconds": round(plan.seconds, 1),
                           "slowdown": round(self.slowdown(), 3), "minimums_fit": plan.fits, "trimmed": True})
        return settings.with_values(steps)

    def _times(self, name: str) -> str:
        fits = max((p.fits for n, p in self.probes.items() if field_of(n) == name), default=1)
        fits = self.folds if self.folds and name in SCORER_FIELDS and fits > 1 else fits
        fits *= self.scorer_rounds if name in SCORER_FIELDS else 1
        return f" x{fits}" if fits > 1 else ""

    def record(self) -> dict:
        """What ``Bundle.training["budget"]`` keeps of it."""
        return {"seconds": self.seconds, "spelled": format_duration(self.seconds),
                "margin_seconds": round(self.margin, 1), "minimum_share": dict(MIN_SHARE),
                "fold_share": FOLD_SHARE, "least_folds": LEAST_FOLDS,
                "scorer_rounds": self.scorer_rounds,
                "tail_seconds": {k: round(v, 2) for k, v in self.tail.items()}, "plans": self.plans}


def _label(name: str) -> str:
    return {"localizer.steps": "localizer", "refiner.steps": "refiner", "hand.steps": "hand scorer",
            "foot.steps": "foot scorer"}[name]


def network_record(settings, probes: dict, seen: dict) -> dict:
    """Per network: the steps it got, its fits, the median seconds per step measured in its training
    (and in its probe, when budgeted) and the seconds its fits took."""
    out = {}
    for name in sorted(set(probes) | set(seen)):
        records = seen.get(name, [])
        entry = {"steps": settings.get(field_of(name)), "fits": len(records) or (probes[name].fits
                                                                                      if name in probes else 0)}
        steady = [r.step_seconds for r in records if math.isfinite(r.step_seconds)]
        if steady:
            entry["seconds_per_step"] = round(sorted(steady)[len(steady) // 2], 5)
            entry["seconds"] = round(sum(r.seconds for r in records), 1)
        if name in probes:
            entry["probe_seconds_per_step"] = round(probes[name].step, 5)
            entry["probe_fixed_seconds"] = round(probes[name].fixed, 2)
        out[name] = entry
    return out


def steps_from(bundle_dir) -> dict:
    """The four step settings and the out-of-fold scorers per kind of a trained bundle's settings, by
    their paths (``ra2 train --steps-from``; ``Settings.with_values`` takes them)."""
    from .bundle import Bundle

    settings = Bundle.load(bundle_dir, verify=False).settings
    return {k: settings.get(k) for k in STEP_FIELDS + ("oof_folds",)}
