"""The reader's form: the SvH score sheet as readers know it, built from the column catalogue.

Hands: fingers (PIP 2-5, MCP 2-5), thumb (IP, MCP 1), wrist (six erosion sites, six
narrowing sites); feet: MTP 1-5 and the great toe's IP.  Each row has an erosion and a
narrowing cell per side (``None`` where SvH scores only one of them), so the left and right
limb sit side by side.  Every joint column of the catalogue appears exactly once per limb.
"""
from __future__ import annotations

from challenge.catalogue import BY_COLUMN, FEET, HANDS, JOINTS, KINDS

#: row label, erosion column name and narrowing column name (without limb prefix), by section
_HAND = (
    ("Fingers", [(f"PIP {i}", f"pip_E__{i}", f"pip_J__{i}") for i in range(2, 6)]
     + [(f"MCP {i}", f"mcp_E__{i}", f"mcp_J__{i}") for i in range(2, 6)]),
    ("Thumb", [("IP", "mcp_E__ip", None), ("MCP 1", "mcp_E__1", "mcp_J__1")]),
    ("Wrist", [("MC 1 base", "wrist_E__mc1", None), ("Trapezium (multangulum)", "wrist_E__mul", None),
               ("Scaphoid (navicular)", "wrist_E__nav", None), ("Lunate", "wrist_E__lunate", None),
               ("Distal radius", "wrist_E__radius", None), ("Distal ulna", "wrist_E__ulna", None),
               ("CMC 3", None, "wrist_J__cmc3"), ("CMC 4", None, "wrist_J__cmc4"), ("CMC 5", None, "wrist_J__cmc5"),
               ("Trapezium-scaphoid", None, "wrist_J__mna"), ("Capitate-scaphoid-lunate", None, "wrist_J__capnlun"),
               ("Radiocarpal", None, "wrist_J__radcar")]),
)
_FOOT = (
    ("Toes", [(f"MTP {i}", f"mtp_E__{i}", f"mtp_J__{i}") for i in range(1, 6)]
     + [("IP (great toe)", "mtp_E__ip", "mtp_J__ip")]),
)


def form_layout() -> dict:
    """{'hand': {'limbs': [LH, RH], 'sections': [...]}, 'foot': {...}}; each row
    {'label', 'erosion': name or None, 'narrowing': name or None}."""
    out = {}
    for kind, limbs, sections in (("hand", HANDS, _HAND), ("foot", FEET, _FOOT)):
        out[kind] = {"limbs": list(limbs), "sections": [
            {"title": title, "rows": [{"label": label, "erosion": e, "narrowing": n} for label, e, n in rows]}
            for title, rows in sections]}
    return out


def check_layout(layout: dict) -> None:
    """Every joint column exactly once (the form cannot silently lose a joint)."""
    seen = []
    for kind in KINDS:
        for limb in layout[kind]["limbs"]:
            for section in layout[kind]["sections"]:
                for row in section["rows"]:
                    seen += [f"{limb}_{row[d]}" for d in ("erosion", "narrowing") if row[d]]
    want = [j.column for j in JOINTS]
    if sorted(seen) != sorted(want) or len(set(seen)) != len(seen):
        missing = sorted(set(want) - set(seen))
        raise AssertionError(f"the form layout does not hold every joint once (missing {missing[:5]})")
    for column in seen:
        assert column in BY_COLUMN
