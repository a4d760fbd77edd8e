"""The model bundle: one folder with ``bundle.json`` beside the weight files.

``bundle.json`` holds the format version, the landmark scheme (in full, so a
bundle trained with a custom scheme needs no other file), the settings (input
sizes, network widths), the Keras backend and version it was trained with, a
fingerprint of the training data, the scorer weight files of each limb kind
(with a stacker: the K out-of-fold scorers, averaged at prediction time; without
one: a single scorer trained on everyone), cross-validated metrics, the blend weights
and the training prior (per-column mean in the metric's log2(x + 1) space,
given back in score units) used when a patient has no image at all.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from challenge.errors import UsageError
from challenge.schemes import Scheme

FORMAT = "ra2-method-bundle"
VERSION = 3
MANIFEST = "bundle.json"
KINDS = ("hand", "foot")


@dataclass
class Settings:
    """Sizes, widths and training lengths of the method (``quick()`` = tiny settings for tests,
    ``demo()`` = the full networks trained for less long, for ``ra2 demo``).

    ``*_steps`` are optimiser steps per network, fixed whatever the size of the
    training set (a foot scorer sees 6 patches per image, a hand scorer 21);
    ``*_epochs`` only split them for the progress display and the learning-rate schedule.
    Each limb kind's scorer has its own step count: at 1,000 both were still learning (one
    held-out fold, three seeds, median hand SC3 0.465 -> 0.316 and foot SC3 0.411 -> 0.346 at
    1,500 steps). The hand scorer gets 1,500 and the foot scorer 1,000, and the localizers 300
    (in a 400-step run their loss at step 300 was within 0.2 % of that at step 400).
    ``oof_folds``: 4 out-of-fold scorers per kind (each sees 3/4 of the patients) rather than
    3: on the benchmark cohort SC2/SC3 0.196/0.432 -> 0.182/0.408 (SC1 0.207 -> 0.219) for
    21 % more training time (844 -> 1,021 s on a 2-core host; see the README).
    ``*_patch_scale`` multiply a joint patch's side (see ``score.patch_side``): the hand's
    patches cover 0.6 of the reference field, at finer pixels, because the small hand
    erosions were lost at the reference scale (hand-erosion RMSE on one held-out fold
    0.46 -> 0.42), while the foot's erosions got worse at 0.6 (0.34 -> 0.44).
    ``patient_weighted``: the damage types whose scorer loss weighs each patient by its
    official leaderboard weight (erosion only: on narrowing it made the scorers worse).
    """

    loc_size: int = 128
    loc_base: int = 8
    loc_depth: int = 4
    loc_sigma: float = 2.0
    loc_steps: int = 300
    loc_epochs: int = 10
    both_ways: bool = False
    patch: int = 48
    hand_patch_scale: float = 0.6
    foot_patch_scale: float = 1.0
    scorer_base: int = 8
    scorer_depth: int = 3
    hand_scorer_steps: int = 1500
    foot_scorer_steps: int = 1000
    scorer_epochs: int = 6
    patient_weighted: tuple[str, ...] = ("erosion",)
    oof_folds: int = 4
    stack_trees: int = 500
    stack_depth: int = 4
    seg: bool = True
    stack: bool = True

    def patch_scale(self, kind: str) -> float:
        return self.hand_patch_scale if kind == "hand" else self.foot_patch_scale

    def scorer_steps(self, kind: str) -> int:
        return self.hand_scorer_steps if kind == "hand" else self.foot_scorer_steps

    @classmethod
    def quick(cls, **kw) -> "Settings":
        base = dict(loc_size=64, loc_base=4, loc_depth=3, loc_sigma=1.5, loc_steps=12, loc_epochs=2, patch=32,
                    scorer_base=4, scorer_depth=2, hand_scorer_steps=12, foot_scorer_steps=12, scorer_epochs=1,
                    oof_folds=2, stack_trees=20)
        base.update(kw)
        return cls(**base)

    @classmethod
    def demo(cls, **kw) -> "Settings":
        """The full networks with shorter training: 2 out-of-fold scorers of 300 steps, 200 trees."""
        base = dict(hand_scorer_steps=300, foot_scorer_steps=300, scorer_epochs=3, oof_folds=2, stack_trees=200)
        base.update(kw)
        return cls(**base)

    @classmethod
    def from_dict(cls, d: dict) -> "Settings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


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


def weight_file(role: str, kind: str, k: int | None = None) -> str:
    return f"{role}_{kind}.keras" if k is None else f"{role}_{kind}_{k}.keras"


def scorer_files(manifest: dict, kind: str) -> list[str]:
    """The scorer weight files of a limb kind (their predictions are averaged)."""
    return list(manifest["scorers"][kind])


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    path = out_dir / MANIFEST
    tmp = out_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, default=_plain))
    tmp.replace(path)
    return path


def _plain(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    raise TypeError(f"cannot store {type(o).__name__} in {MANIFEST}")


def read_manifest(bundle_dir: str | Path) -> dict:
    """The checked manifest of a bundle folder; ``UsageError`` names what is wrong."""
    bundle_dir = Path(bundle_dir)
    path = bundle_dir / MANIFEST
    if not path.is_file():
        raise UsageError(f"{bundle_dir}: not a model bundle (no {MANIFEST}; train one with 'ra2 train')")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable bundle manifest ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise UsageError(f"{path}: not a method bundle (format {manifest.get('format')!r})")
    if manifest.get("version") != VERSION:
        raise UsageError(f"{path}: bundle format version {manifest.get('version')} is not supported "
                         f"(this code reads version {VERSION})")
    for kind in KINDS:
        for name in [weight_file("localizer", kind)] + scorer_files(manifest, kind):
            if not (bundle_dir / name).is_file():
                raise UsageError(f"{bundle_dir}: missing weight file {name}")
    if manifest["settings"].get("stack") and not (bundle_dir / "stacker.joblib").is_file():
        raise UsageError(f"{bundle_dir}: missing stacker.joblib")
    return manifest


def scheme_of(manifest: dict) -> Scheme:
    return Scheme.from_dict(manifest["scheme"])
