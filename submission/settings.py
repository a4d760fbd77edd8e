"""The method's settings: ``Settings``, the sizes, widths and training lengths of every stage.

One frozen dataclass per stage (``LocalizerSettings``, ``RefinerSettings``, ``ScorerSettings`` for
each limb kind, ``StackerSettings``) inside the top ``Settings``; each stage's ``from_settings``
takes its own part.  A setting is addressed by its dotted path (``"localizer.steps"``,
``"hand.depth"``, ``"oof_folds"``): ``Settings.get`` reads one, ``Settings.with_values`` gives the
settings with some changed (the time budget, ``ra2 train --steps-from`` and the benchmarks'
``--set`` use them).

The named ones (``quick``, ``small``, ``full``, ``demo``) are ``submission.profiles.PROFILES``; a
trained bundle records the settings it was trained with (``bundle.Bundle``), and
``Settings.from_dict`` reads them back, refusing a value of the wrong kind in one line, and the
flat settings of a bundle trained before the settings were per stage (retrain it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, is_dataclass, replace

from challenge.catalogue import DAMAGE_TYPES


#: the settings that name damage types (fields of ``ScorerSettings``)
_DAMAGE_LISTS = ("ordinal", "weighted")


def _check_damage_types(path: str, names) -> None:
    unknown = set(names) - set(DAMAGE_TYPES)
    if unknown:
        raise ValueError(f"setting {path!r} names {', '.join(sorted(unknown))}: the damage types are "
                         f"{', '.join(DAMAGE_TYPES)}")


@dataclass(frozen=True)
class LocalizerSettings:
    """The localizer (``localize.Localizer``): canonical image side ``size``, U-Net ``base`` width and
    ``depth``, heatmap ``sigma``; ``steps`` optimiser steps split into ``epochs`` (only the progress
    display and the learning-rate schedule see them); ``both_ways``: each image also scored turned
    by 180° and the more confident orientation kept."""

    size: int = 128
    base: int = 8
    depth: int = 4
    sigma: float = 2.0
    steps: int = 300
    epochs: int = 10
    both_ways: bool = False


@dataclass(frozen=True)
class RefinerSettings:
    """The landmark refiner (``refine.Refiner``), a network on fine-pitch crops of the stored image
    around the localizer's points; ``steps = 0`` means no refiner.  ``crop``: its crop side in
    pixels, ``pitch``: a crop pixel as a share of the image's long side, ``passes``: refinements
    in turn, ``turned``: each crop also refined turned by 180° and the answers averaged."""

    steps: int = 0
    crop: int = 64
    pitch: float = 0.0025
    base: int = 8
    passes: int = 1
    turned: bool = False


@dataclass(frozen=True)
class ScorerSettings:
    """One limb kind's scorer (``score.Scorer``).

    ``patch_scale`` multiplies a joint patch's side (see ``geometry.patch_side``); ``patch`` is the
    side in pixels the scorer sees it at, so the two together set the pitch.  ``steps`` optimiser
    steps per network, fixed whatever the size of the training set (a foot scorer sees 6 patches
    per image, a hand scorer 21), split into ``epochs``.  ``arch``: the network's architecture, a
    name of ``models.SCORERS`` (an unknown name is refused before any training), ``base`` and
    ``depth`` its width and levels.  ``aug``: the scorer also sees its patches turned, scaled and
    exposed otherwise (``score.warp_patch``, ``score.expose_patch``).  ``ordinal``: the damage
    types whose heads give each column's exceedance probabilities P(score > k), trained with BCE
    and read out as the expected score, instead of a regression with MSE.  ``turn``: test-time
    augmentation, each patch also scored turned by 180° and the answers averaged.  ``weighted``:
    the damage types whose loss weighs each patient by its official leaderboard weight, raised to
    ``weight_power`` (1: the weight itself, from 1 to 64; 0.5: its square root, 1 to 8)."""

    patch: int = 48
    patch_scale: float = 0.6
    steps: int = 1500
    arch: str = "unet"
    base: int = 8
    depth: int = 3
    epochs: int = 6
    aug: bool = False
    ordinal: tuple[str, ...] = ()
    turn: bool = True
    weighted: tuple[str, ...] = ("erosion",)
    weight_power: float = 1.0

    def __post_init__(self):
        for name in _DAMAGE_LISTS:
            _check_damage_types(name, getattr(self, name))


@dataclass(frozen=True)
class StackerSettings:
    """The symmetry stacker's forests (``stack.Stacker``): ``trees`` per column and their ``depth``;
    ``summaries``: its trees also see each limb's mean prediction per damage type; ``totals``: it
    gives the three totals through lines fitted to its out-of-fold sums instead of the plain sums
    of the joints."""

    trees: int = 500
    depth: int = 4
    summaries: bool = True
    totals: bool = True


@dataclass(frozen=True)
class Settings:
    """Sizes, widths and training lengths of the method; see ``profiles.PROFILES`` for the named ones.

    One part per stage: ``localizer``, ``refiner``, the scorers ``hand`` and ``foot`` (their own
    patches and lengths), ``stacker``.  ``oof_folds``: the out-of-fold scorers per kind (each sees
    (K-1)/K of the patients; all are averaged at prediction time).  ``seg``: the scorers also
    learn the joint-space mask; ``stack``: out-of-fold scorers and the stacker (else one scorer per
    kind, its answers as they are).  The measured effect of each choice is in the README and the
    benchmarks' output.
    """

    profile: str = "small"
    localizer: LocalizerSettings = LocalizerSettings()
    refiner: RefinerSettings = RefinerSettings()
    hand: ScorerSettings = ScorerSettings()
    foot: ScorerSettings = ScorerSettings(patch_scale=1.0, steps=1000)
    stacker: StackerSettings = StackerSettings()
    oof_folds: int = 4
    seg: bool = True
    stack: bool = True

    def scorer(self, kind: str) -> ScorerSettings:
        """The scorer settings of a limb kind (``"hand"`` or ``"foot"``)."""
        if kind not in ("hand", "foot"):
            raise ValueError(f"no scorer settings for limb kind {kind!r}")
        return getattr(self, kind)

    @property
    def refines(self) -> bool:
        return self.refiner.steps > 0

    def with_steps(self, steps: int) -> "Settings":
        """The same settings with every network trained for ``steps`` optimiser steps."""
        return self.with_values({"localizer.steps": steps, "hand.steps": steps, "foot.steps": steps,
                                 "refiner.steps": steps if self.refines else 0})

    # --- settings addressed by dotted path
    def get(self, path: str):
        """The value of the setting at a dotted ``path`` (``"hand.steps"``, ``"oof_folds"``);
        ``ValueError`` naming the paths for one that is not a setting."""
        value = self
        for part in path.split("."):
            if not (is_dataclass(value) and part in {f.name for f in fields(value)}):
                raise ValueError(f"no setting {path!r}: the settings are {', '.join(self.paths())}")
            value = getattr(value, part)
        if is_dataclass(value):
            raise ValueError(f"{path!r} is a group of settings, not one: give one of "
                             f"{', '.join(p for p in self.paths() if p.startswith(path + '.'))}")
        return value

    def with_values(self, values: dict) -> "Settings":
        """These settings with the values of ``values`` (dotted path -> value) instead."""
        out = self
        for path, value in values.items():
            self.get(path)                                 # a path that is not a setting: named
            if path.rsplit(".", 1)[-1] in _DAMAGE_LISTS:   # an unknown damage type: named by its path
                _check_damage_types(path, value)
            out = _replace_at(out, path.split("."), value)
        return out

    @classmethod
    def paths(cls) -> list[str]:
        """Every setting's dotted path, in field order."""
        return list(_paths(cls()))

    # --- a bundle's record
    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        """The settings of a bundle manifest (``dataclasses.asdict`` of one): ``ValueError`` in one line
        for a value of the wrong kind (named by its path), an unknown damage type, or the flat
        settings of a bundle trained before the settings were per stage."""
        if is_flat(d):
            raise ValueError(FLAT_REFUSAL)
        return _read(cls(), d, "")


#: field names of the flat settings of before the settings were per stage (bundle version 7 and older)
FLAT_NAMES = frozenset({
    "loc_size", "loc_base", "loc_depth", "loc_sigma", "loc_steps", "loc_epochs", "both_ways", "ref_steps",
    "ref_crop", "ref_pitch", "ref_base", "ref_passes", "ref_turned", "patch", "hand_patch", "foot_patch",
    "hand_patch_scale", "foot_patch_scale", "scorer_arch", "scorer_base", "scorer_depth", "hand_scorer_steps",
    "foot_scorer_steps", "scorer_epochs", "scorer_aug", "scorer_ordinal", "scorer_turn", "patient_weighted",
    "patient_weight_power", "stack_trees", "stack_depth", "stack_summaries", "stack_totals"})
FLAT_REFUSAL = ("trained before the settings were per stage (its settings are one flat list): retrain it "
                "with 'ra2 train'")


def is_flat(d) -> bool:
    """Whether a manifest's settings are the flat ones of before the settings were per stage."""
    return isinstance(d, dict) and any(k in FLAT_NAMES for k in d)


def _paths(value, prefix: str = ""):
    for f in fields(value):
        inner = getattr(value, f.name)
        if is_dataclass(inner):
            yield from _paths(inner, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name


def _replace_at(obj, parts: list[str], value):
    if len(parts) == 1:
        return replace(obj, **{parts[0]: value})
    return replace(obj, **{parts[0]: _replace_at(getattr(obj, parts[0]), parts[1:], value)})


def _read(default, d, prefix: str):
    """A settings dataclass like ``default`` from its dict ``d``: the missing values ``default``'s,
    the names it does not have ignored, each value checked against the kind of ``default``'s."""
    if not isinstance(d, dict):
        raise ValueError(f"setting {prefix.rstrip('.') or 'settings'!r} is {d!r}, expected a group of settings")
    kept = {}
    for f in fields(default):
        if f.name not in d:
            continue
        value, like, path = d[f.name], getattr(default, f.name), prefix + f.name
        if is_dataclass(like):
            kept[f.name] = _read(like, value, path + ".")
            continue
        if isinstance(like, tuple) and isinstance(value, list):
            value = tuple(value)
        if not _same_kind(value, like):       # an edited manifest: a value of the wrong kind, named
            kind = {bool: "true or false", int: "an integer", float: "a finite number", str: "a text",
                    tuple: "a list of names"}[type(like)]
            raise ValueError(f"setting {path!r} is {value!r}, expected {kind} like {like!r}")
        if f.name in _DAMAGE_LISTS:
            _check_damage_types(path, value)
        kept[f.name] = value
    return replace(default, **kept)


def _same_kind(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and math.isfinite(value)
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, type(default))
