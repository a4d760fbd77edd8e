"""The model bundle: one folder with ``bundle.json`` beside the weight files.

``Settings`` are the method's sizes, widths and training lengths; the named ones
(``quick``, ``small``, ``full``, ``demo``) are ``submission.profiles.PROFILES``.

``Bundle`` is a trained model: the settings, the landmark scheme (in full, so a
bundle trained with a custom scheme needs no other file), the limb kinds that
have networks (a hands-only training folder gives a bundle without foot
networks), the training prior (per-column mean in the metric's log2(x + 1)
space, given back in score units, used when a patient has no image at all),
the stacker's blend weights, versions, the training data's fingerprint and a
SHA-256 of every file it owns.  It owns the file names: code elsewhere asks it
for a path and never spells one.  ``Bundle.load`` refuses a folder whose files
do not match their checksums (a truncated copy, a half-finished retrain).

A bundle is written through ``challenge.outputs.staged_folder``: into a temporary
sibling that replaces the old folder only once everything is in it, so an
interrupted or failed training leaves the previous bundle exactly as it was.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from challenge.catalogue import DAMAGE_TYPES, KINDS
from challenge.errors import UsageError
from challenge.outputs import file_sha256, jsonable, write_json
from challenge.schemes import Scheme

FORMAT = "ra2-method-bundle"
VERSION = 7             # 6: the manifest covers itself (MANIFEST_DIGEST); 7: the stacker as plain arrays
MANIFEST = "bundle.json"
#: the manifest's field holding the SHA-256 of the rest of the manifest (``manifest_digest``)
MANIFEST_DIGEST = "manifest_sha256"


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


def fingerprint(paths) -> str:
    """SHA-256 over the names, sizes and contents of the training files (sorted by name)."""
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        h.update(p.name.encode())
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"<unreadable>")
    return h.hexdigest()


def manifest_digest(record: dict) -> str:
    """SHA-256 of a manifest's content without its own digest: sorted keys, no spaces, so that the
    manifest's layout may change but none of its values."""
    body = {k: v for k, v in jsonable(record).items() if k != MANIFEST_DIGEST}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Bundle:
    """A trained method: what ``bundle.json`` holds, and the names of the files beside it."""

    settings: Settings
    scheme: Scheme
    kinds: tuple[str, ...]                   # limb kinds with networks
    n_scorers: dict[str, int]                # kind -> scorers averaged at prediction time
    prior: dict[str, float]                  # column -> training prior (score units)
    untrained: dict[str, str] = field(default_factory=dict)   # kind -> why it has no networks
    patch_mm: dict[str, float] = field(default_factory=dict)  # kind -> patch side in mm (geometry.patch_mm)
    blend_weights: dict[str, float] | None = None
    seed: int = 0
    backend: str = ""
    keras_version: str = ""
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    train_seconds: float | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None

    STACKER = "stacker.npz"               # submission.stack.save: plain arrays, no pickle
    FEATURES = "stacker_features.csv"

    # --- the files a bundle owns
    @staticmethod
    def localizer_file(kind: str) -> str:
        return f"localizer_{kind}.keras"

    @staticmethod
    def refiner_file(kind: str) -> str:
        return f"refiner_{kind}.keras"

    @staticmethod
    def scorer_file(kind: str, k: int) -> str:
        """The k-th scorer (from 1) of a limb kind."""
        return f"scorer_{kind}_{k}.keras"

    def scorer_files(self, kind: str) -> list[str]:
        """The scorers of a limb kind (their predictions are averaged)."""
        return [self.scorer_file(kind, k) for k in range(1, self.n_scorers.get(kind, 0) + 1)]

    def files(self) -> list[str]:
        """Every file of the bundle besides ``bundle.json``."""
        names = []
        for kind in self.kinds:
            names.append(self.localizer_file(kind))
            if self.settings.refines:
                names.append(self.refiner_file(kind))
            names.extend(self.scorer_files(kind))
        if self.settings.stack:
            names += [self.STACKER, self.FEATURES]
        return names

    def path(self, name: str) -> Path:
        if self.folder is None:
            raise ValueError("this bundle has no folder yet (save it first)")
        return self.folder / name

    # --- reading and writing
    def save(self, folder: str | Path) -> Path:
        """Record the checksum of every file in ``folder`` and write ``bundle.json`` atomically."""
        folder = Path(folder)
        self.checksums = {name: file_sha256(folder / name) for name in self.files()}
        self.folder = folder
        record = {"format": FORMAT, "version": VERSION, "profile": self.settings.profile,
                  **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "folder"}}
        record["scheme"] = json.loads(self.scheme.to_json())
        record["settings"] = asdict(self.settings)
        record[MANIFEST_DIGEST] = manifest_digest(record)
        return write_json(folder / MANIFEST, record)

    @classmethod
    def load(cls, folder: str | Path, *, verify: bool = True) -> "Bundle":
        """The bundle in ``folder``; ``UsageError`` names what is wrong (and, with ``verify``,
        any file that is missing or does not match its recorded checksum)."""
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise UsageError(f"{folder}: not a model bundle (no {MANIFEST}; train one with 'ra2 train')")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"{path}: unreadable bundle manifest ({exc})") from exc
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise UsageError(f"{path}: not a method bundle (format {d.get('format') if isinstance(d, dict) else d!r})")
        if d.get("version") != VERSION:
            raise UsageError(f"{path}: bundle format version {d.get('version')} is not supported "
                             f"(this code reads version {VERSION}): retrain it with 'ra2 train'")
        if d.get(MANIFEST_DIGEST) != manifest_digest(d):
            raise UsageError(f"{path}: changed since training (its values do not match its {MANIFEST_DIGEST}: "
                             "a setting, the scheme or a weight edited by hand?): restore the bundle or retrain it")
        try:
            bundle = cls(settings=Settings.from_dict(d["settings"]), scheme=Scheme.from_dict(d["scheme"]),
                         kinds=tuple(d["kinds"]), n_scorers=dict(d["n_scorers"]), prior=dict(d["prior"]),
                         **{f.name: d[f.name] for f in fields(cls)
                            if f.name in d and f.name not in ("settings", "scheme", "kinds", "n_scorers", "prior",
                                                              "folder")},
                         folder=folder)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{path}: incomplete or damaged bundle manifest ({exc!r})") from exc
        strange = [k for k in bundle.kinds if k not in KINDS] + [f"{k}: {n!r}" for k, n in bundle.n_scorers.items()
                                                                  if not (isinstance(n, int) and 0 <= n <= 99)]
        if strange:                          # they make the file names: none may lead out of the folder
            raise UsageError(f"{path}: limb kinds or scorer counts this code does not know ({', '.join(strange)}): "
                             "retrain the bundle")
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Every file present and matching its checksum, else ``UsageError`` naming it."""
        if not self.checksums:
            raise UsageError(f"{self.folder / MANIFEST}: records no checksums of the bundle's files (edited, or "
                             "written by an older version): retrain the bundle")
        for name in self.files():
            p = self.path(name)
            if not p.is_file():
                raise UsageError(f"{self.folder}: missing file {name}: the bundle is incomplete; retrain it")
            if self.checksums.get(name) != file_sha256(p):
                raise UsageError(f"{p}: does not match its checksum in {MANIFEST} (changed, truncated or from "
                                 "another training): restore the bundle or retrain it")

    def load_model(self, name: str):
        """A Keras model of the bundle, compiled for nothing (prediction only)."""
        import keras

        try:
            return keras.saving.load_model(self.path(name), compile=False)
        except Exception as exc:  # noqa: BLE001 -- Keras raises many kinds for a damaged file
            raise UsageError(f"{self.path(name)}: cannot be loaded as a Keras model ({exc}): retrain the "
                             "bundle") from exc

    def load_stacker(self):
        from .stack import load

        try:
            return load(self.path(self.STACKER))
        except ValueError as exc:              # stack.load names what is wrong
            raise UsageError(f"{self.path(self.STACKER)}: cannot be loaded as a stacker ({exc}): retrain the "
                             "bundle") from exc
