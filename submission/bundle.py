"""The model bundle: one folder with ``bundle.json`` beside the weight files.

The settings it was trained with are a ``settings.Settings``, stored nested, one part per stage (a
bundle of before the settings were per stage is refused: retrain it); the named ones
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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from challenge.catalogue import KINDS
from challenge.errors import UsageError
from challenge.outputs import file_sha256, jsonable, write_json
from challenge.schemes import Scheme

from .settings import FLAT_REFUSAL, Settings, is_flat

FORMAT = "ra2-method-bundle"
VERSION = 8             # 6: the manifest covers itself (MANIFEST_DIGEST); 7: the stacker as plain arrays;
#                         8: the settings per stage (``settings.Settings``'s parts, nested)
MANIFEST = "bundle.json"
#: the manifest's field holding the SHA-256 of the rest of the manifest (``manifest_digest``)
MANIFEST_DIGEST = "manifest_sha256"


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
        if d.get("version") != VERSION and is_flat(d.get("settings")):   # version 7 and older: flat settings
            raise UsageError(f"{path}: {FLAT_REFUSAL}")
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
