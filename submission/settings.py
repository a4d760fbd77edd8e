"""The method's settings: ``Settings``, the sizes, widths and training lengths of every stage.

The named ones (``quick``, ``small``, ``full``, ``demo``) are ``submission.profiles.PROFILES``; a
trained bundle records the settings it was trained with (``bundle.Bundle``), and
``Settings.from_dict`` reads them back, refusing a value of the wrong kind in one line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from challenge.catalogue import DAMAGE_TYPES

#: the settings that name damage types
_DAMAGE_LISTS = ("patient_weighted", "scorer_ordinal")


@dataclass(frozen=True)
class Settings:
    """Sizes, widths and training lengths of the method; see ``profiles.PROFILES`` for the named ones.

    ``*_steps`` are optimiser steps per network, fixed whatever the size of the
    training set (a foot scorer sees 6 patches per image, a hand scorer 21);
    ``*_epochs`` only split them for the progress display and the learning-rate schedule.
    ``oof_folds``: the out-of-fold scorers per kind (each sees (K-1)/K of the patients; all
    are averaged at prediction time).  ``*_patch_scale`` multiply a joint patch's side (see
    ``geometry.patch_side``); ``*_patch`` is the side in pixels the scorer sees it at, so the two
    together set the pitch.  ``patient_weighted``: the damage types whose scorer loss weighs
    each patient by its official leaderboard weight, raised to ``patient_weight_power`` (1: the
    weight itself, from 1 to 64; 0.5: its square root, 1 to 8).  ``ref_*``: the landmark refiner
    (``refine``), a network on fine-pitch crops of the stored image around the localizer's
    points; ``ref_steps = 0`` means no refiner.  ``scorer_aug``: the scorer also sees its patches
    turned, scaled and exposed otherwise (``score.warp_patch``, ``score.expose_patch``).
    ``scorer_ordinal``: the damage types whose scorer heads give each column's exceedance
    probabilities P(score > k), trained with BCE and read out as the expected score, instead of a
    regression with MSE.
    ``scorer_arch``: the scorer network's architecture, a name of ``models.SCORERS`` (``score.Scorer``
    builds it; an unknown name is refused there, before any training).
    ``scorer_turn`` and ``ref_turned``: test-time augmentation, each patch (crop) also scored turned
    by 180° and the answers averaged (bundles from before ``scorer_turn`` existed turn).
    ``stack_*``: the symmetry stacker's forests (trees per column, depth), whether its trees also
    see each limb's mean prediction per damage type, and whether it gives the three totals through
    lines fitted to its out-of-fold sums instead of the plain sums of the joints (``stack.Stacker``).
    The measured effect of each choice is in the README and the benchmarks' output.
    """

    profile: str = "small"
    loc_size: int = 128
    loc_base: int = 8
    loc_depth: int = 4
    loc_sigma: float = 2.0
    loc_steps: int = 300
    loc_epochs: int = 10
    both_ways: bool = False
    ref_steps: int = 0
    ref_crop: int = 64
    ref_pitch: float = 0.0025
    ref_base: int = 8
    ref_passes: int = 1
    ref_turned: bool = False
    hand_patch: int = 48
    foot_patch: int = 48
    hand_patch_scale: float = 0.6
    foot_patch_scale: float = 1.0
    scorer_arch: str = "unet"
    scorer_base: int = 8
    scorer_depth: int = 3
    hand_scorer_steps: int = 1500
    foot_scorer_steps: int = 1000
    scorer_epochs: int = 6
    scorer_aug: bool = False
    scorer_ordinal: tuple[str, ...] = ()
    scorer_turn: bool = True
    patient_weighted: tuple[str, ...] = ("erosion",)
    patient_weight_power: float = 1.0
    oof_folds: int = 4
    stack_trees: int = 500
    stack_depth: int = 4
    stack_summaries: bool = True
    stack_totals: bool = True
    seg: bool = True
    stack: bool = True

    def __post_init__(self):
        for name in _DAMAGE_LISTS:
            unknown = set(getattr(self, name)) - set(DAMAGE_TYPES)
            if unknown:
                raise ValueError(f"setting {name!r} names {', '.join(sorted(unknown))}: the damage types are "
                                 f"{', '.join(DAMAGE_TYPES)}")

    def patch_scale(self, kind: str) -> float:
        return self.hand_patch_scale if kind == "hand" else self.foot_patch_scale

    def patch_px(self, kind: str) -> int:
        return self.hand_patch if kind == "hand" else self.foot_patch

    def scorer_steps(self, kind: str) -> int:
        return self.hand_scorer_steps if kind == "hand" else self.foot_scorer_steps

    @property
    def refines(self) -> bool:
        return self.ref_steps > 0

    def with_steps(self, steps: int) -> "Settings":
        """The same settings with every network trained for ``steps`` optimiser steps."""
        return replace(self, loc_steps=steps, hand_scorer_steps=steps, foot_scorer_steps=steps,
                       ref_steps=steps if self.refines else 0)

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in d.items() if k in names}
        if "patch" in d:                   # bundles of before each limb kind had its own
            if not _same_kind(d["patch"], 0):
                raise ValueError(f"setting 'patch' is {d['patch']!r}, expected an integer like 48")
            for name in ("hand_patch", "foot_patch"):
                kept.setdefault(name, d["patch"])
        if "stack" in d:                   # bundles of before the limb means and totals: a stacker without them
            kept.setdefault("stack_summaries", False)
            kept.setdefault("stack_totals", False)
        if isinstance(kept.get("scorer_ordinal"), bool):   # bundles of before it named damage types
            kept["scorer_ordinal"] = DAMAGE_TYPES if kept["scorer_ordinal"] else ()
        for name in _DAMAGE_LISTS:
            if isinstance(kept.get(name), list):
                kept[name] = tuple(kept[name])
        for f in fields(cls):              # an edited manifest: a value of the wrong kind, named
            if f.name in kept and not _same_kind(kept[f.name], f.default):
                kind = {bool: "true or false", int: "an integer", float: "a finite number", str: "a text",
                        tuple: "a list of names"}[type(f.default)]
                raise ValueError(f"setting {f.name!r} is {kept[f.name]!r}, expected {kind} like {f.default!r}")
        return cls(**kept)


def _same_kind(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and math.isfinite(value)
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, type(default))
