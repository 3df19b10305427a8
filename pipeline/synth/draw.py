"""Synthetic product pictures drawn with OpenCV.

Each picture is a garment (top, dress, pants), a shoe, a boot or a bag on a background. The
nine image-dependent MAVP slots are what the geometry shows, and nothing else about the
product reaches the pixels:

====================  =======================================================================
slot                  how it is drawn
====================  =======================================================================
color                 fill colour of the garment / shoe upper (see :data:`PALETTE`)
sleeve_length         length of the sleeve polygons along the arm (无袖 draws none)
neckline              neck cut: ellipse, V, rectangle, wide shallow boat cut, or a collar band
skirt_length          length of the skirt trapezoid below the waist
pant_length           length of the legs below the crotch
toecap                front of the upper: rounded, long point, blunt square, or cut away (露趾)
closure               laces (crosses), zipper (toothed metal line), hook-and-loop straps,
                      a strap with a metal buckle, or nothing (套脚)
heel_height           height of the heel block, which also tilts the back of the shoe up
upper_height          height of the shoe's collar: below, at or above the ankle
====================  =======================================================================

Only a drawable subset of some vocabularies is used (:data:`DRAWABLE`): 10 clearly distinct
colours, 5 necklines (圆领 V领 方领 一字领 高领), 4 skirt lengths (no 超短裙: FashionAI has no
label for it, so no source could teach it) and 5 closures (no 纽扣 / 松紧带).

Everything else is nuisance drawn from the image's own seed: background colour and texture,
scale, position, small rotation, garment proportions, trim and sole colours, the shoe's
viewpoint, a boot's shaft height, a product's second colour. All nuisance numbers are drawn up
front in a fixed order whatever the values are, so two pictures with the same seed differ only
where their slot values differ (the tests rely on this to measure each slot in the pixels).

Geometry is built in a canonical frame (units, y down, garments centred on 0, shoes with the
toe at x = -1 and the ground at y = 0.6), then mapped to the canvas by one similarity transform
and rasterised with anti-aliased polygons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import cv2
import numpy as np

# ---- what can be drawn ---------------------------------------------------------------------

#: MAVP colour value -> RGB. Ten hues far apart in RGB, so a mean colour names its value.
PALETTE: dict[str, tuple[int, int, int]] = {
    "黑色": (35, 35, 38),
    "白色": (238, 238, 234),
    "红色": (200, 35, 40),
    "蓝色": (40, 75, 185),
    "绿色": (45, 140, 70),
    "黄色": (235, 200, 45),
    "灰色": (128, 128, 128),
    "粉色": (240, 160, 190),
    "紫色": (120, 60, 160),
    "棕色": (120, 75, 40),
}
#: Colours outside the MAVP vocabulary, for source labels that map to nothing (iFashion).
EXTRA_COLORS: dict[str, tuple[int, int, int]] = {"Teal": (0, 128, 128), "Peach": (250, 195, 160)}

DRAWABLE: dict[str, tuple[str, ...]] = {
    "color": tuple(PALETTE),
    "neckline": ("圆领", "V领", "方领", "一字领", "高领"),
    "sleeve_length": ("无袖", "短袖", "五分袖", "七分袖", "九分袖", "长袖"),
    "skirt_length": ("短裙", "及膝裙", "中长裙", "长裙"),
    "pant_length": ("短裤", "五分裤", "七分裤", "九分裤", "长裤"),
    "toecap": ("圆头", "尖头", "方头", "露趾"),
    "closure": ("系带", "套脚", "拉链", "魔术贴", "搭扣"),
    "heel_height": ("平跟", "低跟", "中跟", "高跟"),
    "upper_height": ("低帮", "中帮", "高帮"),
}
#: The nine slots that reach the pixels; every other slot is ignored by the drawer.
VISUAL_SLOTS: tuple[str, ...] = tuple(DRAWABLE)

SHAPES = ("top", "dress", "pants", "shoe", "boot", "bag")
#: Which slots each shape shows.
SHAPE_SLOTS: dict[str, tuple[str, ...]] = {
    "top": ("color", "neckline", "sleeve_length"),
    "dress": ("color", "neckline", "sleeve_length", "skirt_length"),
    "pants": ("color", "pant_length"),
    "shoe": ("color", "toecap", "closure", "heel_height", "upper_height"),
    "boot": ("color", "toecap", "closure", "heel_height"),
    "bag": ("color",),
}

# Sleeve length as a fraction of a full arm; adjacent values differ by about 10 px at 128 px.
SLEEVE_FRACTION = {"无袖": 0.0, "短袖": 0.22, "五分袖": 0.45, "七分袖": 0.66, "九分袖": 0.85, "长袖": 1.0}
SKIRT_LENGTH = {"短裙": 0.45, "及膝裙": 0.72, "中长裙": 1.0, "长裙": 1.3}
PANT_FRACTION = {"短裤": 0.28, "五分裤": 0.5, "七分裤": 0.7, "九分裤": 0.86, "长裤": 1.0}
# Heel height in inches (UT-ZAP50K measures heels so); one inch is 0.1 canonical units.
HEEL_INCHES = {"平跟": (0.0, 0.45), "低跟": (1.0, 1.75), "中跟": (2.0, 2.75), "高跟": (3.0, 5.5)}
INCH = 0.1
# Back collar height (canonical y; smaller is higher) per upper height; boots go higher still.
UPPER_TOP = {"低帮": -0.02, "中帮": -0.32, "高帮": -0.62}
BOOT_TOP = (-1.45, -0.95)

VIEWS = ("left", "right", "three_quarter_left", "three_quarter_right")

# Canonical extents per shape (x0, y0, x1, y1): the largest any value can reach, so that the
# scale of a picture never depends on its slot values.
_EXTENTS = {
    "top": (-1.15, -0.95, 1.15, 0.62),
    "dress": (-1.15, -0.95, 1.15, 1.32),
    "pants": (-0.66, -1.02, 0.66, 1.02),
    "shoe": (-1.2, -1.32, 0.92, 0.72),
    "boot": (-1.2, -2.12, 0.92, 0.72),
    "bag": (-0.8, -1.05, 0.8, 0.65),
}


@dataclass(frozen=True)
class Domain:
    """How a source photographs its products (the domain gap lives here)."""

    name: str
    views: tuple[str, ...]      # shoe / boot viewpoints
    fill: tuple[float, float]   # object size as a share of the canvas
    rotate: float               # max rotation, degrees
    shift: float                # max offset of the centre, share of the free margin
    studio: bool                # plain near-white background (UT-ZAP50K)


DOMAINS: dict[str, Domain] = {
    # MEPAVE product photos: any viewpoint, busy backgrounds.
    "mepave": Domain("mepave", VIEWS, (0.8, 1.0), 8.0, 0.8, False),
    "fashionai": Domain("fashionai", ("left",), (0.8, 1.0), 10.0, 0.8, False),
    "ifashion": Domain("ifashion", VIEWS, (0.8, 1.0), 8.0, 0.8, False),
    "crawl": Domain("crawl", VIEWS, (0.78, 1.0), 10.0, 0.8, False),
    # UT-ZAP50K: one side view, toe to the left, centred on white (the paper's domain gap).
    "utzap50k": Domain("utzap50k", ("left",), (0.9, 0.96), 0.0, 0.2, True),
}


@dataclass(frozen=True)
class ImageSpec:
    """Everything that decides one picture besides its seed."""

    shape: str
    values: Mapping[str, str]           # visual slot -> value (other keys are ignored)
    domain: str = "mepave"
    color2: str | None = None           # second colour (colour-blocked garment), palette or extra
    closure2: str | None = None         # second closure mark (UT-ZAP50K multi-label)
    heel_inches: float | None = None    # exact heel height (UT-ZAP50K labels in inches)
    boot_top: float | None = None       # exact shaft top of a boot (UT-ZAP50K subcategories)
    view: str | None = None             # force a viewpoint (else drawn from the domain)


# ---- geometry ------------------------------------------------------------------------------

@dataclass
class _Part:
    name: str
    pts: np.ndarray         # canonical points, N x 2
    role: str               # colour role
    op: str = "fill"        # fill | cut | line | outline
    width: float = 0.0      # line width, canonical units
    closed: bool = True


def _arr(points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64).reshape(-1, 2)


def _ellipse(cx: float, cy: float, rx: float, ry: float, a0: float = 0, a1: float = 360,
             n: int = 24) -> np.ndarray:
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return _arr([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def _quad_along(p: np.ndarray, d: np.ndarray, length: float, width: float) -> np.ndarray:
    """A strip of ``width`` centred on p, running ``length`` along unit direction d."""
    n = np.array([-d[1], d[0]])
    a, b = p - d * length / 2, p + d * length / 2
    return _arr([a + n * width / 2, b + n * width / 2, b - n * width / 2, a - n * width / 2])


def _neckline(value: str, neck_w: float, bw: float, u: np.ndarray) -> list[_Part]:
    top = -0.70
    if value == "圆领":
        return [_Part("neck", _ellipse(0, top, neck_w, 0.13), "main_dark", "cut")]
    if value == "V领":
        depth = 0.28 + 0.1 * u[20]
        return [_Part("neck", _arr([(-neck_w - 0.01, top - 0.03), (neck_w + 0.01, top - 0.03),
                                    (0, top + depth)]), "main_dark", "cut")]
    if value == "方领":
        return [_Part("neck", _rect(-neck_w, top - 0.03, neck_w, top + 0.19), "main_dark", "cut")]
    if value == "一字领":
        # Boat neck: a straight cut almost from shoulder to shoulder, shallow.
        return [_Part("neck", _rect(-(bw - 0.05), top - 0.06, bw - 0.05, -0.635), "main_dark", "cut")]
    if value == "高领":
        band = _rect(-neck_w * 0.9, -0.93, neck_w * 0.9, top + 0.04)
        return [_Part("collar", band, "main_dark"),
                _Part("collar_fold", _arr([(-neck_w * 0.9, -0.81), (neck_w * 0.9, -0.81)]),
                      "outline", "line", 0.025, False)]
    raise ValueError(f"cannot draw neckline {value!r}")


def _upper_body(values: Mapping[str, str], u: np.ndarray, hem_y: float, hem_w: float,
                secondary: str) -> list[_Part]:
    """Bodice with sleeves and neckline; shared by tops and dresses."""
    bw = 0.34 + 0.08 * u[0]
    neck_w = 0.14 + 0.03 * u[1]
    sleeve_w = 0.2 + 0.06 * u[2]
    angle = math.radians(45 + 20 * u[3])
    armpit_y = -0.60 + sleeve_w * 1.15
    body = _arr([(-neck_w, -0.70), (neck_w, -0.70), (bw, -0.60), (bw - 0.03, armpit_y),
                 (hem_w, hem_y), (-hem_w, hem_y), (-(bw - 0.03), armpit_y), (-bw, -0.60)])
    parts = [_Part("body", body, "main")]
    frac = SLEEVE_FRACTION[values["sleeve_length"]]
    if frac > 0:
        length = 0.85 * frac + (0.03 * (u[4] - 0.5) if frac < 1 else 0.0)
        for side in (-1, 1):
            s = np.array([side * bw, -0.60])
            a = np.array([side * (bw - 0.03), armpit_y])
            d = np.array([side * math.cos(angle), math.sin(angle)])
            n = np.array([d[1], -d[0]]) * side     # from the armpit edge towards the shoulder edge
            root = (s + a) / 2
            w_cuff = np.linalg.norm(s - a) * 0.8
            end = root + d * length
            sleeve = _arr([s, end + n * w_cuff / 2, end - n * w_cuff / 2, a])
            parts.append(_Part("sleeve", sleeve, secondary))
            parts.append(_Part("sleeve_seam", sleeve, "outline", "outline", 0.02))
    parts.append(_Part("body_seam", body, "outline", "outline", 0.02))
    parts += _neckline(values["neckline"], neck_w, bw, u)
    return parts


def _top(values, u, secondary="main"):
    hem_y = 0.45 + 0.15 * u[5]
    bw = 0.34 + 0.08 * u[0]
    hem_w = bw * (0.9 + 0.2 * u[6])
    parts = _upper_body(values, u, hem_y, hem_w, secondary)
    if u[7] < 0.3:  # trim band at the hem, in the accent colour
        parts.insert(1, _Part("trim", _rect(-hem_w, hem_y - 0.06, hem_w, hem_y), "accent"))
    return parts


def _dress(values, u, secondary="main"):
    waist_y = -0.18 + 0.1 * u[5]
    ww = 0.26 + 0.06 * u[6]
    parts = _upper_body(values, u, waist_y, ww, "main")
    length = SKIRT_LENGTH[values["skirt_length"]] + 0.03 * (u[8] - 0.5)
    flare = 0.25 + 0.2 * u[9]
    hem = waist_y + length
    hw = ww + flare * length
    skirt = _arr([(-ww, waist_y - 0.01), (ww, waist_y - 0.01), (hw, hem), (-hw, hem)])
    parts.insert(1, _Part("skirt", skirt, secondary))
    parts.insert(2, _Part("skirt_seam", skirt, "outline", "outline", 0.02))
    if u[7] < 0.3:
        parts.insert(3, _Part("trim", _arr([(-hw + 0.01, hem - 0.06), (hw - 0.01, hem - 0.06),
                                           (hw, hem), (-hw, hem)]), "accent"))
    return parts


def _pants(values, u, secondary="main"):
    hw = 0.36 + 0.06 * u[0]
    crotch = -0.45
    frac = PANT_FRACTION[values["pant_length"]]
    end = crotch + 1.45 * frac + (0.02 * (u[4] - 0.5) if frac < 1 else 0.0)
    spread = 0.08 * u[2] * frac
    taper = 0.7 + 0.35 * u[3]                # width at the hem over width at the top
    hip = _arr([(-hw, -0.92), (hw, -0.92), (hw + 0.02, crotch), (-hw - 0.02, crotch)])
    parts = [_Part("hip", hip, "main")]
    for side in (-1, 1):
        top_w = hw + 0.02 - 0.015
        bottom_w = top_w * taper
        cx = side * (0.015 + top_w / 2)
        bx = cx + side * spread
        leg = _arr([(cx - top_w / 2, crotch - 0.01), (cx + top_w / 2, crotch - 0.01),
                    (bx + bottom_w / 2, end), (bx - bottom_w / 2, end)])
        parts.append(_Part("leg", leg, secondary if side > 0 else "main"))
        parts.append(_Part("leg_seam", leg, "outline", "outline", 0.02))
        if u[7] < 0.3:
            parts.append(_Part("trim", _arr([(bx - bottom_w / 2, end - 0.05), (bx + bottom_w / 2, end - 0.05),
                                             (bx + bottom_w / 2, end), (bx - bottom_w / 2, end)]), "accent"))
    parts.append(_Part("waistband", _rect(-hw, -1.0, hw, -0.9), "main_dark"))
    parts.append(_Part("hip_seam", hip, "outline", "outline", 0.02))
    return parts


def _bag(values, u, secondary="main"):
    w = 0.55 + 0.15 * u[0]
    body = _arr([(-w, -0.35), (w, -0.35), (w + 0.05, 0.6), (-w - 0.05, 0.6)])
    handle = _ellipse(0, -0.35, w * 0.55, 0.55 + 0.1 * u[1], 180, 360, 20)
    return [_Part("handle", handle, "main_dark", "line", 0.07, False),
            _Part("body", body, "main"),
            _Part("flap", _arr([(-w, -0.35), (w, -0.35), (w, 0.0), (-w, 0.0)]), secondary),
            _Part("body_seam", body, "outline", "outline", 0.02),
            _Part("clasp", _rect(-0.06, -0.05, 0.06, 0.06), "metal")]


def _closure_marks(kind: str, path: np.ndarray, shaft_side: tuple[float, float, float] | None,
                   u: np.ndarray, k: int) -> list[_Part]:
    """Closure marks along the lacing ``path`` (instep, then up the shaft front)."""
    seg = np.diff(path, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    total = float(seg_len.sum())

    def at(t: float) -> tuple[np.ndarray, np.ndarray]:
        dist = t * total
        for i, ln in enumerate(seg_len):
            if dist <= ln or i == len(seg_len) - 1:
                d = seg[i] / max(ln, 1e-9)
                return path[i] + d * min(dist, ln), d
            dist -= ln
        raise AssertionError

    parts: list[_Part] = []
    if kind == "系带":
        n = max(3, int(round(total / 0.13)))
        for i in range(n):
            p, d = at((i + 0.5) / n)
            nrm = np.array([-d[1], d[0]])
            a, b = d * 0.045, nrm * 0.07
            parts.append(_Part("mark", _arr([p - a - b, p + a + b]), "mark", "line", 0.035, False))
            parts.append(_Part("mark", _arr([p - a + b, p + a - b]), "mark", "line", 0.035, False))
    elif kind == "拉链":
        if shaft_side is not None:
            x, y0, y1 = shaft_side
            line = _arr([(x, y0), (x, y1)])
        else:
            line = path
        parts.append(_Part("mark", line, "metal", "line", 0.045, False))
        # teeth: short ticks across the line
        lseg = np.diff(line, axis=0)
        for i in range(len(lseg)):
            ln = float(np.linalg.norm(lseg[i]))
            d = lseg[i] / max(ln, 1e-9)
            nrm = np.array([-d[1], d[0]])
            for j in range(int(ln / 0.06)):
                p = line[i] + d * (j + 0.5) * 0.06
                parts.append(_Part("mark", _arr([p - nrm * 0.04, p + nrm * 0.04]), "metal", "line", 0.02, False))
        parts.append(_Part("mark", _rect(line[0][0] - 0.03, line[0][1] - 0.02,
                                         line[0][0] + 0.03, line[0][1] + 0.06), "metal"))
    elif kind == "魔术贴":
        n = 2 if total < 0.9 else 3
        for i in range(n):
            p, d = at(0.2 + 0.6 * i / max(n - 1, 1))
            nrm = np.array([-d[1], d[0]])
            parts.append(_Part("mark", _quad_along(p, nrm, 0.34, 0.11), "mark2"))
            parts.append(_Part("mark", _quad_along(p + nrm * 0.15, nrm, 0.06, 0.11), "mark"))
    elif kind == "搭扣":
        p, d = at(0.75 + 0.15 * u[21 + k])
        strap_dir = np.array([1.0, -0.15])
        strap_dir /= np.linalg.norm(strap_dir)
        strap = _quad_along(p + strap_dir * 0.22, strap_dir, 0.6, 0.09)
        parts.append(_Part("mark", strap, "mark2"))
        b = p + strap_dir * 0.02
        parts.append(_Part("mark", _rect(b[0] - 0.07, b[1] - 0.08, b[0] + 0.07, b[1] + 0.08),
                           "metal", "outline", 0.035))
    elif kind == "套脚":
        pass
    else:
        raise ValueError(f"cannot draw closure {kind!r}")
    return parts


def _shoe(values, u, secondary="main", boot=False, heel_inches=None, closure2=None, boot_top=None):
    """Side view of a shoe or boot, toe to the left, before the heel lift is applied.

    Returns the parts, the heel height h (canonical units) and the outline of the shoe's
    opening (shown only in three-quarter views).
    """
    ground = 0.6
    sole_t = 0.08 + 0.05 * u[0]
    st = ground - sole_t                     # sole top
    toe = values["toecap"]
    if heel_inches is None:
        lo, hi = HEEL_INCHES[values["heel_height"]]
        heel_inches = lo + (hi - lo) * u[1]
    h = heel_inches * INCH
    if boot:
        top = BOOT_TOP[0] + (BOOT_TOP[1] - BOOT_TOP[0]) * u[2] if boot_top is None else boot_top
    else:
        top = UPPER_TOP[values["upper_height"]] + 0.06 * (u[2] - 0.5)
    x_th, y_th = -0.1 + 0.06 * u[3], st - 0.42   # throat, where the opening starts
    high = top < y_th - 0.2

    tip = {"圆头": -1.0, "尖头": -1.15, "方头": -0.98, "露趾": -1.0}[toe]
    if toe == "圆头":
        front = _ellipse(tip + 0.26, st, 0.26, 0.29, 180, 270, 10)
    elif toe == "尖头":
        front = _arr([(tip, st - 0.01), (tip + 0.2, st - 0.12), (tip + 0.45, st - 0.27)])
    elif toe == "方头":
        front = _arr([(tip, st), (tip, st - 0.22), (tip + 0.06, st - 0.28), (tip + 0.26, st - 0.29)])
    else:  # 露趾: the front of the upper is cut away and the bare sole runs ahead of it
        front = _arr([(-0.6, st), (-0.69, st - 0.13), (-0.62, st - 0.27)])
    vamp_start = front[-1]
    vamp = _arr([(x_th - 0.2, y_th + 0.06), (x_th, y_th)])
    if high:
        collar = _arr([(x_th + 0.08, top), (0.8, top)])
        opening = _ellipse((x_th + 0.88) / 2, top, (0.72 - x_th) / 2, 0.07)
    else:
        collar = _arr([(0.3, y_th + 0.05), (0.8, top)])
        opening = _ellipse((x_th + 0.8) / 2, (y_th + top) / 2 + 0.02, (0.8 - x_th) / 2, 0.08)
    back = _arr([(0.86, st - 0.16), (0.84, st)])
    bottom = np.stack([np.linspace(0.84, front[0][0], 10)[1:-1], np.full(8, st)], axis=1)
    upper = np.concatenate([front, vamp, collar, back, bottom])

    # Sole: top edge, back, bottom edge (points all along, so the heel lift bends it), toe cap.
    s_tip = tip - 0.02 if toe != "尖头" else tip + 0.02
    xs = np.linspace(s_tip + 0.06, 0.86, 10)
    sole = np.concatenate([np.stack([xs, np.full(10, st)], axis=1),
                           np.stack([xs[::-1], np.full(10, ground)], axis=1),
                           _ellipse(s_tip + 0.06, st + sole_t / 2, 0.06, sole_t / 2, 90, 270, 8)])
    # Heel block: its top edge follows the lifted sole, its bottom stays on the ground.
    thin = u[5] < 0.5 and h > 0.25
    hx = np.linspace(0.56, 0.86, 6)
    heel = np.concatenate([np.stack([hx, np.full(6, ground)], axis=1),
                           _arr([(0.86, ground), (0.76 if thin else 0.6, ground)])])

    parts = [_Part("sole", sole, "sole"), _Part("heel", heel, "heel"),
             _Part("upper", upper, "main"), _Part("upper_seam", upper, "outline", "outline", 0.02)]
    if high:
        # the seam where the shaft meets the foot
        parts.append(_Part("shaft_seam", _arr([(x_th + 0.02, y_th - 0.02), (0.82, y_th - 0.02)]),
                           "outline", "line", 0.02, False))
    # Lacing path: from the middle of the vamp to the throat, then up the front of the shaft.
    start = vamp_start * 0.4 + np.array([x_th, y_th]) * 0.6 + np.array([-0.12, 0.05])
    path = [start, np.array([x_th, y_th])]
    if high:
        path.append(np.array([x_th + 0.07, top + 0.1]))
    path = _arr(path)
    parts += _closure_marks(values["closure"], path, (0.5, top + 0.06, st - 0.14) if high else None, u, 0)
    if closure2 and closure2 != values["closure"]:
        parts += _closure_marks(closure2, path, (0.64, top + 0.08, st - 0.12) if high else None, u, 1)
    return parts, h, opening


def _lift(pts: np.ndarray, h: float, ground: float = 0.6, keep_ground: bool = False) -> np.ndarray:
    """Raise the back of the shoe by h (the heel), keeping the ball of the foot on the ground."""
    t = np.clip((pts[:, 0] + 0.35) / 0.9, 0.0, 1.0)
    t = t * t * (3 - 2 * t)
    out = pts.copy()
    lift = h * t
    if keep_ground:
        # heel block (see _shoe): its first six points are the top edge, the rest stay down
        out[:6, 1] -= lift[:6]
        return out
    out[:, 1] -= lift
    return out


# ---- rendering -----------------------------------------------------------------------------

# Sensor-like noise, one fixed tile cropped at a random offset (cheaper than fresh noise).
_NOISE = np.random.default_rng(20180601).integers(-6, 7, (512, 512, 3)).astype(np.int16)


def _luma(rgb) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _shade(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, round(c * f)))) for c in rgb)


def _color(name: str) -> tuple[int, int, int]:
    if name in PALETTE:
        return PALETTE[name]
    if name in EXTRA_COLORS:
        return EXTRA_COLORS[name]
    raise ValueError(f"cannot draw colour {name!r}")


def _background(rng: np.random.Generator, u: np.ndarray, size: int, studio: bool) -> np.ndarray:
    grid = rng.random((3, 3, 3), dtype=np.float32)   # drawn always, so later draws line up
    if studio:
        base = 242 + 12 * u[10]
        img = np.full((size, size, 3), base, np.float32)
        ramp = np.linspace(-4, 4, size, dtype=np.float32)[:, None, None]
        return np.clip(img + ramp, 0, 255).astype(np.uint8)
    kind = u[11]
    if kind < 0.6:
        base = 195 + 60 * u[12:15]
    elif kind < 0.85:
        base = 110 + 90 * u[12:15]
    else:
        base = 20 + 80 * u[12:15]
    blot = cv2.resize((grid - 0.5) * (50 * u[15]), (size, size), interpolation=cv2.INTER_CUBIC)
    img = blot + base.astype(np.float32)
    if u[16] < 0.2:  # faint stripes (fabric, wallpaper, floorboards)
        period = 6 + int(14 * u[17])
        stripes = ((np.arange(size) // period) % 2).astype(np.float32) * 14 - 7
        img += stripes[:, None, None] if u[18] < 0.5 else stripes[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _transform(shape: str, dom: Domain, u: np.ndarray, size: int, mirror: bool) -> np.ndarray:
    """2x3 similarity from canonical units to pixels."""
    x0, y0, x1, y1 = _EXTENTS[shape]
    fill = dom.fill[0] + (dom.fill[1] - dom.fill[0]) * u[24]
    s = size * fill / max(x1 - x0, y1 - y0)
    theta = math.radians(dom.rotate * (2 * u[25] - 1))
    margin_x = (size - s * (x1 - x0)) / 2
    margin_y = (size - s * (y1 - y0)) / 2
    cx = size / 2 + dom.shift * max(margin_x, 0) * (2 * u[26] - 1)
    cy = size / 2 + dom.shift * max(margin_y, 0) * (2 * u[27] - 1)
    c, si = math.cos(theta) * s, math.sin(theta) * s
    mx = -1.0 if mirror else 1.0
    ox, oy = (x0 + x1) / 2, (y0 + y1) / 2
    # p' = R S (m*(x-ox), y-oy) + (cx, cy)
    return np.array([[c * mx, -si, cx - c * mx * ox + si * oy],
                     [si * mx, c, cy - si * mx * ox - c * oy]])


def _three_quarter(pts: np.ndarray) -> np.ndarray:
    """Foreshortened three-quarter view: squeeze the length, tilt the toe up."""
    out = pts.copy()
    out[:, 0] = 0.74 * pts[:, 0]
    out[:, 1] = pts[:, 1] + 0.16 * pts[:, 0]
    return out


def render(spec: ImageSpec, seed: int, size: int = 128, parts: bool = False):
    """Draw one picture as an HxWx3 uint8 RGB array.

    With ``parts=True`` return ``(image, masks)`` where ``masks`` maps part names (body, sleeve,
    skirt, leg, heel, upper, mark, ...) and ``"object"`` to uint8 coverage masks (0..255),
    for measuring what the picture shows.
    """
    if spec.shape not in SHAPES:
        raise ValueError(f"unknown shape {spec.shape!r}")
    dom = DOMAINS[spec.domain]
    rng = np.random.default_rng(seed)
    u = rng.random(32)                        # every nuisance number, in a fixed order
    values = {k: spec.values[k] for k in SHAPE_SLOTS[spec.shape]}
    secondary = "main2" if spec.color2 else "main"
    view = spec.view or dom.views[int(u[28] * len(dom.views))]
    h = 0.0
    if spec.shape in ("shoe", "boot"):
        geo, h, opening = _shoe(values, u, secondary, spec.shape == "boot", spec.heel_inches,
                                spec.closure2, spec.boot_top)
    else:
        geo = {"top": _top, "dress": _dress, "pants": _pants, "bag": _bag}[spec.shape](values, u, secondary)

    # Colours of this picture.
    main = _color(values["color"])
    jitter = 0.92 + 0.14 * u[29]
    main = tuple(int(np.clip(c * jitter + 16 * (u[30 + (i % 2)] - 0.5), 0, 255)) for i, c in enumerate(main))
    dark_main = _luma(main) < 90
    colors = {
        "main": main,
        "main2": _color(spec.color2) if spec.color2 else main,
        "main_dark": _shade(main, 0.8) if not dark_main else _shade(main, 1.6),
        "outline": _shade(main, 0.6) if not dark_main else (90, 90, 92),
        "mark": (245, 245, 245) if _luma(main) < 150 else (40, 40, 40),
        "mark2": _shade(main, 0.7) if not dark_main else (70, 70, 75),
        "metal": (178, 178, 184),
        "inner": _shade(main, 0.45),
        "accent": _accent(u),
        "sole": _sole(u),
        "heel": _sole(u),
    }

    shoe = spec.shape in ("shoe", "boot")
    mirror = shoe and view in ("right", "three_quarter_right")
    M = _transform(spec.shape, dom, u, size, mirror)
    if shoe and view.startswith("three_quarter"):
        geo.append(_Part("inner", opening, "inner"))   # the opening shows from above

    layer = np.zeros((size, size, 3), np.uint8)
    mask = np.zeros((size, size), np.uint8)
    masks: dict[str, np.ndarray] = {}
    px = M[0, 0] ** 2 + M[1, 0] ** 2
    scale = math.sqrt(px)
    for part in geo:
        pts = part.pts
        if shoe:
            pts = _lift(pts, h, keep_ground=(part.name == "heel"))
            if view.startswith("three_quarter"):
                pts = _three_quarter(pts)
        pix = pts @ M[:, :2].T + M[:, 2]
        ipts = [np.round(pix * 16).astype(np.int32)]
        color = colors[part.role] if part.role in colors else colors["main"]
        if part.op == "fill":
            cv2.fillPoly(layer, ipts, color, cv2.LINE_AA, 4)
            cv2.fillPoly(mask, ipts, 255, cv2.LINE_AA, 4)
        elif part.op == "cut":
            cv2.fillPoly(mask, ipts, 0, cv2.LINE_AA, 4)
        elif part.op in ("line", "outline"):
            t = max(1, int(round(part.width * scale)))
            cv2.polylines(layer, ipts, part.closed, color, t, cv2.LINE_AA, 4)
            if part.op == "line":
                cv2.polylines(mask, ipts, part.closed, 255, t, cv2.LINE_AA, 4)
        if parts and part.op in ("fill", "line"):
            m = masks.setdefault(part.name, np.zeros((size, size), np.uint8))
            if part.op == "fill":
                cv2.fillPoly(m, ipts, 255, cv2.LINE_AA, 4)
            else:
                cv2.polylines(m, ipts, part.closed, 255, t, cv2.LINE_AA, 4)
        elif parts and part.op == "cut":
            for m in masks.values():
                cv2.fillPoly(m, ipts, 0, cv2.LINE_AA, 4)

    bg = _background(rng, u, size, dom.studio)
    alpha = mask.astype(np.float32) * (1 / 255)
    img = cv2.blendLinear(layer, bg, alpha, 1 - alpha)
    if size <= _NOISE.shape[0] // 2:
        ox, oy = int(u[19] * size), int(u[23] * size)
        img = np.clip(img.astype(np.int16) + _NOISE[oy:oy + size, ox:ox + size], 0, 255).astype(np.uint8)
    if parts:
        masks["object"] = mask
        return img, masks
    return img


def _accent(u: np.ndarray) -> tuple[int, int, int]:
    return PALETTE[ACCENT_COLORS[int(u[22] * len(ACCENT_COLORS))]]


def _sole(u: np.ndarray) -> tuple[int, int, int]:
    return SOLE_COLORS[SOLE_NAMES[int(u[6] * len(SOLE_NAMES))]]


#: Trim colours of garments (a product's second colour in text, see ``accent_color``).
ACCENT_COLORS = ("黑色", "白色", "红色", "蓝色", "黄色")
SOLE_NAMES = ("白色", "黑色", "gum", "灰色")
SOLE_COLORS = {"白色": (236, 236, 232), "黑色": (30, 30, 32), "gum": (190, 150, 100), "灰色": (128, 128, 128)}


def accent_color(spec: ImageSpec, seed: int) -> str | None:
    """The second colour a picture shows (garment trim or shoe sole), as a MAVP value, if any.

    Lets sentences name a product's two colours (``<颜色>红色</颜色>与<颜色>黑色</颜色>``)
    truthfully. Mirrors the draws in :func:`render`.
    """
    u = np.random.default_rng(seed).random(32)
    if spec.shape in ("shoe", "boot"):
        name = SOLE_NAMES[int(u[6] * len(SOLE_NAMES))]
        return name if name in PALETTE else None
    if spec.shape in ("top", "dress", "pants") and u[7] < 0.3:
        return ACCENT_COLORS[int(u[22] * len(ACCENT_COLORS))]
    return None


def product_spec(shape: str, truth: Mapping[str, str | None], domain: str = "mepave", **kw) -> ImageSpec:
    """ImageSpec of a product from its full truth (all 25 slots): only visual slots are kept."""
    values = {k: v for k, v in truth.items() if k in SHAPE_SLOTS[shape] and v is not None}
    return ImageSpec(shape, values, domain, **kw)


def render_product(shape: str, truth: Mapping[str, str | None], seed: int, size: int = 128,
                   domain: str = "mepave") -> np.ndarray:
    """Picture of a product given its whole truth row; text slots cannot reach the pixels."""
    return render(product_spec(shape, truth, domain), seed, size)
