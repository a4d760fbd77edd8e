"""The named settings of the method: every profile in one place, the demo's included.

``PROFILES`` maps a name to a ``settings.Settings``: ``quick`` for tests, ``small`` for CI and 2
cores, ``full`` for the real task, ``demo`` for ``ra2 demo``.  Every ``--profile`` option takes its
choices from it, and ``profile_settings`` turns a name into its settings (or one clear error).
A caller changes a profile with ``dataclasses.replace``; nothing here changes a caller's settings.
"""
from __future__ import annotations

from dataclasses import replace

from challenge.catalogue import DAMAGE_TYPES
from challenge.errors import ParameterError

from .settings import Settings

# the networks sized for 2 CPU cores (CI, the demo), the localizer refined on fine crops
# (docs/measurements.md says what each choice gained)
_SMALL = Settings(profile="small", ref_steps=400, ref_crop=48, ref_pitch=0.003)

#: the named settings; ``ra2 train --profile NAME``
PROFILES = {
    # tiny networks and a few steps: tests and smoke runs
    "quick": Settings(profile="quick", loc_size=64, loc_base=4, loc_depth=3, loc_sigma=1.5, loc_steps=12,
                      loc_epochs=2, ref_steps=12, ref_crop=24, ref_base=4, hand_patch=32, foot_patch=32,
                      scorer_base=4, scorer_depth=2, hand_scorer_steps=12, foot_scorer_steps=12, scorer_epochs=1,
                      oof_folds=2, stack_trees=20),
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
    "full": Settings(profile="full", loc_steps=1000, ref_steps=800, hand_patch_scale=0.8, hand_patch=64,
                     scorer_depth=4, hand_scorer_steps=8000, foot_scorer_steps=3500, scorer_epochs=10,
                     scorer_aug=True, scorer_turn=False, ref_turned=True, scorer_ordinal=DAMAGE_TYPES,
                     patient_weight_power=0.5),
    # ``ra2 demo``: the small profile with shorter scorer training (2 out-of-fold scorers of 300
    # steps, 200 trees), so that the demo ends in 9 to 13 minutes on 2 cores (hosts differ)
    "demo": replace(_SMALL, profile="demo", hand_scorer_steps=300, foot_scorer_steps=300, scorer_epochs=3,
                    oof_folds=2, stack_trees=200),
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
