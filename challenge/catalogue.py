"""The RA2 column catalogue: 4 overall columns and 86 joint columns.

Every joint column carries its limb (LH/RH/LF/RF), its anatomical group
(pip/mcp/wrist/mtp), its damage type (erosion/narrowing), its maximum score and
its mirror column (the same joint on the other side).  The order of ``COLUMNS``
is the order of the original release; readers and writers match by name.
"""
from __future__ import annotations

from dataclasses import dataclass

ID = "Patient_ID"
TOTAL = "Overall_Tol"
TOTAL_EROSION = "Overall_erosion"
TOTAL_NARROWING = "Overall_narrowing"
OVERALL = (TOTAL, TOTAL_EROSION, TOTAL_NARROWING)

LIMBS = ("LH", "RH", "LF", "RF")
HANDS = ("LH", "RH")
FEET = ("LF", "RF")
#: The limb kinds: every hand has the same joints, and every foot.
KINDS = ("hand", "foot")
#: The limbs of each kind, left first.
KIND_LIMBS = {"hand": HANDS, "foot": FEET}
EROSION = "erosion"
NARROWING = "narrowing"
DAMAGE_TYPES = (NARROWING, EROSION)
#: The marker inside a column name that tells its damage type.
DAMAGE_CODE = {EROSION: "_E__", NARROWING: "_J__"}

_HAND_EROSION = (
    ["mcp_E__ip"] + [f"pip_E__{i}" for i in range(2, 6)] + [f"mcp_E__{i}" for i in range(1, 6)]
    + [f"wrist_E__{s}" for s in ("mc1", "mul", "nav", "lunate", "radius", "ulna")]
)
_FOOT_EROSION = ["mtp_E__ip"] + [f"mtp_E__{i}" for i in range(1, 6)]
_HAND_NARROWING = (
    [f"pip_J__{i}" for i in range(2, 6)] + [f"mcp_J__{i}" for i in range(1, 6)]
    + [f"wrist_J__{s}" for s in ("cmc3", "cmc4", "cmc5", "mna", "capnlun", "radcar")]
)
_FOOT_NARROWING = ["mtp_J__ip"] + [f"mtp_J__{i}" for i in range(1, 6)]

_MIRROR_LIMB = {"LH": "RH", "RH": "LH", "LF": "RF", "RF": "LF"}
_KIND_OF = {limb: kind for kind, limbs in KIND_LIMBS.items() for limb in limbs}


def _known(limb: str) -> str:
    if limb not in _KIND_OF:
        raise ValueError(f"unknown limb {limb!r}: expected one of {', '.join(LIMBS)}")
    return limb


def kind_of(limb: str) -> str:
    """'hand' or 'foot' for a limb code (LH, RH, LF, RF)."""
    return _KIND_OF[_known(limb)]


def mirror(limb: str) -> str:
    """The same limb on the other side of the body (LH <-> RH, LF <-> RF)."""
    return _MIRROR_LIMB[_known(limb)]


def is_right(limb: str) -> bool:
    """Whether a limb is on the right side (the method mirrors those to the left)."""
    return _known(limb)[0] == "R"


@dataclass(frozen=True)
class Joint:
    """One joint score column."""

    column: str   # e.g. "LH_pip_E__2"
    limb: str     # LH, RH, LF or RF
    group: str    # pip, mcp, wrist or mtp
    damage: str   # "erosion" or "narrowing"
    site: str     # the part after the damage code, e.g. "2", "ip", "radcar"
    max_score: int

    @property
    def kind(self) -> str:
        """'hand' or 'foot'."""
        return kind_of(self.limb)

    @property
    def mirror(self) -> str:
        """The same joint on the other side of the body."""
        return mirror(self.limb) + self.column[2:]

    @property
    def name(self) -> str:
        """The column name without its limb prefix, e.g. 'pip_E__2'."""
        return self.column[3:]


def _make(limbs, names, damage) -> list[Joint]:
    out = []
    for limb in limbs:
        for name in names:
            group, site = name.split(DAMAGE_CODE[damage])
            if damage == NARROWING:
                top = 4
            else:
                top = 5 if kind_of(limb) == "hand" else 10
            out.append(Joint(f"{limb}_{name}", limb, group, damage, site, top))
    return out


#: All 86 joints in the original release's order (erosion block, then narrowing).
JOINTS: tuple[Joint, ...] = tuple(
    _make(HANDS, _HAND_EROSION, EROSION) + _make(FEET, _FOOT_EROSION, EROSION)
    + _make(HANDS, _HAND_NARROWING, NARROWING) + _make(FEET, _FOOT_NARROWING, NARROWING)
)
BY_COLUMN: dict[str, Joint] = {j.column: j for j in JOINTS}
JOINT_COLUMNS: tuple[str, ...] = tuple(j.column for j in JOINTS)
SCORE_COLUMNS: tuple[str, ...] = OVERALL + JOINT_COLUMNS
#: The 90 columns of the original release, in its order.
COLUMNS: tuple[str, ...] = (ID,) + SCORE_COLUMNS

EROSION_COLUMNS = tuple(j.column for j in JOINTS if j.damage == EROSION)
NARROWING_COLUMNS = tuple(j.column for j in JOINTS if j.damage == NARROWING)

#: Maximum possible Overall_Tol (44*5 + 12*5 + 42*4).
MAX_TOTAL = sum(j.max_score for j in JOINTS)


def joint_names(kind: str) -> tuple[str, ...]:
    """The joint column names of a limb kind without their limb prefix (both sides share them), in
    catalogue order: e.g. 'mcp_E__ip', 'pip_E__2', ... for 'hand'."""
    return tuple(dict.fromkeys(j.name for j in JOINTS if j.kind == kind))


def select(damage: str | None = None, kind: str | None = None, limb: str | None = None) -> tuple[str, ...]:
    """Joint columns filtered by damage type, limb kind ('hand'/'foot') and limb."""
    return tuple(
        j.column for j in JOINTS
        if (damage is None or j.damage == damage)
        and (kind is None or j.kind == kind)
        and (limb is None or j.limb == limb)
    )


def max_score(column: str) -> int:
    """Largest valid value of a score column (totals: the sum of their joints)."""
    if column in BY_COLUMN:
        return BY_COLUMN[column].max_score
    if column == TOTAL:
        return MAX_TOTAL
    if column == TOTAL_EROSION:
        return sum(BY_COLUMN[c].max_score for c in EROSION_COLUMNS)
    if column == TOTAL_NARROWING:
        return sum(BY_COLUMN[c].max_score for c in NARROWING_COLUMNS)
    raise KeyError(f"unknown score column {column!r}")


def later_release_columns() -> tuple[str, ...]:
    """The column order of the later data release: LF_mtp_J__ip and RF_mtp_J__ip swapped."""
    cols = list(COLUMNS)
    a, b = cols.index("LF_mtp_J__ip"), cols.index("RF_mtp_J__ip")
    cols[a], cols[b] = cols[b], cols[a]
    return tuple(cols)
