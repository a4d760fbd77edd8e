"""Drawing phantom radiographs: limb anatomy as data, rasterised with numpy and pillow.

A limb is built in millimetres in a canonical frame (a LEFT hand or foot, palm
down, fingers/toes up, y pointing up, the thumb / big toe on the +x side) from
capsule-shaped bones whose ends sit on joint centres.  Every joint has a
centre, an axis (proximal to distal) and a gap; the bone on each side stops
half a gap from the centre, so the joint-space width drawn in the image *is*
the gap we chose from the narrowing score.  Erosions are round lucent notches
bitten into the cortex next to the joint.  A right limb is the mirror image.

``render_limb`` turns one limb into a stored image: it maps millimetres to
pixels with the acquisition's scale, rotation and shift, draws soft tissue and
bones, applies exposure, blur and noise, optionally turns the image by 180°,
and returns the 8-bit image, the landmark pixel positions, the joint-space
mask and a record of the acquisition.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np
from PIL import Image, ImageFilter


# --------------------------------------------------------------------------------------------------
# anatomy in millimetres
# --------------------------------------------------------------------------------------------------

#: joint-space width left by each narrowing score, as a share of the healthy gap (4 = ankylosed: bones fused)
NARROWING_FACTOR = (1.0, 0.72, 0.46, 0.22, -0.15)


@dataclass
class Bone:
    name: str
    e0: np.ndarray          # proximal extreme (mm)
    e1: np.ndarray          # distal extreme (mm)
    r0: float               # radius at the proximal end
    rm: float               # radius of the shaft
    r1: float               # radius at the distal end
    cap: float = 0.5        # axial half-length of each end cap as a share of its radius (small = flat end)
    density: float = 1.0


@dataclass
class JointGeometry:
    """Where a phantom limb's joint is drawn (millimetres): not a score column (``challenge.catalogue.Joint``)."""

    name: str
    center: np.ndarray
    axis: np.ndarray        # unit vector, proximal -> distal
    gap: float              # mm; <= 0 means the bone ends touch or are fused
    half_width: float       # mm across the joint, for the mask
    prox: str               # bone names on either side
    dist: str
    masked: bool = False    # drawn into the joint-space mask


@dataclass
class Limb:
    kind: str                                   # "hand" or "foot"
    bones: dict[str, Bone] = field(default_factory=dict)
    joints: dict[str, JointGeometry] = field(default_factory=dict)
    tissue: list[tuple[np.ndarray, np.ndarray, float]] = field(default_factory=list)  # soft-tissue capsules
    landmarks: dict[str, np.ndarray] = field(default_factory=dict)
    notches: list[tuple[np.ndarray, float]] = field(default_factory=list)           # (centre, radius) mm
    bounds: tuple[float, float, float, float] = (0, 0, 0, 0)                        # xmin, xmax, ymin, ymax
    osteopenia: float = 0.0     # 0-1: loss of medullary density with disease (a global cue, as in real RA)
    swelling: float = 0.0       # mm added to the soft tissue round the fingers / toes

    def add_bone(self, name, e0, e1, radii, cap=0.5, density=1.0) -> Bone:
        bone = Bone(name, np.asarray(e0, float), np.asarray(e1, float), *radii, cap=cap, density=density)
        self.bones[name] = bone
        return bone


def unit(angle_deg: float) -> np.ndarray:
    """Direction at ``angle_deg`` from straight up, positive towards +x (the thumb side of a left limb)."""
    a = np.deg2rad(angle_deg)
    return np.array([np.sin(a), np.cos(a)])


def joint_gap(healthy: float, narrowing: int) -> float:
    return healthy * NARROWING_FACTOR[int(narrowing)]


def _joint(limb: Limb, name, center, angle, gap, half_width, prox, dist, masked=False) -> JointGeometry:
    j = JointGeometry(name, np.asarray(center, float), unit(angle), gap, half_width, prox, dist, masked)
    limb.joints[name] = j
    return j


def _below(j: JointGeometry) -> np.ndarray:
    """The proximal bone's end at a joint."""
    return j.center - j.axis * j.gap / 2


def _above(j: JointGeometry) -> np.ndarray:
    """The distal bone's end at a joint."""
    return j.center + j.axis * j.gap / 2


def _chain(limb: Limb, start: JointGeometry, bones, joints):
    """Bones laid end to end from the joint ``start``.

    ``bones``: (name, length, angle, (r0, rm, r1)); ``joints``: (name, healthy-or-actual gap,
    half-width, masked) between consecutive bones.  The joint axis is the proximal bone's direction.
    """
    e0 = _above(start)
    for k, (name, length, angle, radii) in enumerate(bones):
        u = unit(angle)
        e1 = e0 + u * length
        limb.add_bone(name, e0, e1, radii, cap=0.45)
        if k < len(joints):
            jname, gap, half, masked = joints[k]
            center = e1 + u * gap / 2
            _joint(limb, jname, center, angle, gap, half, name, bones[k + 1][0], masked)
            e0 = e1 + u * gap


@dataclass(frozen=True)
class Anatomy:
    """Per-patient anatomy: the same for both sides (a right limb is the mirror of the left)."""
    scale: float                 # overall size
    lengths: tuple[float, ...]   # per-bone length factors (used cyclically)
    spread: float                # finger / toe spread factor
    angles: tuple[float, ...]    # small per-ray angle offsets (degrees)
    gap_scale: float             # healthy joint-space width factor

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Anatomy":
        return cls(scale=float(rng.uniform(0.92, 1.08)),
                   lengths=tuple(float(x) for x in rng.uniform(0.95, 1.05, 24)),
                   spread=float(rng.uniform(0.4, 1.6)),
                   angles=tuple(float(x) for x in rng.normal(0, 1.5, 6)),
                   gap_scale=float(rng.uniform(0.9, 1.1)))


# healthy joint-space widths (mm); generous, so that narrowing stays visible at moderate image sizes
HAND_GAPS = {"mcp": 2.6, "pip": 2.2, "dip": 1.7, "ip": 2.2, "cmc": 1.8, "carpal": 1.8, "radcar": 2.3}
FOOT_GAPS = {"mtp": 2.6, "ip": 2.2, "pip": 1.7, "dip": 1.5, "tmt": 1.7}


def build_hand(narrowing: Mapping[str, int], anatomy: Anatomy) -> Limb:
    """A left hand in mm.  ``narrowing``: narrowing score by landmark-joint name (pip2, mcp1, cmc3, mna,
    capnlun, radcar); missing names count as 0."""
    a = anatomy
    g = {k: v * a.gap_scale for k, v in HAND_GAPS.items()}

    def gap(name, kind):
        return joint_gap(g[kind], narrowing.get(name, 0))

    L = a.lengths
    h = Limb("hand")
    # wrist joints (centres fixed in the canonical frame, gaps from the scores)
    radcar = _joint(h, "radcar", (9, 0), 0, gap("radcar", "radcar"), 4.8, "radius", "scaphoid", True)
    radlun = _joint(h, "radlun", (-4, 0), 0, radcar.gap, 4.8, "radius", "lunate", True)
    capnlun = _joint(h, "capnlun", (-3, 15), 0, gap("capnlun", "carpal"), 4.5, "lunate", "capitate", True)
    mna = _joint(h, "mna", (15, 19), 30, gap("mna", "carpal"), 4.2, "scaphoid", "trapezium", True)
    triham = _joint(h, "triham", (-16, 17), -5, g["carpal"], 4.0, "triquetrum", "hamate")
    cmc = {1: _joint(h, "cmc1", (23, 31), 35, g["cmc"], 4.4, "trapezium", "mc1", True),
           2: _joint(h, "cmc2", (10, 36), 8, g["cmc"], 3.8, "trapezoid", "mc2"),
           3: _joint(h, "cmc3", (-1, 37.5), 0, gap("cmc3", "cmc"), 4.0, "capitate", "mc3", True),
           4: _joint(h, "cmc4", (-12.5, 35.5), -7, gap("cmc4", "cmc"), 3.6, "hamate", "mc4", True),
           5: _joint(h, "cmc5", (-21, 33), -14, gap("cmc5", "cmc"), 3.6, "hamate", "mc5", True)}
    # forearm and carpals
    h.add_bone("radius", (3, -100), (3, -radcar.gap / 2), (9.0, 8.5, 13.0), cap=0.25)
    h.add_bone("ulna", (-19, -100), (-19, -3.5), (6.0, 5.5, 6.5), cap=0.55)
    h.add_bone("scaphoid", _above(radcar), _below(mna), (6.0, 5.2, 5.5), cap=0.6)
    h.add_bone("lunate", _above(radlun), _below(capnlun), (6.5, 6.6, 5.8), cap=0.55)
    h.add_bone("capitate", _above(capnlun), _below(cmc[3]), (5.4, 5.6, 6.0), cap=0.55)
    h.add_bone("trapezium", _above(mna), _below(cmc[1]), (5.2, 5.6, 5.4), cap=0.6)
    h.add_bone("trapezoid", (10.5, 23.5), _below(cmc[2]), (4.6, 4.8, 4.8), cap=0.6)
    h.add_bone("triquetrum", (-16, 4.5), _below(triham), (5.0, 5.0, 4.6), cap=0.6)
    h.add_bone("hamate", _above(triham), _below(cmc[4]), (4.6, 4.6, 4.6), cap=0.6)
    h.add_bone("hamate:b", _above(triham), _below(cmc[5]), (4.6, 4.4, 4.4), cap=0.6)
    h.add_bone("pisiform", (-19.5, 9.5), (-19.5, 12.5), (3.6, 3.6, 3.6), cap=0.8, density=0.6)
    # thumb: metacarpal, proximal and distal phalanx
    t = 3 * a.spread
    _chain(h, cmc[1],
           [("mc1", 42 * L[0], 35 + t, (5.2, 3.6, 5.0)), ("pp1", 30 * L[1], 25 + t, (4.8, 3.3, 4.2)),
            ("dp1", 22 * L[2], 20 + t, (4.3, 2.9, 3.0))],
           [("mcp1", gap("mcp1", "mcp"), 4.0, True), ("ip", g["ip"], 3.6, True)])
    # fingers 2-5: metacarpal, proximal, middle and distal phalanx
    mc_len = {2: 64, 3: 62, 4: 55, 5: 50}
    pp_len = {2: 40, 3: 44, 4: 41, 5: 32}
    mp_len = {2: 23, 3: 27, 4: 25, 5: 18}
    dp_len = {2: 16, 3: 18, 4: 17, 5: 15}
    fan = {2: 5, 3: 0, 4: -5, 5: -10}
    for i in range(2, 6):
        base = float(np.degrees(np.arctan2(*cmc[i].axis)))
        ang = base + fan[i] * a.spread + a.angles[i]
        k = 4 * i
        width = 1.0 if i < 5 else 0.9
        _chain(h, cmc[i],
               [(f"mc{i}", mc_len[i] * L[k], base, (4.6 * width, 3.3 * width, 4.9 * width)),
                (f"pp{i}", pp_len[i] * L[k + 1], ang, (4.8 * width, 3.0 * width, 4.0 * width)),
                (f"mp{i}", mp_len[i] * L[k + 2], ang, (3.9 * width, 2.6 * width, 3.3 * width)),
                (f"dp{i}", dp_len[i] * L[k + 3], ang, (3.2 * width, 2.0 * width, 2.4 * width))],
               [(f"mcp{i}", gap(f"mcp{i}", "mcp"), 4.0 * width, True),
                (f"pip{i}", gap(f"pip{i}", "pip"), 3.4 * width, True),
                (f"dip{i}", g["dip"], 2.8 * width, False)])
    # soft tissue: forearm, palm, fingers
    b = h.bones
    h.tissue += [(np.array([-6.0, -120]), np.array([-4.0, 10]), 31.0),
                 (np.array([-5.0, 20]), np.array([-2.0, 80]), 29.0),
                 (np.array([12.0, 22]), b["pp1"].e0, 12.0)]
    for i in range(1, 6):
        h.tissue.append(((b[f"mc{i}"].e0 + b[f"mc{i}"].e1) / 2, b[f"dp{i}"].e1, 8.5 if i > 1 else 9.0))
    # landmarks of the svh21 scheme
    lm = h.landmarks
    for i in range(2, 6):
        lm[f"pip{i}"] = h.joints[f"pip{i}"].center
    for i in range(1, 6):
        lm[f"mcp{i}"] = h.joints[f"mcp{i}"].center
    for name in ("cmc3", "cmc4", "cmc5", "mna", "capnlun", "radcar", "ip"):
        lm[name] = h.joints[name].center
    lm["mc1"] = cmc[1].center
    lm["mul"] = (b["trapezium"].e0 + b["trapezium"].e1) / 2
    lm["lunate"] = (b["lunate"].e0 + b["lunate"].e1) / 2
    lm["radius"] = np.array([14.0, -4.0])
    lm["ulna"] = np.array([-19.0, -6.5])
    h.bounds = limb_bounds("hand")
    return h


def build_foot(narrowing: Mapping[str, int], anatomy: Anatomy) -> Limb:
    """A left foot in mm (dorsoplantar view, big toe on +x).  ``narrowing`` by landmark name
    (mtp_ip, mtp1..mtp5)."""
    a = anatomy
    g = {k: v * a.gap_scale for k, v in FOOT_GAPS.items()}
    L = a.lengths
    f = Limb("foot")
    tmt = {1: _joint(f, "tmt1", (20, 0), 4, g["tmt"], 6.0, "cuneiform1", "mt1"),
           2: _joint(f, "tmt2", (8, -4), 1, g["tmt"], 3.6, "cuneiform2", "mt2"),
           3: _joint(f, "tmt3", (-2.5, -1), -3, g["tmt"], 3.6, "cuneiform3", "mt3"),
           4: _joint(f, "tmt4", (-12.5, -2), -8, g["tmt"], 3.6, "cuboid", "mt4"),
           5: _joint(f, "tmt5", (-21.5, -6), -15, g["tmt"], 4.0, "cuboid", "mt5")}
    f.add_bone("cuneiform1", (20, -24), _below(tmt[1]), (7.5, 7.5, 8.0), cap=0.45)
    f.add_bone("cuneiform2", (8, -21), _below(tmt[2]), (4.6, 4.6, 4.6), cap=0.5)
    f.add_bone("cuneiform3", (-2.5, -21), _below(tmt[3]), (5.0, 5.0, 5.0), cap=0.5)
    f.add_bone("cuboid", (-15, -36), _below(tmt[4]), (7.0, 6.5, 5.0), cap=0.5)
    f.add_bone("cuboid:b", (-15, -36), _below(tmt[5]), (7.0, 6.5, 5.0), cap=0.5)
    f.add_bone("navicular", (-3, -32), (27, -34), (6.5, 7.0, 6.0), cap=0.8)
    f.add_bone("talus", (8, -80), (9, -43), (14.0, 13.0, 13.5), cap=0.7, density=0.9)
    f.add_bone("calcaneus", (-22, -95), (-18, -42), (13.0, 11.0, 9.0), cap=0.6, density=0.85)
    mt_len = {1: 63, 2: 72, 3: 68, 4: 64, 5: 62}
    mt_r = {1: (9.0, 6.0, 8.5), 5: (6.0, 3.4, 4.8)}
    pp_len = {1: 30, 2: 27, 3: 23, 4: 21, 5: 19}
    mp_len = {2: 10, 3: 9, 4: 8, 5: 7}
    dp_len = {1: 22, 2: 8, 3: 7, 4: 7, 5: 7}
    toe_turn = {1: -2, 2: -4, 3: -6, 4: -8, 5: -10}
    for i in range(1, 6):
        base = float(np.degrees(np.arctan2(*tmt[i].axis)))
        ang = base + toe_turn[i] * a.spread + a.angles[i]
        mtp_name = f"mtp{i}"
        mtp_gap = joint_gap(g["mtp"], narrowing.get(mtp_name, 0))
        k = 4 * i
        if i == 1:
            _chain(f, tmt[1],
                   [("mt1", mt_len[1] * L[k], base, mt_r[1]), ("pp1", pp_len[1] * L[k + 1], ang, (7.6, 5.0, 6.6)),
                    ("dp1", dp_len[1] * L[k + 2], ang - 2, (6.4, 4.4, 4.2))],
                   [("mtp1", mtp_gap, 6.0, True), ("ip", joint_gap(g["ip"], narrowing.get("mtp_ip", 0)), 5.2, True)])
        else:
            _chain(f, tmt[i],
                   [(f"mt{i}", mt_len[i] * L[k], base, mt_r.get(i, (5.0, 3.3, 4.8))),
                    (f"pp{i}", pp_len[i] * L[k + 1], ang, (4.4, 2.8, 3.8)),
                    (f"mp{i}", mp_len[i] * L[k + 2], ang, (3.6, 2.9, 3.4)),
                    (f"dp{i}", dp_len[i] * L[k + 3], ang, (3.4, 2.5, 2.8))],
                   [(mtp_name, mtp_gap, 4.0, True), (f"pip{i}", g["pip"], 3.0, False),
                    (f"dip{i}", g["dip"], 2.8, False)])
    b = f.bones
    f.tissue += [(np.array([0.0, -110]), np.array([0.0, -10]), 33.0),
                 (np.array([-2.0, -5]), np.array([2.0, 60]), 30.0),
                 (np.array([20.0, 0]), b["pp1"].e0, 13.0)]
    for i in range(1, 6):
        f.tissue.append((b[f"pp{i}"].e0, b[f"dp{i}"].e1, 10.5 if i == 1 else 6.8))
    f.landmarks["mtp_ip"] = f.joints["ip"].center
    for i in range(1, 6):
        f.landmarks[f"mtp{i}"] = f.joints[f"mtp{i}"].center
    f.bounds = limb_bounds("foot")
    return f


# --------------------------------------------------------------------------------------------------
# erosions
# --------------------------------------------------------------------------------------------------

def notch_count_radius(score: int, top: int) -> tuple[int, float]:
    """Erosion score -> number of notches and their radius in mm (both grow with the score)."""
    frac = score / top
    return int(np.ceil(4 * frac - 1e-9)), 0.55 + 1.5 * frac


def _bone_point(bone: Bone, where: str, rng: np.random.Generator) -> np.ndarray:
    """A point on the outline of ``bone``: near its proximal ('prox') or distal ('dist') end, or anywhere."""
    axis = bone.e1 - bone.e0
    length = float(np.hypot(*axis))
    u = axis / length
    n = np.array([-u[1], u[0]])
    side = rng.choice((-1.0, 1.0))
    if where == "any":
        t = rng.uniform(0.15, 0.85)
        r = bone.rm + (max(bone.r0, bone.r1) - bone.rm) * 0.3
        return bone.e0 + u * t * length + n * side * r * 0.92
    if rng.random() < 0.25:                     # on the articular surface's edge
        back, r = bone.cap * 0.5, 0.75
    else:                                       # the "bare area" at the margin, just below the joint surface
        back, r = bone.cap * rng.uniform(0.7, 1.5), 0.95
    if where == "prox":
        return bone.e0 + u * back * bone.r0 + n * side * bone.r0 * r
    return bone.e1 - u * back * bone.r1 + n * side * bone.r1 * r


def add_erosions(limb: Limb, sites: list[tuple[int, int, list[tuple[str, str]]]], rng: np.random.Generator):
    """``sites``: (score, max score, [(bone, 'prox'|'dist'|'any'), ...]) — notches spread over the bones."""
    for score, top, places in sites:
        count, radius = notch_count_radius(score, top)
        for k in range(count):
            bone, where = places[k % len(places)] if k < len(places) else places[rng.integers(len(places))]
            centre = _bone_point(limb.bones[bone], where, rng)
            limb.notches.append((centre, radius * rng.uniform(0.85, 1.15)))


#: hand erosion column (without limb prefix) -> bones and ends that carry its notches
HAND_EROSION_SITES = {
    "mcp_E__ip": [("pp1", "dist"), ("dp1", "prox")],
    **{f"pip_E__{i}": [(f"pp{i}", "dist"), (f"mp{i}", "prox")] for i in range(2, 6)},
    **{f"mcp_E__{i}": [(f"mc{i}", "dist"), (f"pp{i}", "prox")] for i in range(1, 6)},
    "wrist_E__mc1": [("mc1", "prox")],
    "wrist_E__mul": [("trapezium", "any")],
    "wrist_E__nav": [("scaphoid", "any"), ("scaphoid", "prox")],
    "wrist_E__lunate": [("lunate", "any")],
    "wrist_E__radius": [("radius", "dist")],
    "wrist_E__ulna": [("ulna", "dist")],
}
FOOT_EROSION_SITES = {
    "mtp_E__ip": [("pp1", "dist"), ("dp1", "prox")],
    **{f"mtp_E__{i}": [(f"mt{i}", "dist"), (f"pp{i}", "prox")] for i in range(1, 6)},
}


# --------------------------------------------------------------------------------------------------
# rasterising
# --------------------------------------------------------------------------------------------------

def _window(shape, points, reach):
    """Pixel window (rows, cols slices) covering ``points`` ± ``reach``, clipped to the image; None if empty."""
    pts = np.asarray(points)
    lo = np.floor(pts.min(axis=0) - reach - 2).astype(int)
    hi = np.ceil(pts.max(axis=0) + reach + 2).astype(int)
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], shape[1]), min(hi[1], shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _capsule_edge(win, p0, p1, r0, rm, r1, cap):
    """Approximate distance (px) inside the outline of a capsule (``capsule``), the ends' depth
    capped at their axial half-length."""
    return capsule(win, p0, p1, r0, rm, r1, cap)[0]


def capsule(win, p0, p1, r0, rm, r1, cap, *, flat_ends: bool = True):
    """(distance inside the outline, local radius) in px over window ``win`` for a capsule with
    extremes p0, p1 (the distance negative outside).  The radius flares from the shaft ``rm`` to
    ``r0`` / ``r1`` near the ends; each end is a half-ellipse whose axial half-length is ``cap``
    times its radius; ``flat_ends`` caps the depth of an end at that half-length (the easy
    phantoms' drawing) instead of its radius (the realistic ones')."""
    axis = p1 - p0
    length = float(np.hypot(*axis)) or 1e-6
    u = axis / length
    a0, a1 = cap * r0, cap * r1
    s0 = p0 + u * a0
    ls = max(length - a0 - a1, 1e-6)
    xs = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :] - np.float32(s0[0])
    ys = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None] - np.float32(s0[1])
    s = xs * np.float32(u[0]) + ys * np.float32(u[1])
    d = np.abs(xs * np.float32(u[1]) - ys * np.float32(u[0]))
    t = np.clip(s * np.float32(1 / ls), 0, 1)
    r = np.float32(rm) + np.float32(r0 - rm) * np.maximum(0, 1 - t / 0.3) ** 2 \
        + np.float32(r1 - rm) * np.maximum(0, (t - 0.7) / 0.3) ** 2
    edge = r - d
    lo = s < 0
    if lo.any():
        q = np.sqrt((s[lo] / np.float32(max(a0, 1e-3))) ** 2 + (d[lo] / np.float32(r0)) ** 2)
        edge[lo] = (1 - q) * np.float32(min(a0, r0) if flat_ends else r0)
    hi = s > ls
    if hi.any():
        q = np.sqrt(((s[hi] - np.float32(ls)) / np.float32(max(a1, 1e-3))) ** 2 + (d[hi] / np.float32(r1)) ** 2)
        edge[hi] = (1 - q) * np.float32(min(a1, r1) if flat_ends else r1)
    return edge, r


def _draw_bone(layer, parts, cortex_px, density, osteopenia=0.0):
    """Draw one bone made of one or more capsule parts ((p0, p1, r0, rm, r1, cap) in px) as their union:
    a bright cortical rim round a greyer medulla, composited by maximum."""
    reach = max(max(p[2:5]) for p in parts)
    win = _window(layer.shape, [pt for p in parts for pt in p[:2]], reach)
    if win is None:
        return
    edge = None
    for part in parts:
        e = _capsule_edge(win, *part)
        edge = e if edge is None else np.maximum(edge, e)
    alpha = np.clip(edge + 0.5, 0, 1)                     # one-pixel antialiased outline
    rim = np.clip(1.0 - (edge - cortex_px) / max(cortex_px, 1.0), 0, 1)
    medulla = np.float32(0.50 * (1 - osteopenia))
    value = (medulla + (np.float32(0.80) - medulla) * rim) * alpha * np.float32(density)
    np.maximum(layer[win], value, out=layer[win])


def _draw_flat(layer, p0, p1, r, value=1.0):
    win = _window(layer.shape, [p0, p1], r)
    if win is None:
        return
    edge = _capsule_edge(win, p0, p1, r, r, r, 1.0)
    np.maximum(layer[win], np.clip(edge + 0.5, 0, 1) * np.float32(value), out=layer[win])


def _bite(layer, centre, radius):
    """A round lucent defect: the bone is (almost) removed inside the circle."""
    lo = np.floor(centre - radius - 2).astype(int)
    hi = np.ceil(centre + radius + 2).astype(int)
    x0, y0, x1, y1 = max(lo[0], 0), max(lo[1], 0), min(hi[0], layer.shape[1]), min(hi[1], layer.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(centre[0])
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(centre[1])
    inside = np.clip(radius - np.sqrt(xs * xs + ys * ys) + 0.5, 0, 1)
    layer[y0:y1, x0:x1] *= 1 - np.float32(0.88) * inside


def _joint_mask(mask, bone_layer, centre, axis, gap_px, half_px):
    """Mark the non-bone pixels between the two bone ends of a joint."""
    if gap_px <= 0.25:
        return
    reach = int(np.ceil(max(half_px, gap_px / 2 + 2) + 2))
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    x0, y0 = max(cx - reach, 0), max(cy - reach, 0)
    x1, y1 = min(cx + reach + 1, mask.shape[1]), min(cy + reach + 1, mask.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(centre[0])
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(centre[1])
    along = np.abs(xs * np.float32(axis[0]) + ys * np.float32(axis[1]))
    across = np.abs(xs * np.float32(axis[1]) - ys * np.float32(axis[0]))
    region = (along <= gap_px / 2 + 1.0) & (across <= half_px) & (bone_layer[y0:y1, x0:x1] < 0.3)
    mask[y0:y1, x0:x1] |= region.astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Acquisition:
    """How one image was taken and stored; recorded per image in cohort.json."""
    long_side: int          # pixels along the image's longer side
    aspect: float           # width / height of the stored image (before any 180° turn)
    zoom: float             # extra scale on top of fitting the limb into the image
    rotation_deg: float     # in-plane rotation of the limb
    shift: tuple[float, float]  # centre offset as a share of width / height
    gamma: float            # exposure curve
    black: float            # output level of empty background
    white: float            # output level of the densest bone
    tilt: float             # heel-effect brightness gradient from top to bottom
    noise: float            # standard deviation of additive noise (0-1 scale)
    blur_px: float          # Gaussian blur radius
    rgb: bool               # stored as a 3-channel JPEG
    rotated_180: bool       # stored upside down
    jpeg_quality: int

    @classmethod
    def draw(cls, rng: np.random.Generator, kind: str, size_scale: float = 1.0) -> "Acquisition":
        if rng.random() < 0.06:
            long_side = rng.uniform(1100, 2500)
        else:
            long_side = np.clip(rng.lognormal(np.log(620), 0.22), 400, 1100)
        base_aspect = 0.74 if kind == "hand" else 0.58
        return cls(long_side=int(round(long_side * size_scale)),
                   aspect=float(base_aspect * rng.uniform(0.92, 1.1)),
                   zoom=float(rng.uniform(0.9, 1.04)),
                   rotation_deg=float(rng.normal(0, 4)),
                   shift=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
                   gamma=float(rng.uniform(0.75, 1.35)),
                   black=float(rng.uniform(0.0, 0.12)),
                   white=float(rng.uniform(0.78, 1.0)),
                   tilt=float(rng.uniform(-0.12, 0.12)),
                   noise=float(rng.uniform(0.006, 0.03)),
                   blur_px=float(rng.uniform(0.4, 1.1)),
                   rgb=bool(rng.random() < 0.25),
                   rotated_180=bool(rng.random() < 0.03),
                   jpeg_quality=int(rng.integers(80, 96)))

    def record(self) -> dict:
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        out["shift"] = [round(v, 4) for v in self.shift]
        return out


@dataclass
class Rendered:
    image: np.ndarray                    # uint8, (H, W) grey or (H, W, 3) RGB, as stored
    landmarks: dict[str, tuple[float, float]]   # pixel (x, y) in the stored image
    mask: np.ndarray                     # uint8 (H, W), 1 = joint space
    record: dict                         # the acquisition plus pixel size


def _transform(limb: Limb, mirror: bool, acq: Acquisition, bounds) -> tuple[np.ndarray, tuple[int, int], float]:
    """The 2x3 affine from limb mm to image pixels, the image size (W, H) and pixels per mm."""
    xmin, xmax, ymin, ymax = bounds
    height = acq.long_side
    width = max(16, int(round(height * acq.aspect)))
    fit = min(width / (xmax - xmin), height / (ymax - ymin))
    ppm = fit * acq.zoom
    theta = np.deg2rad(acq.rotation_deg)
    c, s = np.cos(theta), np.sin(theta)
    flip = -1.0 if mirror else 1.0
    # mm (x right, y up) -> px (x right, y down): mirror, rotate, scale, flip y
    lin = np.diag([1.0, -1.0]) @ (ppm * np.array([[c, -s], [s, c]])) @ np.diag([flip, 1.0])
    centre_mm = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2])
    centre_px = np.array([width * (0.5 + acq.shift[0]), height * (0.5 + acq.shift[1])])
    offset = centre_px - lin @ centre_mm
    return np.hstack([lin, offset[:, None]]), (width, height), ppm


_LEVELS = 4096
_NOISE_SIDE = 1024
_NOISE: list[np.ndarray] = []


def _noise(rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    """Unit Gaussian noise of shape (H, W): tiles of one fixed noise field (made once per process),
    flipped and offset at random, so that images get independent-looking noise without drawing
    millions of normal variates each."""
    if not _NOISE:
        _NOISE.append(np.random.default_rng(12345).standard_normal((_NOISE_SIDE, _NOISE_SIDE), dtype=np.float32))
    field_ = _NOISE[0]
    oy, ox = (int(v) for v in rng.integers(0, _NOISE_SIDE, 2))
    tile = np.roll(field_, (oy, ox), axis=(0, 1))
    if rng.random() < 0.5:
        tile = tile.T
    reps = (-(-H // _NOISE_SIDE), -(-W // _NOISE_SIDE))
    return np.tile(tile, reps)[:H, :W] if reps != (1, 1) else tile[:H, :W]


def _expose(raw: np.ndarray, acq: Acquisition) -> np.ndarray:
    """Film/detector response through a lookup table: clip to [0, 1], gamma, black and white levels -> uint8."""
    levels = np.linspace(0, 1, _LEVELS) ** acq.gamma
    lut = np.round((acq.black + (acq.white - acq.black) * levels) * 255).clip(0, 255).astype(np.uint8)
    idx = np.clip(raw * np.float32(_LEVELS - 1), 0, _LEVELS - 1, out=raw).astype(np.uint16)
    return lut[idx]


def _blur_kernel(radius: float) -> ImageFilter.Kernel:
    """A 3x3 Gaussian-like smoothing kernel of about ``radius`` pixels (cheaper than a true Gaussian blur)."""
    w = float(np.exp(-1 / (2 * max(radius, 0.3) ** 2)))
    k = [w * w, w, w * w, w, 1.0, w, w * w, w, w * w]
    return ImageFilter.Kernel((3, 3), k, scale=sum(k))


def _fit(limb: Limb, mirror: bool, acq: Acquisition):
    """Shrink the zoom until every landmark lies well inside the image."""
    pts = np.array(list(limb.landmarks.values()))
    for _ in range(20):
        M, (W, H), ppm = _transform(limb, mirror, acq, limb.bounds)
        p = pts @ M[:, :2].T + M[:, 2]
        margin = 0.04 * min(W, H)
        if p[:, 0].min() >= margin and p[:, 1].min() >= margin and p[:, 0].max() <= W - margin \
                and p[:, 1].max() <= H - margin:
            break
        acq = replace(acq, zoom=acq.zoom * 0.95)
    return acq, M, (W, H), ppm


def render_limb(limb: Limb, acq: Acquisition, rng: np.random.Generator, *, mirror: bool = False) -> Rendered:
    """Rasterise ``limb`` as taken with ``acq``; ``mirror`` draws the right-side limb."""
    acq, M, (W, H), ppm = _fit(limb, mirror, acq)
    lin, off = M[:, :2], M[:, 2]

    def px(p):
        return lin @ p + off

    bones = np.zeros((H, W), np.float32)
    cortex = max(0.9 * ppm, 1.0)
    groups: dict[str, list[Bone]] = {}
    for b in limb.bones.values():
        groups.setdefault(b.name.split(":")[0], []).append(b)
    for parts in groups.values():
        _draw_bone(bones, [(px(b.e0), px(b.e1), b.r0 * ppm, b.rm * ppm, b.r1 * ppm, b.cap) for b in parts],
                   cortex, parts[0].density, limb.osteopenia)
    for centre, radius in limb.notches:
        _bite(bones, px(centre), radius * ppm)

    # soft tissue drawn at a quarter of the resolution, then smoothly enlarged
    sh, sw = max(H // 4, 8), max(W // 4, 8)
    tissue = np.zeros((sh, sw), np.float32)
    for p0, p1, r in limb.tissue:
        _draw_flat(tissue, px(p0) / 4, px(p1) / 4, (r + limb.swelling) * ppm / 4)
    tissue = np.asarray(Image.fromarray(tissue, "F").resize((W, H), Image.BILINEAR), dtype=np.float32)

    raw = np.float32(0.22) * tissue
    raw += bones
    raw *= (1 + np.float32(acq.tilt) * np.linspace(-0.5, 0.5, H, dtype=np.float32))[:, None]
    raw += _noise(rng, H, W) * np.float32(acq.noise)
    pixels = _expose(raw, acq)
    pixels = np.asarray(Image.fromarray(pixels, "L").filter(_blur_kernel(acq.blur_px)))

    mask = np.zeros((H, W), np.uint8)
    for j in limb.joints.values():
        if j.masked:
            axis_px = lin @ j.axis
            axis_px /= np.hypot(*axis_px)
            _joint_mask(mask, bones, px(j.center), axis_px, j.gap * ppm, j.half_width * ppm)

    points = {name: px(p) for name, p in limb.landmarks.items()}
    if acq.rotated_180:
        pixels, mask = pixels[::-1, ::-1].copy(), mask[::-1, ::-1].copy()
        points = {k: np.array([W - 1 - x, H - 1 - y]) for k, (x, y) in points.items()}
    if acq.rgb:
        tint = rng.integers(-3, 4, 3)
        pixels = np.clip(pixels[..., None].astype(np.int16) + tint, 0, 255).astype(np.uint8)
    record = acq.record() | {"width": W, "height": H, "px_per_mm": round(float(ppm), 4)}
    return Rendered(pixels, {k: (float(x), float(y)) for k, (x, y) in points.items()}, mask, record)


def limb_bounds(kind: str) -> tuple[float, float, float, float]:
    """The canonical field of view (mm) of a left hand / foot radiograph."""
    return (-85.0, 95.0, -80.0, 212.0) if kind == "hand" else (-62.0, 62.0, -92.0, 138.0)
