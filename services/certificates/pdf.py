"""The certificate as a one-page A4 PDF: the result, its facts and a QR code to verify it.

Chinese text uses reportlab's built-in CID font STSong-Light, so no font files ship with us
(viewers supply the glyphs). Codes and numbers are set in Helvetica, which keeps them
extractable as plain text. The same inputs always give the same bytes: reportlab runs in
invariant mode and the PDF's creation date is the issue time, so a hash can be signed and
a re-rendered copy compared.
"""

from __future__ import annotations

import base64
import io
import re
import zlib
from datetime import UTC, datetime
from functools import cache

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from forms.values import mask_id
from services.calendar import CHINA

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
QR_ERROR = "m"  # segno raises it further when the version has room to spare

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 30 * mm
LABEL_WIDTH = 34 * mm
QR_SIZE = 34 * mm
BOTTOM_BLOCK_TOP = 88 * mm  # the QR code, the issuer block and the verification line
NO_LINE_START = "，。、；：？！）》」』”’,.;:?!)]"


@cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def qr_code(url: str) -> segno.QRCode:
    """The QR code printed on a certificate for `url`."""
    return segno.make_qr(url, error=QR_ERROR)


def china_time(moment: datetime) -> datetime:
    """`moment` in China Standard Time; a naive value (as SQLite returns them) is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA)


def _font_for(text: str) -> str:
    return LATIN_FONT if text.isascii() else CJK_FONT


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points, broken between any two characters as Chinese text is;
    closing punctuation hangs at the end of a line rather than start the next."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for char in paragraph:
            candidate = line + char
            fits = pdfmetrics.stringWidth(candidate, font, size) <= width
            if fits or not line or char in NO_LINE_START:
                line = candidate
            else:
                lines.append(line)
                line = char
        lines.append(line)
    return lines


def _fit_rows(
    rows: list[tuple[str, str]], width: float, height: float
) -> tuple[float, list[tuple[str, list[str]]]]:
    """The largest font size (11.5 pt down to 7) at which `rows` fit in `height`, with the
    wrapped lines; at the smallest size, the last lines are cut and marked with an ellipsis."""
    size = 11.5
    while True:
        wrapped = [(label, _wrap(value, _font_for(value), size, width)) for label, value in rows]
        needed = sum(len(lines) * size * 1.5 + size * 0.6 for _, lines in wrapped)
        if needed <= height or size <= 7:
            break
        size -= 0.5
    budget = int((height - len(rows) * size * 0.6) // (size * 1.5))
    fitted = []
    for index, (label, lines) in enumerate(wrapped):
        kept = lines[: max(1, budget - (len(wrapped) - index - 1))]
        if len(kept) < len(lines):
            kept[-1] = kept[-1][:-1] + "…"
        budget -= len(kept)
        fitted.append((label, kept))
    return size, fitted


def _draw_centered(pdf: Canvas, text: str, y: float, size: float) -> None:
    pdf.setFont(_font_for(text), size)
    pdf.drawCentredString(PAGE_WIDTH / 2, y, text)


def _draw_qr(pdf: Canvas, url: str, x: float, y: float, size: float) -> None:
    """The QR code's dark modules as filled squares in a form XObject of one unit per module,
    placed at (x, y) scaled to `size`; the page's white margin is the quiet zone."""
    rows = list(qr_code(url).matrix_iter(scale=1, border=0))
    count = len(rows)
    pdf.beginForm("verification_qr", 0, 0, count, count)
    pdf.setFillColorRGB(0, 0, 0)
    path = pdf.beginPath()
    for r, row in enumerate(rows):
        c = 0
        while c < count:
            if not row[c]:
                c += 1
                continue
            start = c
            while c < count and row[c]:
                c += 1
            path.rect(start, count - 1 - r, c - start, 1)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.endForm()
    pdf.saveState()
    pdf.translate(x, y)
    pdf.scale(size / count, size / count)
    pdf.doForm("verification_qr")
    pdf.restoreState()


def render_certificate(
    *,
    title: str,
    number: str,
    case_number: str,
    holder_name: str,
    holder_id_number: str,
    decision: str,
    department_name: str,
    issued_at: datetime,
    legal_basis: str,
    verification_url: str,
) -> bytes:
    """The certificate PDF; `title` is the item's name, `holder_id_number` is printed masked."""
    _register_fonts()
    issued = china_time(issued_at)
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, pageCompression=1, invariant=1)
    pdf.setTitle(f"{title} {number}")
    pdf.setAuthor(department_name)
    pdf.setSubject("办理结果通知书（电子证照）")
    pdf.setCreator("OneThing 一件事一次办")
    pdf.setKeywords(number)
    stamp = f"D:{issued:%Y%m%d%H%M%S}+08'00'"
    pdf.setDateFormatter(lambda *_: stamp)

    pdf.setLineWidth(1.6)
    pdf.rect(15 * mm, 15 * mm, PAGE_WIDTH - 30 * mm, PAGE_HEIGHT - 30 * mm)
    pdf.setLineWidth(0.5)
    pdf.rect(17 * mm, 17 * mm, PAGE_WIDTH - 34 * mm, PAGE_HEIGHT - 34 * mm)

    y = PAGE_HEIGHT - 42 * mm
    for line in _wrap(title, CJK_FONT, 22, PAGE_WIDTH - 2 * MARGIN):
        _draw_centered(pdf, line, y, 22)
        y -= 30
    _draw_centered(pdf, "办理结果通知书（电子证照）", y + 4, 13)
    y -= 14
    pdf.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
    y -= 30

    date_text = f"{issued:%Y年%m月%d日}"
    rows = [
        ("证照编号", number),
        ("办件编号", case_number),
        ("持证人", holder_name),
        ("公民身份号码", mask_id(holder_id_number)),
        ("办理结论", decision),
        ("发证机关", department_name),
        ("发证日期", date_text),
        ("办理依据", legal_basis),
    ]
    value_width = PAGE_WIDTH - 2 * MARGIN - LABEL_WIDTH
    size, fitted = _fit_rows(rows, value_width, y - BOTTOM_BLOCK_TOP)
    for label, lines in fitted:
        pdf.setFont(CJK_FONT, size)
        pdf.drawString(MARGIN, y, f"{label}：")
        for line in lines:
            pdf.setFont(_font_for(line), size)
            pdf.drawString(MARGIN + LABEL_WIDTH, y, line)
            y -= size * 1.5
        y -= size * 0.6

    qr_bottom = BOTTOM_BLOCK_TOP - 8 * mm - QR_SIZE
    _draw_qr(pdf, verification_url, MARGIN, qr_bottom, QR_SIZE)
    pdf.setFont(CJK_FONT, 14)
    right = PAGE_WIDTH - MARGIN
    pdf.drawRightString(right, qr_bottom + QR_SIZE - 14 * mm, department_name)
    pdf.setFont(CJK_FONT, 12)
    pdf.drawRightString(right, qr_bottom + QR_SIZE - 22 * mm, date_text)

    line_y = qr_bottom - 7 * mm
    notice = f"扫码或访问 {verification_url} 验证真伪"
    for line in _wrap(notice, CJK_FONT, 9, PAGE_WIDTH - 2 * MARGIN):
        pdf.setFont(CJK_FONT, 9)
        pdf.drawString(MARGIN, line_y, line)
        line_y -= 12

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# A result number as issued (`<case number>-<item row>`, e.g. YJS20261123000001-0003)
_NUMBER = re.compile(rb"[A-Z]{2,8}\d{8,20}-\d{4,10}")
MAX_STREAMS = 20  # streams of a file inflated to look for numbers
MAX_INFLATED = 1024 * 1024  # bytes each may inflate to
MAX_NUMBERS = 20


def _streams(pdf: bytes):
    """The first MAX_STREAMS streams of a PDF (where its page text is), found in one pass."""
    position = 0
    for _ in range(MAX_STREAMS):
        start = pdf.find(b"stream", position)
        while start >= 3 and pdf[start - 3 : start] == b"end":
            start = pdf.find(b"stream", start + 6)
        if start < 0:
            return
        body = start + 6
        body += (
            2 if pdf[body : body + 2] == b"\r\n" else int(pdf[body : body + 1] in (b"\n", b"\r"))
        )
        end = pdf.find(b"endstream", body)
        if end < 0:
            return
        yield pdf[body:end]
        position = end + 9


def _inflated(stream: bytes) -> bytes:
    """A stream's bytes as reportlab writes them (ASCII85 over Flate) or Flate alone, inflated
    to at most MAX_INFLATED bytes; nothing when it is neither."""
    data = stream.strip()
    if data.endswith(b"~>"):
        try:
            data = base64.a85decode(data[:-2])
        except ValueError:
            return b""
    try:
        return zlib.decompressobj().decompress(data, MAX_INFLATED)
    except zlib.error:
        return b""


def claimed_numbers(pdf: bytes) -> list[str]:
    """The result numbers a PDF says it carries (its keywords, its text): what a copy claims
    to be, even once altered elsewhere. Bounded: at most MAX_STREAMS streams, each inflated to
    at most MAX_INFLATED bytes, and MAX_NUMBERS numbers."""
    texts = [pdf, *(_inflated(stream) for stream in _streams(pdf))]
    found = dict.fromkeys(m.group().decode() for text in texts for m in _NUMBER.finditer(text))
    return list(found)[:MAX_NUMBERS]
