"""The named settings of the method: every profile in one place, the demo's included.

``PROFILES`` maps a name to a ``settings.Settings``: ``quick`` for tests, ``small`` for CI and 2
cores, ``full`` for the real task, ``demo`` for ``ra2 demo``.  Every ``--profile`` option takes its
choices from it, and ``profile_settings`` turns a name into its settings (or one clear error);
``resolve_settings`` applies a command's overrides (``--steps``, ``--no-seg``, ``--no-stack``), so
that every entry point (``train.train_bundle``, the benchmarks) is handed one resolved ``Settings``.
A caller changes a profile with ``Settings.with_values`` (dotted paths, e.g. ``{"hand.steps": 2000}``)
or ``dataclasses.replace``; nothing here changes a caller's settings.
"""
from __future__ import annotations

from dataclasses import replace

from challenge.catalogue import DAMAGE_TYPES
from challenge.errors import ParameterError

from .settings import LocalizerSettings, RefinerSettings, ScorerSettings, Settings, StackerSettings

# the networks sized for 2 CPU cores (CI, the demo), the localizer refined on fine crops
# (docs/measurements.md says what each choice gained)
_SMALL = Settings(profile="small", refiner=RefinerSettings(steps=400, crop=48, pitch=0.003))

# the scorer settings full's hand and foot scorers share (its profile comment says why)
_FULL_SCORERS = dict(depth=4, epochs=10, aug=True, turn=False, ordinal=DAMAGE_TYPES, weight_power=0.5)

#: the named settings; ``ra2 train --profile NAME``
PROFILES = {
    # tiny networks and a few steps: tests and smoke runs
    "quick": Settings(profile="quick",
                      localizer=LocalizerSettings(size=64, base=4, depth=3, sigma=1.5, steps=12, epochs=2),
                      refiner=RefinerSettings(steps=12, crop=24, base=4),
                      hand=ScorerSettings(patch=32, base=4, depth=2, steps=12, epochs=1),
                      foot=ScorerSettings(patch=32, patch_scale=1.0, base=4, depth=2, steps=12, epochs=1),
                      stacker=StackerSettings(trees=20), oof_folds=2),
    "small": _SMALL,
    # the real task (~1,500-px radiographs): every network trained longer, the refiner on 64-px
    # crops at 0.0025 of the long side, the scorer's patches turned, scaled and re-exposed (at this
    # length of training it helped), ordinal scorer heads (narrowing better on every seed of the
    # calibrated phantoms, erosion mixed); the refiner's crops also turned at prediction (the wrist
    # landmarks of the calibrated phantoms 97.3 % within 0.02 instead of 96.9 %, for about 9 % of
    # the prediction time), the scorer's not (it cost time and gained nothing measurable);
    # hand patches at 0.8 instead of 0.6 of the reference field (the 12-mm patch missed most wrist and
    # some MCP erosions: erosion better on every seed, narrowing a little worse), seen at 64 px instead
    # of 48 (the 0.6 field's pitch again: both damage types about 1 % better over five seeds; feet mixed),
    # hand scorers trained for 8,000 steps instead of 3,000 and foot scorers for 3,500 instead of 2,000
    # (narrowing better on every seed, erosion on most), the erosion loss weighing patients by the
    # square root of the official weight instead of the weight (narrowing better on every seed,
    # erosion's plain RMSE too, its weighted score unchanged), scorers four levels deep instead of
    # three (hand erosion better on every seed, hand narrowing and feet the same)
    "full": Settings(profile="full", localizer=LocalizerSettings(steps=1000),
                     refiner=RefinerSettings(steps=800, turned=True),
                     hand=ScorerSettings(patch=64, patch_scale=0.8, steps=8000, **_FULL_SCORERS),
                     foot=ScorerSettings(patch_scale=1.0, steps=3500, **_FULL_SCORERS)),
    # ``ra2 demo``: the small profile with shorter scorer training (2 out-of-fold scorers of 300
    # steps, 200 trees), so that the demo ends in 8 to 13 minutes on 2 cores (hosts differ)
    "demo": _SMALL.with_values({"profile": "demo", "hand.steps": 300, "foot.steps": 300, "hand.epochs": 3,
                                "foot.epochs": 3, "oof_folds": 2, "stacker.trees": 200}),
}
#: ``ra2 train`` and ``ra2 cv`` without ``--profile`` (the container trains it too)
DEFAULT_PROFILE = "full"
#: ``ra2 demo`` without ``--profile``
DEMO_PROFILE = "demo"


def profile_settings(name: str) -> Settings:
    """The settings of the profile ``name``; ``ParameterError`` (a ``UsageError``) naming the choices
    for a name that is not one."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ParameterError("profile", name, f"no such profile; choose one of {', '.join(PROFILES)}") from None


def resolve_settings(*, settings: Settings | None = None, profile: str | None = None, quick: bool = False,
                     seg: bool | None = None, stack: bool | None = None, steps: int | None = None) -> Settings:
    """The settings a training runs with: ``settings`` or the named profile (``quick`` for
    ``quick=True``, else ``DEFAULT_PROFILE``), with the given overrides applied by ``replace``."""
    base = settings if settings is not None else profile_settings("quick" if quick else profile or DEFAULT_PROFILE)
    if steps is not None:
        base = base.with_steps(steps)
    changes = {k: v for k, v in {"seg": seg, "stack": stack}.items() if v is not None}
    return replace(base, **changes) if changes else base
