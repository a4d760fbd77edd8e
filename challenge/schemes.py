"""Landmark schemes: which landmark's patch scores which score column.

A scheme is data: for each limb kind ('hand', 'foot') an ordered list of
landmark names and, for every joint column name without its limb prefix
(e.g. ``pip_J__2``), the landmark that carries it.  Several columns may share
a landmark.  Each landmark also has a joint group (finger, wrist, toe) for the
per-group localisation metric: a JSON scheme may give them as ``groups``
(kind -> {landmark: group}); a landmark it leaves out is a finger on a hand unless
named like a wrist point (``default_group``), and a toe on a foot.  Schemes are
stored as JSON (``Scheme.to_json``) so that a user can train with a scheme of
their own (``--scheme FILE``); files without ``groups`` still load.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalogue import KINDS, joint_names, kind_of
from .errors import UsageError


@dataclass(frozen=True)
class Scheme:
    name: str
    landmarks: dict[str, tuple[str, ...]]          # kind -> landmark names (heatmap channel order)
    carries: dict[str, dict[str, str]] = field(default_factory=dict)  # kind -> {column name: landmark}
    groups: dict[str, dict[str, str]] = field(default_factory=dict)   # kind -> {landmark: joint group}

    def __post_init__(self):
        given = {k: dict(v) for k, v in (self.groups or {}).items()}
        for kind, mapping in given.items():
            unknown = sorted(set(mapping) - set(self.landmarks.get(kind, ())))
            if kind not in KINDS or unknown:
                raise ValueError(f"scheme {self.name!r}: groups name unknown {kind} landmark(s) {unknown or kind!r}")
        full = {kind: {lm: str(given.get(kind, {}).get(lm) or default_group(kind, lm))
                       for lm in self.landmarks.get(kind, ())} for kind in KINDS}
        object.__setattr__(self, "groups", full)
        for kind in KINDS:
            names = self.landmarks.get(kind, ())
            if len(set(names)) != len(names):
                raise ValueError(f"scheme {self.name!r}: duplicate landmark names for {kind}")
            needed = set(joint_names(kind))
            mapping = self.carries.get(kind, {})
            missing = sorted(needed - set(mapping))
            if missing:
                raise ValueError(f"scheme {self.name!r}: no landmark carries {kind} column(s) {missing}")
            unknown = sorted(set(mapping) - needed)
            if unknown:
                raise ValueError(f"scheme {self.name!r}: unknown {kind} column(s) {unknown}")
            bad = sorted({lm for lm in mapping.values() if lm not in names})
            if bad:
                raise ValueError(f"scheme {self.name!r}: {kind} landmark(s) {bad} are not declared")

    def columns_of(self, kind: str, landmark: str) -> tuple[str, ...]:
        """Column names (no limb prefix) carried by a landmark, in catalogue order."""
        return tuple(c for c in joint_names(kind) if self.carries[kind][c] == landmark)

    def carry_matrix(self, kind: str) -> np.ndarray:
        """(landmarks × columns) 0/1 float32: which landmark (``landmarks[kind]`` order) carries which
        column (``catalogue.joint_names(kind)`` order, the scorer's outputs)."""
        names, cols = self.landmarks[kind], joint_names(kind)
        out = np.zeros((len(names), len(cols)), np.float32)
        for k, col in enumerate(cols):
            out[names.index(self.carries[kind][col]), k] = 1
        return out

    def group_of(self, kind: str, landmark: str) -> str:
        """The joint group of a landmark (finger, wrist, toe or the scheme's own name)."""
        return self.groups[kind][landmark]

    def landmark_of(self, column: str) -> str:
        """The landmark that carries a full column name such as 'LH_pip_J__2'."""
        return self.carries[kind_of(column[:2])][column[3:]]

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "landmarks": {k: list(v) for k, v in self.landmarks.items()},
                           "carries": self.carries, "groups": self.groups}, indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "Scheme":
        return cls(d["name"], {k: tuple(v) for k, v in d["landmarks"].items()},
                   {k: dict(v) for k, v in d["carries"].items()},
                   {k: dict(v) for k, v in (d.get("groups") or {}).items()})


_FINGERS = [f"pip{i}" for i in range(2, 6)] + [f"mcp{i}" for i in range(1, 6)]


def _svh() -> Scheme:
    """One landmark per SvH location: 21 per hand, 6 per foot."""
    hand = tuple(_FINGERS + ["cmc3", "cmc4", "cmc5", "mna", "capnlun", "radcar",
                             "ip", "mc1", "mul", "lunate", "radius", "ulna"])
    carries_hand = {}
    for i in range(2, 6):
        carries_hand[f"pip_J__{i}"] = carries_hand[f"pip_E__{i}"] = f"pip{i}"
    for i in range(1, 6):
        carries_hand[f"mcp_J__{i}"] = carries_hand[f"mcp_E__{i}"] = f"mcp{i}"
    for s in ("cmc3", "cmc4", "cmc5", "mna", "capnlun", "radcar"):
        carries_hand[f"wrist_J__{s}"] = s
    carries_hand["mcp_E__ip"] = "ip"
    for s in ("mc1", "mul", "lunate", "radius", "ulna"):
        carries_hand[f"wrist_E__{s}"] = s
    carries_hand["wrist_E__nav"] = "radcar"
    foot = ("mtp_ip",) + tuple(f"mtp{i}" for i in range(1, 6))
    carries_foot = {}
    for s, lm in zip(["ip"] + [str(i) for i in range(1, 6)], foot):
        carries_foot[f"mtp_J__{s}"] = carries_foot[f"mtp_E__{s}"] = lm
    groups = {"hand": {lm: "finger" if lm in _FINGERS or lm == "ip" else "wrist" for lm in hand},
              "foot": {lm: "toe" for lm in foot}}
    return Scheme("svh21", {"hand": hand, "foot": foot}, {"hand": carries_hand, "foot": carries_foot}, groups)


def _coarse13() -> Scheme:
    """13 points per hand: fingers, thumb IP and three wrist points, each carrying two wrist joints per damage type."""
    base = _svh()
    hand = tuple(_FINGERS + ["ip", "wrist_radial", "wrist_ulnar", "wrist_proximal"])
    carries = {k: v for k, v in base.carries["hand"].items() if not k.startswith("wrist_")}
    for col, lm in {
        "wrist_J__mna": "wrist_radial", "wrist_J__cmc3": "wrist_radial",
        "wrist_E__mc1": "wrist_radial", "wrist_E__mul": "wrist_radial",
        "wrist_J__cmc4": "wrist_ulnar", "wrist_J__cmc5": "wrist_ulnar",
        "wrist_E__lunate": "wrist_ulnar", "wrist_E__ulna": "wrist_ulnar",
        "wrist_J__capnlun": "wrist_proximal", "wrist_J__radcar": "wrist_proximal",
        "wrist_E__nav": "wrist_proximal", "wrist_E__radius": "wrist_proximal",
    }.items():
        carries[col] = lm
    groups = {"hand": {lm: "wrist" if lm.startswith("wrist_") else "finger" for lm in hand},
              "foot": base.groups["foot"]}
    return Scheme("coarse13", {"hand": hand, "foot": base.landmarks["foot"]},
                  {"hand": carries, "foot": base.carries["foot"]}, groups)


SCHEMES = {"svh21": _svh, "coarse13": _coarse13}
DEFAULT_SCHEME = "svh21"


class SchemeError(UsageError, ValueError):
    """An unknown scheme name or an unusable scheme file (a ``UsageError``: the command says it in one line)."""


def load_scheme(name_or_file: str | Path = DEFAULT_SCHEME) -> Scheme:
    """A built-in scheme by name, or a scheme JSON file; ``SchemeError`` names what is wrong."""
    key = str(name_or_file)
    if key in SCHEMES:
        return SCHEMES[key]()
    path = Path(key)
    if not path.is_file():
        raise SchemeError(f"unknown landmark scheme {key!r}: give one of {sorted(SCHEMES)} or a JSON file")
    try:
        return Scheme.from_dict(json.loads(path.read_text()))
    except (KeyError, TypeError, AttributeError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise SchemeError(f"{path}: not a landmark scheme file ({exc})") from exc


#: name beginnings of wrist points (SvH wrist sites, carpal bones, forearm bones)
_WRIST_WORDS = ("wrist", "cmc", "carp", "mna", "mul", "capn", "capit", "radi", "radc", "uln", "luna", "lun",
                "scaph", "nav", "trap", "hamat", "pisi", "triq", "mc1")


def default_group(kind: str, landmark: str) -> str:
    """The joint group of a landmark a scheme gives none for: toe on a foot; on a hand a wrist point
    if named like one (``wrist_radial``, ``cmc3``, ``lunate``, ``radius``, ...), else finger."""
    if kind == "foot":
        return "toe"
    name = landmark.lower()
    return "wrist" if "wrist" in name or name.startswith(_WRIST_WORDS) else "finger"
