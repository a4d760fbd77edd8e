"""Realistic phantom radiographs: posed anatomy, additive attenuation, subtle damage, varied acquisition.

The limb is built in millimetres as in ``phantoms.render`` (a left limb, fingers up, capsule bones
whose ends sit on joint centres) but posed: fingers spread by a drawn divergence and flexed (a flexed
phalanx is foreshortened in the posteroanterior view and its joint space closes up in projection),
in damaged hands ulnar deviation, subluxation and swan-neck or boutonniere fingers, in feet flexed
toes and hallux valgus.  Joint bases are concave (a circle cut out of the distal bone's base leaves
lips round the convex head), distal phalanges end in tufts, the radius and ulna carry styloids and
the thumb and big toe sesamoids.  The foot's tarsus is drawn as on a dorsoplantar view: cuneiforms of
different sizes overlapping each other and a curved navicular that is concave round the talar head,
the second metatarsal base in its mortise, a wedge of a cuboid, the talar head and neck over the
foreshortened calcaneus, and the fifth metatarsal's styloid process; carpal and tarsal bones move,
turn and differ in size from image to image.

Rendering sums attenuation: each bone adds its cortical and trabecular path lengths through a
tube-like cross-section, soft tissue adds its own, so that overlapping carpal bones or sesamoids
over a metacarpal head are denser, as on film.  The image is drawn at a coarse internal resolution
(at most ``INTERNAL_LONG_SIDE`` px), blurred, enlarged to the stored size and given fine detector
noise there; then exposure (under- and over-exposed), collimation borders, burned-in side markers
and text, a few inverted (MONOCHROME1-like) images and JPEG storage.

Damage is subtle by design: an erosion is a few small, irregular, partial cortical breaks next to
the joint with a faint juxta-articular lucency, growing slowly with the score (a score of 1 is a
break of about half a millimetre); narrowing shrinks the joint space unevenly across the joint and
fuses the bones at 4; the patient-level osteopenia and swelling are weak next to the spread of
normal bone density and build.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy.ndimage import gaussian_filter

from .render import (FOOT_EROSION_SITES, HAND_EROSION_SITES, Bone, Limb, _above, _below, _joint, _window, capsule,
                     unit)

#: longest side of the internal drawing (px); the stored image is this enlarged
INTERNAL_LONG_SIDE = 900
#: joint-space width left by each narrowing score, as a share of the healthy gap (4: fused)
NARROWING_FACTOR = (1.0, 0.86, 0.66, 0.38, -1.0)
#: spread (sd of the log) of each joint's own healthy gap around the patient's: joint spaces differ
#: from joint to joint as much as a narrowing score of 1 narrows them
GAP_SPREAD = 0.12
#: sd (mm) of each carpal joint's and bone's place around the template, per image: no two wrists alike;
#: the carpometacarpal joints, which carry the metacarpals and the fingers, move less; the tarsal
#: bones' sd (feet are not calibrated against real images; see bench_realism)
CARPAL_JITTER, CMC_JITTER, TARSAL_JITTER = 2.5, 1.0, 2.0
#: sd (deg) of the turn of a carpal joint's axis (of a carpometacarpal joint's: the metacarpal's)
CARPAL_TILT, CMC_TILT = 5.0, 3.0
#: range of each carpal (and tarsal) bone's own size factor, per image
CARPAL_SIZE = (0.85, 1.15)
#: sd (deg) of the wrist's radial / ulnar deviation: the hand turns against the forearm
WRIST_DEVIATION = 10.0
#: attenuation per mm (arbitrary units): cortical bone, trabecular bone, soft tissue
MU_CORTEX, MU_TRABECULAR, MU_SOFT = 0.34, 0.06, 0.02

HAND_GAPS = {"mcp": 1.9, "pip": 1.6, "dip": 1.3, "ip": 1.6, "cmc": 1.3, "carpal": 1.4, "radcar": 1.8}
FOOT_GAPS = {"mtp": 2.0, "ip": 1.7, "pip": 1.3, "dip": 1.1, "tmt": 1.4, "tarsal": 1.5}
#: the dorsoplantar tarsus (mm; a left foot, big toe on +x, toes on +y): the talar head's centre and
#: radius, the talar neck's turn (deg, medial) from the foot's axis (the calcaneus points laterally:
#: Kite's angle between them), how far the second tarsometatarsal joint sits back in its mortise
TALAR_HEAD, TALAR_HEAD_R, TALAR_NECK = (11.0, -50.0), 12.5, 18.0
TMT2_RECESS = 6.5
#: how far the fifth metatarsal's styloid process reaches back past the base and out laterally (mm)
STYLOID_REACH = (5.0, 8.0)
#: half the width (mm) of each of the cuboid's two halves, before its size factor
CUBOID_HALF = 8.5
#: how far back the field of a foot reaches (mm behind the first tarsometatarsal joint: the talar body)
FOOT_FIELD_BACK = -88.0
#: how far the cuneiforms' proximal ends reach over the navicular's distal side (mm)
NAVICULAR_OVERLAP = 1.5


@dataclass
class Cut:
    """A disc removed from a bone (mm): makes a concave joint base."""
    bone: str
    centre: np.ndarray
    radius: float


@dataclass
class Lesion:
    """A loss of bone attenuation (mm): ``depth`` 0-1 inside the disc, soft edge."""
    centre: np.ndarray
    radius: float
    depth: float


@dataclass
class PosedLimb(Limb):
    cuts: list[Cut] = field(default_factory=list)
    lesions: list[Lesion] = field(default_factory=list)
    fused: dict[str, str] = field(default_factory=dict)      # bone -> the bone it is fused to (drawn as one)
    density: float = 1.0                                      # the patient's bone density
    tips: list[np.ndarray] = field(default_factory=list)      # finger / toe tips (mm), for cropping


@dataclass(frozen=True)
class Build:
    """Per-patient build, the same on both sides."""
    scale: float
    lengths: tuple[float, ...]
    gap_scale: float
    density: float
    soft: float               # soft-tissue thickness factor

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Build":
        return cls(scale=float(rng.uniform(0.9, 1.1)), lengths=tuple(float(x) for x in rng.uniform(0.94, 1.06, 24)),
                   gap_scale=float(rng.uniform(0.85, 1.15)), density=float(rng.uniform(0.8, 1.15)),
                   soft=float(rng.uniform(0.85, 1.2)))


def _gap(healthy: float, score: int) -> float:
    return healthy * NARROWING_FACTOR[int(score)]


def _add_chain(limb: PosedLimb, start, bones, joints, rng, scores_of=None):
    """Bones end to end from the joint ``start``.  ``bones``: (name, length, angle, radii, cap, flex,
    shift); ``joints``: (name, gap score-adjusted (negative = fused), half-width, masked, narrowing score).
    ``flex`` (deg) foreshortens the bone; ``shift`` (mm, across) subluxes its base."""
    e0 = _above(start) if start.gap > 0 else start.center
    prev = None
    for k, (name, length, angle, radii, cap, flex, shift) in enumerate(bones):
        u = unit(angle)
        n = np.array([u[1], -u[0]])
        fore = float(np.cos(np.deg2rad(min(flex, 62.0))))
        base = e0 + n * shift
        if prev is not None and prev[1] is not None:
            jname, gap, score = prev[1]
            if gap > 0:
                # concave base: lips reach back round the head; narrowing uneven across the joint
                lip = 0.45 * radii[0]
                rc = 1.25 * radii[0]
                skew = rng.uniform(-0.25, 0.25) * (1 + score) * radii[0] * 0.35
                centre = base - u * rc + n * skew
                base = base - u * lip
                limb.cuts.append(Cut(name, centre, rc))
            else:
                limb.fused[name] = prev[0]
        e1 = base + u * (length * fore + (0.45 * radii[0] if prev is not None and prev[1] and prev[1][1] > 0 else 0))
        limb.bones[name] = Bone(name, base, e1, *radii, cap=cap)
        if k < len(joints):
            jname, gap, half, masked, score = joints[k]
            # a flexed joint's space closes up in projection
            proj = gap * fore if gap > 0 else gap
            centre = e1 + u * proj / 2
            _joint(limb, jname, centre, angle, proj, half, name, bones[k + 1][0], masked)
            e0 = e1 + u * proj if proj > 0 else e1 - u * 0.6
            prev = (name, (jname, proj, score))
        else:
            prev = (name, None)
    return limb


def _dominant(narrow: Mapping[str, int], erode: Mapping[str, int], names) -> float:
    return max([narrow.get(n, 0) / 4 for n in names] + [erode.get(n, 0) / 5 for n in names] + [0.0])


def build_hand(narrow: Mapping[str, int], erode: Mapping[str, int], build: Build, rng: np.random.Generator
               ) -> PosedLimb:
    """A posed left hand.  ``narrow`` / ``erode``: score by landmark name (mcp2, pip3, radcar, ...)."""
    g = {k: v * build.gap_scale for k, v in HAND_GAPS.items()}
    L = build.lengths
    h = PosedLimb("hand")

    def gap(name, kind):
        return _gap(g[kind] * _spread(rng), narrow.get(name, 0))

    def at(x, y, sd=CARPAL_JITTER):                   # a carpal place, moved from the template
        return _moved(rng, x, y, sd)

    def tilt(angle, sd=CARPAL_TILT):
        return _tilted(rng, angle, sd)

    def cmc_at(x, y):
        return at(x, y, CMC_JITTER)

    def cmc_tilt(angle):
        return tilt(angle, CMC_TILT)

    radcar = _joint(h, "radcar", at(9, 0), tilt(0), gap("radcar", "radcar"), 4.8, "radius", "scaphoid", True)
    radlun = _joint(h, "radlun", at(-4, 0), tilt(0), radcar.gap, 4.8, "radius", "lunate", True)
    capnlun = _joint(h, "capnlun", at(-3, 15), tilt(0), gap("capnlun", "carpal"), 4.5, "lunate", "capitate", True)
    mna = _joint(h, "mna", at(15, 19), tilt(30), gap("mna", "carpal"), 4.2, "scaphoid", "trapezium", True)
    triham = _joint(h, "triham", at(-16, 17), tilt(-5), g["carpal"], 4.0, "triquetrum", "hamate")
    cmc = {1: _joint(h, "cmc1", cmc_at(23, 31), cmc_tilt(35), g["cmc"], 4.4, "trapezium", "mc1", True),
           2: _joint(h, "cmc2", cmc_at(10, 36), cmc_tilt(13), g["cmc"], 3.8, "trapezoid", "mc2"),
           3: _joint(h, "cmc3", cmc_at(-1, 37.5), cmc_tilt(0), gap("cmc3", "cmc"), 4.0, "capitate", "mc3", True),
           4: _joint(h, "cmc4", cmc_at(-12.5, 35.5), cmc_tilt(-9), gap("cmc4", "cmc"), 3.6, "hamate", "mc4", True),
           5: _joint(h, "cmc5", cmc_at(-21, 33), cmc_tilt(-19), gap("cmc5", "cmc"), 3.6, "hamate", "mc5", True)}
    for j in h.joints.values():                       # fused wrist joints: no gap
        j.gap = max(j.gap, 0.0)
    rg = max(radcar.gap, 0.0)
    h.add_bone("radius", (3, -110), (3, -rg / 2), (9.5, 8.0, 13.5), cap=0.22)
    h.add_bone("radius:styloid", (13, -6), (17.5, 2.5 - rg / 2), (3.4, 2.4, 1.2), cap=0.6)
    h.add_bone("ulna", (-19, -110), (-19, -4.5), (6.0, 5.2, 6.8), cap=0.5)
    h.add_bone("ulna:styloid", (-22.5, -6), (-23.5, 0.5), (2.2, 1.6, 1.0), cap=0.6)
    h.add_bone("scaphoid", _above(radcar) + [1, 0], _below(mna), (7.0, 5.8, 6.4), cap=0.6)
    h.add_bone("lunate", _above(radlun), _below(capnlun), (7.4, 7.4, 6.6), cap=0.5)
    h.add_bone("capitate", _above(capnlun), _below(cmc[3]), (6.2, 6.6, 6.8), cap=0.5)
    h.add_bone("trapezium", _above(mna) + [-1, 0], _below(cmc[1]), (6.6, 7.0, 6.4), cap=0.55)
    h.add_bone("trapezoid", at(9.5, 22.5), _below(cmc[2]), (5.8, 6.0, 5.6), cap=0.55)
    h.add_bone("triquetrum", at(-15.5, 4.5), _below(triham), (6.2, 6.0, 5.6), cap=0.55)
    h.add_bone("hamate", _above(triham), _below(cmc[4]), (5.8, 6.0, 5.6), cap=0.55)
    h.add_bone("hamate:b", _above(triham), _below(cmc[5]), (4.8, 4.6, 4.6), cap=0.6)
    hook = at(-16, 22)
    h.add_bone("hamate:hook", hook, hook + (-2, 4), (2.4, 2.2, 2.0), cap=0.8)
    pisiform = at(-19.5, 9.0)
    h.add_bone("pisiform", pisiform, pisiform + (0, 4), (3.6, 3.6, 3.6), cap=0.8)
    for name in ("scaphoid", "lunate", "capitate", "trapezium", "trapezoid", "triquetrum", "hamate", "hamate:b",
                 "pisiform"):                         # carpal bones of their own size
        _resize(h.bones[name], float(rng.uniform(*CARPAL_SIZE)))
    # the distal radius cradles the scaphoid and the lunate: it reaches up round them and discs centred
    # in their proximal poles carve its concave surface, keeping the radiocarpal gap
    h.bones["radius"].e1 = np.array([3.0, 3.5])
    for name in ("scaphoid", "lunate"):
        bone = h.bones[name]
        u = (bone.e1 - bone.e0) / np.hypot(*(bone.e1 - bone.e0))
        pole = bone.e0 + u * bone.cap * bone.r0
        h.cuts.append(Cut("radius", pole, bone.cap * bone.r0 + max(rg, 0.3)))

    severe = _dominant(narrow, erode, [f"mcp{i}" for i in range(2, 6)])
    ulnar = float(rng.uniform(4, 22)) * (severe > 0.5) * (rng.random() < 0.6)
    divergence = float(np.clip(rng.normal(27, 11), 5, 55))
    spread = {2: 0.45, 3: 0.08, 4: -0.22, 5: -0.55}
    # thumb
    t_ang = float(rng.normal(46, 7))
    t_flex = float(rng.uniform(0, 30))
    _add_chain(h, cmc[1],
               [("mc1", 42 * L[0], t_ang, (5.4, 3.6, 5.2), 0.55, 15.0, 0.0),
                ("pp1", 30 * L[1], t_ang - 8 + float(rng.normal(0, 5)), (5.0, 3.3, 4.4), 0.55, t_flex, 0.0),
                ("dp1", 22 * L[2], t_ang - 12 + float(rng.normal(0, 6)), (4.5, 2.8, 3.4), 0.35,
                 t_flex + float(rng.uniform(0, 35)), 0.0)],
               [("mcp1", gap("mcp1", "mcp"), 4.0, True, narrow.get("mcp1", 0)),
                ("ip", gap("ip", "ip"), 3.6, True, narrow.get("ip", 0))], rng)
    mc1 = h.bones["mc1"]
    u1 = (mc1.e1 - mc1.e0) / np.hypot(*(mc1.e1 - mc1.e0))
    n1 = np.array([u1[1], -u1[0]])
    for side in (-1, 1):                              # sesamoids over the first metacarpal head
        c = mc1.e1 - u1 * 2.5 + n1 * side * 3.2
        h.add_bone(f"sesamoid{side}", c - u1 * 1.5, c + u1 * 1.5, (2.3, 2.4, 2.3), cap=0.8)
    mc_len = {2: 64, 3: 62, 4: 55, 5: 50}
    pp_len = {2: 40, 3: 44, 4: 41, 5: 32}
    mp_len = {2: 23, 3: 27, 4: 25, 5: 18}
    dp_len = {2: 16, 3: 18, 4: 17, 5: 15}
    for i in range(2, 6):
        base = float(np.degrees(np.arctan2(*cmc[i].axis)))
        ang = base * 0.3 + spread[i] * divergence + float(rng.normal(0, 3)) - ulnar
        k = 4 * i
        w = 1.0 if i < 5 else 0.9
        f_mcp = float(rng.beta(1.5, 4) * 45)
        f_pip = float(rng.beta(1.3, 5) * 50)
        f_dip = float(rng.beta(1.3, 5) * 40)
        finger = _dominant(narrow, erode, [f"pip{i}", f"mcp{i}"])
        deform, which = rng.random(), rng.random()
        if finger > 0.4 and deform < 0.35:             # swan-neck or boutonniere
            if which < 0.5:
                f_pip, f_dip = 0.0, float(rng.uniform(35, 60))
            else:
                f_pip, f_dip = float(rng.uniform(45, 70)), 0.0
        sub = float(rng.uniform(0.5, 2.5)) * (erode.get(f"mcp{i}", 0) >= 3 or narrow.get(f"mcp{i}", 0) >= 3) \
            * (rng.random() < 0.5)
        _add_chain(h, cmc[i],
                   [(f"mc{i}", mc_len[i] * L[k], base, (4.8 * w, 3.2 * w, 5.2 * w), 0.6, 8.0, 0.0),
                    (f"pp{i}", pp_len[i] * L[k + 1], ang, (5.0 * w, 3.0 * w, 4.1 * w), 0.55, f_mcp, sub),
                    (f"mp{i}", mp_len[i] * L[k + 2], ang + float(rng.normal(0, 2)), (4.2 * w, 2.6 * w, 3.4 * w),
                     0.55, f_mcp + f_pip, 0.0),
                    (f"dp{i}", dp_len[i] * L[k + 3], ang + float(rng.normal(0, 3)), (3.4 * w, 1.8 * w, 2.7 * w),
                     0.3, f_mcp + f_pip + f_dip, 0.0)],
                   [(f"mcp{i}", gap(f"mcp{i}", "mcp"), 4.0 * w, True, narrow.get(f"mcp{i}", 0)),
                    (f"pip{i}", gap(f"pip{i}", "pip"), 3.4 * w, True, narrow.get(f"pip{i}", 0)),
                    (f"dip{i}", g["dip"] * _spread(rng), 2.8 * w, False, 0)], rng)
    b = h.bones
    h.tips = [b[f"dp{i}"].e1 for i in range(1, 6)]
    s = build.soft
    h.tissue += [(np.array([-6.0, -130]), np.array([-5.0, 0]), 30.0 * s),
                 (np.array([-5.0, 0]), np.array([-3.0, 30]), 31.0 * s),
                 (np.array([12.0, 18]), b["pp1"].e0, 14.0 * s)]
    for i in range(2, 6):                              # the palm: one band along each metacarpal
        h.tissue.append((cmc[i].center, b[f"pp{i}"].e0, (13.0 if i in (2, 5) else 11.0) * s))
    h.tissue.append((np.array([-2.0, 30]), (b["pp3"].e0 + b["pp4"].e0) / 2 - [0, 8], 24.0 * s))
    for i in range(1, 6):
        h.tissue.append(((b[f"mc{i}"].e0 + 3 * b[f"mc{i}"].e1) / 4, b[f"dp{i}"].e1, (8.5 if i > 1 else 9.0) * s))
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
    _deviate_wrist(h, float(np.clip(rng.normal(0, WRIST_DEVIATION), -20, 20)))
    return h


def _moved(rng: np.random.Generator, x: float, y: float, sd: float) -> np.ndarray:
    """A template place (mm) moved by a normal draw of ``sd`` on each axis: no two wrists or feet alike."""
    return np.array([x, y], float) + rng.normal(0, sd, 2)


def _tilted(rng: np.random.Generator, angle: float, sd: float) -> float:
    return angle + float(rng.normal(0, sd))


def _resize(bone: Bone, k: float) -> Bone:
    bone.r0, bone.rm, bone.r1 = bone.r0 * k, bone.rm * k, bone.r1 * k
    return bone


def _side_point(bone: Bone, along: float, inset: float) -> np.ndarray:
    """The point of ``bone``'s outline on its +90 deg side (distal for a bone drawn from lateral to medial
    in a left foot), a share ``along`` of the way from ``e0`` to ``e1``, ``inset`` mm inside."""
    axis = bone.e1 - bone.e0
    t = min(max((along - 0.15) / 0.7, 0.0), 1.0)      # the radius flares within the end thirds, roughly
    r = bone.rm + (bone.r0 - bone.rm) * max(0.0, 1 - t / 0.3) ** 2 \
        + (bone.r1 - bone.rm) * max(0.0, (t - 0.7) / 0.3) ** 2
    side = np.array([-axis[1], axis[0]]) / np.hypot(*axis)
    return bone.e0 + axis * along + side * (r - inset)


def _spread(rng: np.random.Generator) -> float:
    return float(np.exp(rng.normal(0, GAP_SPREAD)))


def _deviate_wrist(h: PosedLimb, degrees: float, pivot=(2.0, 2.0)) -> None:
    """Radial (+) or ulnar (-) deviation: turn the forearm (radius, ulna, their styloids and landmarks,
    the forearm's soft tissue) about the radiocarpal joint, so the hand meets it at an angle."""
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    c = np.asarray(pivot, float)

    def turn(p):
        return c + rot @ (np.asarray(p, float) - c)

    for name in ("radius", "radius:styloid", "ulna", "ulna:styloid"):
        bone = h.bones[name]
        bone.e0, bone.e1 = turn(bone.e0), turn(bone.e1)
    for name in ("radius", "ulna"):
        h.landmarks[name] = turn(h.landmarks[name])
    p0, p1, r = h.tissue[0]
    h.tissue[0] = (turn(p0), turn(p1), r)


def build_foot(narrow: Mapping[str, int], erode: Mapping[str, int], build: Build, rng: np.random.Generator
               ) -> PosedLimb:
    """A posed left foot (dorsoplantar, big toe on +x); scores by landmark name (mtp_ip, mtp1..mtp5)."""
    g = {k: v * build.gap_scale for k, v in FOOT_GAPS.items()}
    L = build.lengths
    f = PosedLimb("foot")

    def at(x, y, sd=TARSAL_JITTER):                   # a tarsal place, moved from the template
        return _moved(rng, x, y, sd)

    def tilt(angle, sd=CARPAL_TILT):
        return _tilted(rng, angle, sd)

    def size():                                       # a tarsal bone's own size factor
        return float(rng.uniform(*CARPAL_SIZE))

    # tarsometatarsal joints (Lisfranc's line), which carry the toes, move less than the tarsal bones;
    # the second sits recessed between the medial and lateral cuneiforms (the mortise of the second
    # metatarsal base); only the first turns (the angle between the first two metatarsals varies most),
    # the other metatarsal heads lie close side by side
    first = float(np.clip(tilt(6, CMC_TILT), 3, 12))
    tmt = {1: _joint(f, "tmt1", at(20, 0, CMC_JITTER), first, g["tmt"], 6.0, "cuneiform1", "mt1"),
           2: _joint(f, "tmt2", at(8, -TMT2_RECESS, CMC_JITTER), 1, g["tmt"], 3.6, "cuneiform2", "mt2"),
           3: _joint(f, "tmt3", at(-2.5, -1, CMC_JITTER), -3, g["tmt"], 3.6, "cuneiform3", "mt3"),
           4: _joint(f, "tmt4", at(-12.5, -2.5, CMC_JITTER), -8, g["tmt"], 3.6, "cuboid", "mt4"),
           5: _joint(f, "tmt5", at(-21.5, -7, CMC_JITTER), -16, g["tmt"], 4.0, "cuboid", "mt5")}
    # talus: the broad body over the calcaneus, the narrower neck and the round head pointing distally
    # and medially (a cap of 1: the head's outline is a circle round ``head``)
    k = size()
    head, r_head = at(*TALAR_HEAD), TALAR_HEAD_R * k
    neck = unit(tilt(TALAR_NECK))
    f.add_bone("talus", head - neck * 48 * k, head + neck * r_head, (14.5 * k, 9.5 * k, r_head), cap=1.0)
    # navicular: a boat-shaped band across the talar head, thin laterally, thick medially, its medial
    # end further back; a disc round the head carves its proximal side concave; its tuberosity juts
    # medially and proximally from its medial end
    k, swing = size(), tilt(0)
    lat_end, med_end = head + unit(swing - 40) * (r_head + 14), head + unit(swing + 48) * (r_head + 8)
    nav = f.add_bone("navicular", at(*lat_end), at(*med_end), (4.5 * k, 6.5 * k, 6.5 * k), cap=0.6)
    root = nav.e0 + (nav.e1 - nav.e0) * 0.7
    f.add_bone("navicular:tuberosity", root, nav.e1 + unit(tilt(118)) * 7 * k, (6.8 * k, 6.8 * k, 4.2 * k),
               cap=0.6)
    f.cuts.append(Cut("navicular", head, r_head + g["tarsal"]))
    # cuneiforms of different sizes resting on the navicular's distal side, overlapping it and each
    # other: the medial one largest and longest, the intermediate smallest and shortest (its distal end
    # recessed: the mortise), the lateral one between
    for name, along, joint, radii, cap in (("cuneiform1", 0.8, tmt[1], (5.8, 7.4, 8.6), 0.4),
                                          ("cuneiform2", 0.45, tmt[2], (4.4, 5.0, 5.4), 0.4),
                                          ("cuneiform3", 0.12, tmt[3], (4.6, 5.8, 6.2), 0.4)):
        prox = _moved(rng, *_side_point(nav, along, NAVICULAR_OVERLAP), CMC_JITTER)
        _resize(f.add_bone(name, prox, _below(joint), radii, cap=cap), size())
    # cuboid, a wedge lateral to the lateral cuneiform, its medial side long, its lateral side (the
    # peroneal notch) short: a distal half under the fourth and fifth metatarsal bases and a proximal
    # half whose back slopes forward laterally, towards the calcaneus
    k = size()
    d4, d5 = _below(tmt[4]), _below(tmt[5])
    along = (d5 - d4) / np.hypot(*(d5 - d4))           # the distal side, medial to lateral
    back = np.array([-along[1], along[0]])              # perpendicular to it, proximally
    r = CUBOID_HALF * k
    a0, a1 = d4 - along * 1.0 + back * r, d5 + along * 4.0 + back * r
    f.add_bone("cuboid", a0, a1, (r, r, 0.75 * r), cap=0.3)
    b0, b1 = _moved(rng, *(a0 + (0.0, -15.0 * k)), CMC_JITTER), a1 + (1.0, -7.0 * k)
    f.add_bone("cuboid:proximal", b0, b1, (r, r, 0.75 * r), cap=0.3)
    # calcaneus, foreshortened on this view and pointing laterally (Kite's angle with the talus), its
    # rounded front end against the cuboid's proximal half
    k = size()
    axis = (b1 - b0) / np.hypot(*(b1 - b0))
    front = (b0 + b1) / 2 + np.array([-axis[1], axis[0]]) * (r + g["tarsal"])
    f.add_bone("calcaneus", at(-5, -102), front, (17.0 * k, 12.5 * k, 9.5 * k), cap=0.45)
    mt_len = {1: 63, 2: 72 + TMT2_RECESS - 4, 3: 68, 4: 64, 5: 62}    # the second head where it was
    pp_len = {1: 30, 2: 27, 3: 23, 4: 21, 5: 19}
    mp_len = {2: 10, 3: 9, 4: 8, 5: 7}
    dp_len = {1: 22, 2: 8, 3: 7, 4: 7, 5: 7}
    severe = _dominant(narrow, erode, ["mtp1"])
    valgus = float(np.clip(rng.normal(12, 5) + 18 * severe * rng.random(), 2, 45))
    turn = {1: -valgus, 2: -4, 3: -6, 4: -8, 5: -10}
    for i in range(1, 6):
        base = float(np.degrees(np.arctan2(*tmt[i].axis)))
        ang = base + turn[i] * (1 if i == 1 else float(rng.uniform(0.5, 1.5))) + float(rng.normal(0, 2))
        name = f"mtp{i}"
        k = 4 * i
        claw = float(rng.uniform(10, 50)) * (1 + 0.5 * _dominant(narrow, erode, [name]))
        if i == 1:
            _add_chain(f, tmt[1],
                       [("mt1", mt_len[1] * L[k], base, (9.0, 6.0, 8.8), 0.55, 20.0, 0.0),
                        ("pp1", pp_len[1] * L[k + 1], ang, (8.0, 5.0, 6.8), 0.55, float(rng.uniform(0, 25)), 0.0),
                        ("dp1", dp_len[1] * L[k + 2], ang + 6, (6.8, 4.4, 5.0), 0.35, float(rng.uniform(5, 35)),
                         0.0)],
                       [(name, _gap(g["mtp"] * _spread(rng), narrow.get(name, 0)), 6.0, True, narrow.get(name, 0)),
                        ("ip", _gap(g["ip"] * _spread(rng), narrow.get("mtp_ip", 0)), 5.2, True,
                         narrow.get("mtp_ip", 0))], rng)
        else:
            _add_chain(f, tmt[i],
                       [(f"mt{i}", mt_len[i] * L[k], base, (5.2, 3.3, 5.0) if i < 5 else (6.0, 3.4, 4.9), 0.6,
                         22.0, 0.0),
                        (f"pp{i}", pp_len[i] * L[k + 1], ang, (4.6, 2.8, 3.9), 0.55, claw, 0.0),
                        (f"mp{i}", mp_len[i] * L[k + 2], ang, (3.8, 2.9, 3.5), 0.5, min(claw + 15, 50), 0.0),
                        (f"dp{i}", dp_len[i] * L[k + 3], ang, (3.6, 2.5, 3.0), 0.35, min(claw + 10, 50), 0.0)],
                       [(name, _gap(g["mtp"] * _spread(rng), narrow.get(name, 0)), 4.0, True, narrow.get(name, 0)),
                        (f"pip{i}", g["pip"], 3.0, False, 0), (f"dip{i}", g["dip"], 2.8, False, 0)], rng)
    b = f.bones
    mt1 = b["mt1"]
    u = (mt1.e1 - mt1.e0) / np.hypot(*(mt1.e1 - mt1.e0))
    n = np.array([u[1], -u[0]])
    for side in (-1, 1):
        c = mt1.e1 - u * 5 + n * side * 4.0
        f.add_bone(f"sesamoid{side}", c - u * 2.5, c + u * 2.5, (3.6, 3.8, 3.6), cap=0.8)
    # the fifth metatarsal's styloid process (tuberosity): from the base's lateral side back and out,
    # past the tarsometatarsal joint, beside the cuboid
    mt5 = b["mt5"]
    u = (mt5.e1 - mt5.e0) / np.hypot(*(mt5.e1 - mt5.e0))
    lateral = np.array([-u[1], u[0]])
    k = size()
    f.add_bone("mt5:styloid", mt5.e0 + u * 7 * k + lateral * 2.5 * k,
               mt5.e0 - u * STYLOID_REACH[0] * k + lateral * STYLOID_REACH[1] * k, (5.2 * k, 4.4 * k, 2.6 * k),
               cap=0.7)
    f.tips = [b[f"dp{i}"].e1 for i in range(1, 6)]
    s = build.soft
    f.tissue += [(np.array([2.0, -120]), np.array([1.0, -10]), 36.0 * s),
                 (np.array([-4.0, -5]), np.array([0.0, 50]), 35.0 * s),
                 (b["mt5"].e0 + [-2, 0], b["pp5"].e0 + [-1, 0], 10.0 * s),
                 (np.array([20.0, 0]), b["pp1"].e0, 14.0 * s)]
    for i in range(1, 6):
        f.tissue.append((b[f"pp{i}"].e0, b[f"dp{i}"].e1, (10.5 if i == 1 else 6.8) * s))
    f.landmarks["mtp_ip"] = f.joints["ip"].center
    for i in range(1, 6):
        f.landmarks[f"mtp{i}"] = f.joints[f"mtp{i}"].center
    return f


# --------------------------------------------------------------------------------------------------
# damage: erosions and the patient-level signs
# --------------------------------------------------------------------------------------------------

def _surface_point(bone: Bone, where: str, rng: np.random.Generator) -> np.ndarray:
    axis = bone.e1 - bone.e0
    length = float(np.hypot(*axis)) or 1.0
    u = axis / length
    n = np.array([-u[1], u[0]])
    side = rng.choice((-1.0, 1.0))
    if where == "any":
        r = max(bone.r0, bone.rm, bone.r1) * 0.9
        return bone.e0 + u * rng.uniform(0.2, 0.8) * length + n * side * r
    r = bone.r0 if where == "prox" else bone.r1
    back = r * rng.uniform(0.35, 1.1)
    across = r * rng.uniform(0.75, 1.0)
    if where == "prox":
        return bone.e0 + u * back + n * side * across
    return bone.e1 - u * back + n * side * across


def add_erosions(limb: PosedLimb, sites, rng: np.random.Generator):
    """``sites``: (score, max score, [(bone, 'prox'|'dist'|'any')]).  Each erosion: irregular cortical
    breaks (clusters of small partial discs) plus a faint juxta-articular lucency; score 5 of 5 (or
    10 of 10) collapses the bone end."""
    for score, top, places in sites:
        frac = score / top
        breaks = 1 + int(round(2.5 * frac))
        for k in range(breaks):
            bone_name, where = places[k % len(places)]
            bone = limb.bones[bone_name]
            centre = _surface_point(bone, where, rng)
            size = 0.35 + 1.6 * frac ** 1.4
            depth = 0.22 + 0.55 * min(1.0, frac * 1.4)
            for _ in range(3):                                    # irregular outline
                jitter = rng.normal(0, 0.35 * size, 2)
                limb.lesions.append(Lesion(centre + jitter, size * rng.uniform(0.6, 1.0), depth))
            inner = centre + (((bone.e0 + bone.e1) / 2) - centre) * 0.25
            limb.lesions.append(Lesion(inner, 1.2 + 2.5 * frac, 0.04 + 0.08 * frac))
        if score == top:                                          # collapse of the joint surfaces
            for bone_name, where in places[:2]:
                bone = limb.bones[bone_name]
                end = bone.e0 if where == "prox" else bone.e1
                r = bone.r0 if where == "prox" else bone.r1
                for _ in range(6):                                # irregular loss of the articular end
                    limb.lesions.append(Lesion(end + rng.normal(0, 0.35 * r, 2),
                                               min(0.4 * r, 3.5) * rng.uniform(0.6, 1.0), 0.7))


# --------------------------------------------------------------------------------------------------
# rasterising: additive attenuation
# --------------------------------------------------------------------------------------------------

def _capsule(win, p0, p1, r0, rm, r1, cap):
    """(distance inside the outline, local radius) over ``win``, px (``render.capsule``)."""
    return capsule(win, p0, p1, r0, rm, r1, cap, flat_ends=False)


def _chord(edge, radius):
    """Path length through a disc of ``radius`` at ``edge`` inside its outline (0 outside)."""
    e = np.clip(edge, 0, radius)
    return 2 * np.sqrt(e * (2 * radius - e))


def _draw_bone(att, parts, cuts, cortex_px, trabecular, texture):
    reach = max(max(p[2:5]) for p in parts)
    win = _window(att.shape, [pt for p in parts for pt in p[:2]], reach)
    if win is None:
        return
    edge = rad = None
    for part in parts:
        e, r = _capsule(win, *part)
        if edge is None:
            edge, rad = e, np.broadcast_to(r, e.shape).copy()
        else:
            take = e > edge
            edge = np.where(take, e, edge)
            rad = np.where(take, r, rad)
    ys = np.arange(win[0].start, win[0].stop, dtype=np.float32)[:, None]
    xs = np.arange(win[1].start, win[1].stop, dtype=np.float32)[None, :]
    for c, rc in cuts:
        edge = np.minimum(edge, np.sqrt((xs - np.float32(c[0])) ** 2 + (ys - np.float32(c[1])) ** 2) - np.float32(rc))
    inside = edge > -0.5
    if not inside.any():
        return
    outer = _chord(edge + 0.5, rad + 0.5)
    inner_r = np.maximum(rad - cortex_px, 0.5)
    inner = _chord(edge - cortex_px, inner_r)
    tex = texture[win]
    value = np.float32(MU_CORTEX) * (outer - inner) + np.float32(MU_TRABECULAR * trabecular) * inner * tex
    att[win] += value


def _draw_soft(att, p0, p1, r, cap_len):
    win = _window(att.shape, [p0, p1], r)
    if win is None:
        return
    edge, _ = _capsule(win, p0, p1, r, r, r, 1.0)
    att[win] = np.maximum(att[win], np.minimum(_chord(edge + 0.5, np.float32(r)), np.float32(cap_len)))


def _lesions(att_bone, lesions, px, ppm):
    for les in lesions:
        c = px(les.centre)
        r = les.radius * ppm
        lo = np.floor(c - r - 2).astype(int)
        hi = np.ceil(c + r + 2).astype(int)
        x0, y0 = max(lo[0], 0), max(lo[1], 0)
        x1, y1 = min(hi[0], att_bone.shape[1]), min(hi[1], att_bone.shape[0])
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(c[0])
        ys = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(c[1])
        inside = np.clip(np.float32(r) - np.sqrt(xs * xs + ys * ys) + 0.5, 0, 1)
        att_bone[y0:y1, x0:x1] *= 1 - np.float32(les.depth) * inside


# --------------------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exposure:
    """How one image was taken and stored; recorded per image in cohort.json."""
    long_side: int
    rotation_deg: float
    box_height: float        # landmarks' (or foot's) bounding box, share of the image height
    box_width: float         # ... share of the image width
    shift: tuple[float, float]
    crop_tip: bool           # a finger / toe tip cut off by the top edge
    gain: float              # exposure: attenuation to optical density
    black: float
    white: float
    gamma: float
    blur_px: float           # at the internal resolution
    noise: float             # grey levels (0-255), at the stored size
    grain: float             # coarse mottle, share
    collimation: tuple[float, float, float, float]   # inset share left, right, top, bottom (0 = none)
    collimation_level: float  # grey level of the collimated border
    marker: bool             # a burned-in side marker (L or R, from the limb)
    text: bool
    inverted: bool
    rgb: bool
    rotated_180: bool
    jpeg_quality: int

    @classmethod
    def draw(cls, rng: np.random.Generator, kind: str, size_scale: float = 1.0) -> "Exposure":
        long_side = float(np.clip(rng.lognormal(np.log(1430), 0.42), 500, 3200))
        rot = float(rng.normal(0, 6.5)) if rng.random() > 0.04 else float(rng.choice((-1, 1)) * rng.uniform(18, 28))
        if kind == "hand":
            bh, bw = float(np.clip(rng.normal(0.585, 0.035), 0.5, 0.66)), float(np.clip(rng.normal(0.68, 0.05), 0.56, 0.8))
        else:
            bh, bw = float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.62, 0.82))
        coll = tuple(float(rng.uniform(0.0, 0.05)) if rng.random() < 0.35 else 0.0 for _ in range(4))
        under = rng.random()
        gain = float(rng.uniform(0.45, 0.75)) if under < 0.12 else float(rng.uniform(1.6, 2.4)) if under > 0.9 \
            else float(rng.uniform(0.8, 1.4))
        black = float(0.0 if rng.random() < 0.45 else min(0.42, 0.01 + rng.exponential(0.1)))
        return cls(long_side=int(round(long_side * size_scale)), rotation_deg=rot, box_height=bh, box_width=bw,
                   shift=(float(rng.normal(0, 0.03)), float(rng.normal(0, 0.025))),
                   crop_tip=bool(rng.random() < 0.06), gain=gain, black=black,
                   white=float(np.clip(rng.normal(0.8, 0.1), 0.46, 0.95)), gamma=float(rng.uniform(0.7, 1.4)),
                   blur_px=float(rng.uniform(0.3, 1.6)), noise=float(rng.uniform(1.0, 9.0)),
                   grain=float(rng.uniform(0.0, 0.06)), collimation=coll,
                   collimation_level=float(rng.choice((0.0, rng.uniform(0.6, 0.95)))),
                   marker=bool(rng.random() < 0.7), text=bool(rng.random() < 0.35),
                   inverted=bool(rng.random() < 0.025), rgb=bool(rng.random() < 0.8),
                   rotated_180=bool(rng.random() < 0.02), jpeg_quality=int(rng.integers(72, 96)))

    def record(self) -> dict:
        out = {}
        for k, v in self.__dict__.items():
            if isinstance(v, float):
                v = round(v, 4)
            elif isinstance(v, tuple):
                v = [round(x, 4) for x in v]
            out[k] = v
        return out


_NOISE_SIDE = 1024
_FIELDS: dict[float, np.ndarray] = {}


def _field(sigma: float) -> np.ndarray:
    """A fixed noise field of unit spread, smoothed by ``sigma`` px (0: white), made once per process and
    per sigma step of 0.5 px."""
    key = round(sigma * 2) / 2
    if key not in _FIELDS:
        white = np.random.default_rng(12345 + int(key * 2)).standard_normal((_NOISE_SIDE, _NOISE_SIDE),
                                                                             dtype=np.float32)
        if key > 0:
            white = gaussian_filter(white, key, mode="wrap", truncate=2.5)
            white /= white.std()
        _FIELDS[key] = white
    return _FIELDS[key]


def _noise(rng: np.random.Generator, H: int, W: int, sigma: float = 0.0) -> np.ndarray:
    """Noise (H, W) of unit spread, smoothed by ``sigma`` px, cut from a fixed field (``_field``) at a
    random offset, turned at random: images at the internal size (``INTERNAL_LONG_SIDE`` px, smaller than
    the field) get independent-looking textures without drawing and smoothing a field per image.  The
    detector noise of the stored image is drawn afresh instead, so that it never repeats."""
    n = _NOISE_SIDE
    if H > n or W > n:
        raise ValueError(f"noise of {H} x {W} px: the fixed field has {n} px a side")
    tile = _field(sigma)
    if rng.random() < 0.5:
        tile = tile.T
    oy, ox = int(rng.integers(0, n - H + 1)), int(rng.integers(0, n - W + 1))
    return tile[oy:oy + H, ox:ox + W]


@dataclass
class Shot:
    image: np.ndarray
    landmarks: dict[str, tuple[float, float]]
    mask: np.ndarray
    record: dict


def _placement(limb: PosedLimb, exp: Exposure, mirror: bool):
    """The affine mm -> stored px, the stored size (W, H) and px per mm."""
    theta = np.deg2rad(exp.rotation_deg)
    c, s = np.cos(theta), np.sin(theta)
    flip = -1.0 if mirror else 1.0
    rot = np.diag([1.0, -1.0]) @ np.array([[c, -s], [s, c]]) @ np.diag([flip, 1.0])
    if limb.kind == "hand":
        pts = np.array(list(limb.landmarks.values()))
    else:
        pts = np.array([b.e0 for b in limb.bones.values()] + [b.e1 for b in limb.bones.values()]
                       + [np.array([0.0, FOOT_FIELD_BACK])])
        pts = pts[pts[:, 1] >= FOOT_FIELD_BACK]
    q = pts @ rot.T
    span = q.max(axis=0) - q.min(axis=0)
    H = exp.long_side
    ppm = exp.box_height * H / span[1]
    W = int(round(span[0] * ppm / exp.box_width))
    W = int(np.clip(W, H / 1.65, H / 1.08))
    lin = ppm * rot
    p = pts @ lin.T
    centre = (p.min(axis=0) + p.max(axis=0)) / 2
    target = np.array([W * (0.5 + exp.shift[0]), H * (0.5 + exp.shift[1])])
    offset = target - centre
    # keep every landmark inside, with a margin
    lm = np.array(list(limb.landmarks.values())) @ lin.T + offset
    margin = 0.03 * min(W, H) + 2
    for axis, size in ((0, W), (1, H)):
        lo, hi = lm[:, axis].min(), lm[:, axis].max()
        if hi - lo > size - 2 * margin:
            shrink = (size - 2 * margin) / (hi - lo)
            lin *= shrink
            ppm *= shrink
            lm = np.array(list(limb.landmarks.values())) @ lin.T
            offset = target - (lm.min(axis=0) + lm.max(axis=0)) / 2
            lm = lm + offset
    for axis, size in ((0, W), (1, H)):
        lo, hi = lm[:, axis].min(), lm[:, axis].max()
        offset[axis] += max(0.0, margin - lo) - max(0.0, hi - (size - margin))
    if exp.crop_tip and limb.tips:
        tips = np.array(limb.tips) @ lin.T + offset
        top_lm = (np.array(list(limb.landmarks.values())) @ lin.T + offset)[:, 1].min()
        want = min(tips[:, 1]) + 0.5 * (top_lm - min(tips[:, 1]))   # the top edge halfway up the highest tip
        room = top_lm - margin
        offset[1] -= float(np.clip(want, 0, room))
    return np.hstack([lin, offset[:, None]]), (W, H), ppm


def render(limb: PosedLimb, exp: Exposure, rng: np.random.Generator, *, mirror: bool = False,
           osteopenia: float = 0.0, swelling: float = 0.0) -> Shot:
    """One stored radiograph of ``limb``."""
    M, (W, H), ppm = _placement(limb, exp, mirror)
    k = min(1.0, INTERNAL_LONG_SIDE / max(W, H))
    w, h = max(8, int(round(W * k))), max(8, int(round(H * k)))
    sx, sy = w / W, h / H
    # stored px -> internal px, pixel centres aligned: c = (f + 0.5) * s - 0.5
    S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5]])
    lin_i = S[:, :2] @ M[:, :2]
    off_i = S[:, :2] @ M[:, 2] + S[:, 2]
    ppm_i = float(ppm * np.sqrt(sx * sy))

    def px(p):
        return lin_i @ p + off_i

    # trabecular texture: band-passed noise, about 0.4-1 mm
    tex = 1 + 0.2 * (_noise(rng, h, w, max(0.5, 0.45 * ppm_i)) - 0.6 * _noise(rng, h, w, max(1.0, 1.4 * ppm_i)))
    tex = np.clip(tex, 0.4, 1.6).astype(np.float32)
    bones = np.zeros((h, w), np.float32)
    cortex = max(0.85 * ppm_i, 0.8)
    trab = limb.density * (1 - osteopenia)
    groups: dict[str, list[Bone]] = {}
    for b in limb.bones.values():
        root = b.name.split(":")[0]
        while root in limb.fused:
            root = limb.fused[root]
        groups.setdefault(root, []).append(b)
    cuts_by: dict[str, list] = {}
    for c in limb.cuts:
        cuts_by.setdefault(c.bone, []).append((px(c.centre), c.radius * ppm_i))
    for name, parts in groups.items():
        geo = [(px(b.e0), px(b.e1), b.r0 * ppm_i, b.rm * ppm_i, b.r1 * ppm_i, b.cap) for b in parts]
        cuts = [c for b in parts for c in cuts_by.get(b.name.split(":")[0], [])]
        _draw_bone(bones, geo, cuts, cortex, trab, tex)
    _lesions(bones, limb.lesions, px, ppm_i)
    bones *= np.float32(limb.density ** 0.5)
    # soft tissue at a quarter of the internal resolution
    qh, qw = max(h // 4, 8), max(w // 4, 8)
    soft = np.zeros((qh, qw), np.float32)
    for p0, p1, r in limb.tissue:
        _draw_soft(soft, px(p0) / 4, px(p1) / 4, (r + swelling) * ppm_i / 4, 32 * ppm_i / 4)
    soft = np.asarray(Image.fromarray(soft, "F").resize((w, h), Image.BILINEAR), np.float32) * np.float32(4 / ppm_i)
    att = bones / np.float32(ppm_i) + np.float32(MU_SOFT) * soft
    att *= np.float32(exp.gain)
    att *= 1 + np.float32(exp.grain) * _noise(rng, h, w, 6.0)
    att = gaussian_filter(att, float(exp.blur_px), truncate=2.5)
    mask_i = np.zeros((h, w), np.uint8)
    for j in limb.joints.values():
        if j.masked:
            axis = lin_i @ j.axis
            axis /= np.hypot(*axis)
            _joint_mask(mask_i, bones, px(j.center), axis, j.gap * ppm_i, j.half_width * ppm_i)
    # exposure at the internal size, then the stored size: enlarge, detector noise, collimation
    density = 1 - np.exp(np.float32(-0.75) * att)
    levels_i = (np.float32(exp.black) + np.float32(exp.white - exp.black) * density ** np.float32(exp.gamma)) * 255
    levels = np.asarray(Image.fromarray(levels_i, "F").resize((W, H), Image.BILINEAR), np.float32) \
        + rng.standard_normal((H, W), dtype=np.float32) * np.float32(exp.noise)
    L, R, T, B = exp.collimation
    if any(exp.collimation):
        x0, x1 = int(L * W), W - int(R * W)
        y0, y1 = int(T * H), H - int(B * H)
        lev = exp.collimation_level * 255
        levels[:, :x0] = lev
        levels[:, x1:] = lev
        levels[:y0, :] = lev
        levels[y1:, :] = lev
    pixels = np.clip(levels + 0.5, 0, 255).astype(np.uint8)
    points = {name: M[:, :2] @ p + M[:, 2] for name, p in limb.landmarks.items()}
    pixels = _burn_in(pixels, exp, points, rng, "R" if mirror else "L")
    if exp.inverted:
        pixels = 255 - pixels
    mask = np.asarray(Image.fromarray(mask_i).resize((W, H), Image.NEAREST))
    if exp.rotated_180:
        pixels, mask = pixels[::-1, ::-1].copy(), mask[::-1, ::-1].copy()
        points = {k_: np.array([W - 1 - x, H - 1 - y]) for k_, (x, y) in points.items()}
    if exp.rgb:
        pixels = np.asarray(Image.fromarray(pixels, "L").convert("RGB"))
    record = exp.record() | {"width": W, "height": H, "px_per_mm": round(float(ppm), 4),
                             "internal_scale": round(float(k), 4)}
    return Shot(pixels, {n: (float(x), float(y)) for n, (x, y) in points.items()}, mask, record)


def _joint_mask(mask, bone_layer, centre, axis, gap_px, half_px):
    if gap_px <= 0.25:
        gap_px = 0.6
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
    region = (along <= gap_px / 2 + 0.7) & (across <= half_px)
    mask[y0:y1, x0:x1] |= region.astype(np.uint8)


_FONTS: dict[int, ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except TypeError:                      # Pillow without FreeType sizes: the small bitmap font
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


def _burn_in(pixels: np.ndarray, exp: Exposure, points, rng, side: str) -> np.ndarray:
    """Side marker and a line of text, in corners away from the landmarks."""
    if not exp.marker and not exp.text:
        return pixels
    H, W = pixels.shape
    pts = np.array(list(points.values()))
    im = Image.fromarray(pixels)
    draw = ImageDraw.Draw(im)
    corners = [(0.04, 0.04), (0.96, 0.04), (0.04, 0.96), (0.96, 0.96)]
    free = sorted(corners, key=lambda c: -np.min(np.hypot(pts[:, 0] - c[0] * W, pts[:, 1] - c[1] * H)))
    level = int(rng.uniform(200, 255))
    if exp.marker:
        size = int(max(10, 0.045 * H))
        cx, cy = free[0][0] * W, free[0][1] * H
        x = cx if cx < W / 2 else cx - size
        y = cy if cy < H / 2 else cy - size * 1.2
        draw.rectangle([x - 3, y - 3, x + size * 0.8, y + size * 1.2], outline=level, width=max(1, size // 12))
        draw.text((x + size * 0.08, y), side, fill=level, font=_font(size))
    if exp.text:
        size = int(max(8, 0.018 * H))
        cx, cy = free[1][0] * W, free[1][1] * H
        label = f"RA {int(rng.integers(100, 999))}  {int(rng.integers(1, 28)):02d}-{int(rng.integers(1, 13)):02d}-" \
                f"{int(rng.integers(1998, 2016))}"
        x = cx if cx < W / 2 else cx - size * len(label) * 0.6
        y = cy if cy < H / 2 else cy - size * 1.3
        draw.text((x, y), label, fill=level, font=_font(size))
    return np.asarray(im)


def erosion_sites(kind: str):
    return HAND_EROSION_SITES if kind == "hand" else FOOT_EROSION_SITES
