"""The issuing department's electronic seal (电子印章), drawn as vector graphics.

A round official seal as a Chinese department's 公章 looks: a red ring, a five-pointed star in
its centre, the department's full name set along the upper arc (each character upright to the
centre) and the seal's purpose straight below the star. It is generated from the department's
name for each certificate: no image is stored or copied, and the same name gives the same
drawing.
"""

from __future__ import annotations

import math

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

SEAL_RED = (0.86, 0.08, 0.08)
SEAL_ALPHA = 0.88  # the text under the seal shows through, as under a real stamp's ink
SEAL_RADIUS = 20 * mm
SEAL_PURPOSE = "电子证照专用章"
RING_WIDTH = 1.1 * mm
MAX_ARC = 240.0  # degrees of the upper arc the name may take
MAX_STEP = 30.0  # degrees between two characters of a short name
STAR_RATIO = 0.3  # the star's outer radius, of the seal's


def star_points(cx: float, cy: float, outer: float) -> list[tuple[float, float]]:
    """The ten corners of a five-pointed star centred on (cx, cy), one point straight up."""
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for index in range(10):
        radius = outer if index % 2 == 0 else inner
        angle = math.radians(90 + 36 * index)
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def name_layout(name: str, radius: float) -> tuple[float, list[tuple[str, float]]]:
    """The size of the name's characters and each character with its angle (degrees from the
    positive x-axis, counter-clockwise), read left to right over the top of the seal."""
    count = max(1, len(name))
    step = min(MAX_STEP, MAX_ARC / count)
    # a character's width is the chord it takes on the arc through the characters' middle
    size = min(radius * 0.34, 2 * (radius * 0.78) * math.sin(math.radians(step) / 2) * 0.92)
    first = 90 + step * (count - 1) / 2
    return size, [(char, first - step * index) for index, char in enumerate(name)]


def draw_seal(pdf: Canvas, *, name: str, cx: float, cy: float, font: str) -> None:
    """Draw the seal of the department `name` centred on (cx, cy), over what is already on the
    page, with the characters in `font` (a registered font with CJK glyphs)."""
    pdf.saveState()
    pdf.setStrokeColorRGB(*SEAL_RED)
    pdf.setFillColorRGB(*SEAL_RED)
    pdf.setStrokeAlpha(SEAL_ALPHA)
    pdf.setFillAlpha(SEAL_ALPHA)

    pdf.setLineWidth(RING_WIDTH)
    pdf.circle(cx, cy, SEAL_RADIUS - RING_WIDTH / 2, stroke=1, fill=0)

    path = pdf.beginPath()
    corners = star_points(cx, cy, SEAL_RADIUS * STAR_RATIO)
    path.moveTo(*corners[0])
    for corner in corners[1:]:
        path.lineTo(*corner)
    path.close()
    pdf.drawPath(path, stroke=0, fill=1)

    # The name: each character's top towards the ring, its foot towards the centre.
    text_radius = SEAL_RADIUS - RING_WIDTH - 1.2 * mm
    size, placed = name_layout(name, text_radius)
    ascent = size * 0.86
    for char, angle in placed:
        pdf.saveState()
        theta = math.radians(angle)
        baseline = text_radius - ascent
        pdf.translate(cx + baseline * math.cos(theta), cy + baseline * math.sin(theta))
        pdf.rotate(angle - 90)
        pdf.setFont(font, size)
        pdf.drawCentredString(0, 0, char)
        pdf.restoreState()

    purpose_size = SEAL_RADIUS * 0.2
    width = pdfmetrics.stringWidth(SEAL_PURPOSE, font, purpose_size)
    purpose_size *= min(1.0, SEAL_RADIUS * 1.1 / width)
    pdf.setFont(font, purpose_size)
    pdf.drawCentredString(cx, cy - SEAL_RADIUS * 0.58, SEAL_PURPOSE)
    pdf.restoreState()
