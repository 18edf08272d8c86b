"""The certificate as a one-page A4 PDF: the document the item issues, its holder, the
department's result data, the issuing department's seal and a QR code to verify it.

Every glyph is set in one CJK TrueType font that is embedded (subset) in the file
(services/certificates/fonts.py), so the document looks the same in every reader; its codes and
numbers stay extractable as plain text. The same inputs always give the same bytes: reportlab
runs in invariant mode and the PDF's creation date is the issue time, so a hash can be signed
and a re-rendered copy compared.
"""

from __future__ import annotations

import base64
import io
import re
import zlib
from datetime import UTC, datetime

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from forms.values import mask_id
from services.calendar import CHINA
from services.certificates.fonts import certificate_font
from services.certificates.seal import SEAL_RADIUS, draw_seal
from services.config import get_settings

QR_ERROR = "m"  # segno raises it further when the version has room to spare
DEFAULT_SUBTITLE = "办理结果通知书（电子证照）"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 30 * mm
MIN_LABEL_WIDTH = 26 * mm
MAX_LABEL_WIDTH = 50 * mm
QR_SIZE = 34 * mm
BOTTOM_BLOCK_TOP = 88 * mm  # the QR code, the issuer block with its seal, the verification line
NO_LINE_START = "，。、；：？！）》」』”’,.;:?!)]"
# A citizen ID (18 characters: region, birth date, sequence, check) is printed masked; other
# holder codes (a unified social credit code, a certificate number) are public and printed whole.
CITIZEN_ID = re.compile(
    r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
)


def qr_code(url: str) -> segno.QRCode:
    """The QR code printed on a certificate for `url`."""
    return segno.make_qr(url, error=QR_ERROR)


def china_time(moment: datetime) -> datetime:
    """`moment` in China Standard Time; a naive value (as SQLite returns them) is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA)


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


Row = tuple[list[str], list[str]]  # a row's label lines and value lines


def _layout(
    rows: list[tuple[str, str]], font: str, size: float, width: float
) -> tuple[float, list[Row]]:
    """The label column's width at `size` (the widest label, within MIN_ and MAX_LABEL_WIDTH)
    and each row wrapped: its label in that column, its value in the rest of `width`."""
    widest = max(pdfmetrics.stringWidth(f"{label}：", font, size) for label, _ in rows)
    label_width = min(MAX_LABEL_WIDTH, max(MIN_LABEL_WIDTH, widest + size))
    wrapped = [
        (
            _wrap(f"{label}：", font, size, label_width - size / 2),
            _wrap(value, font, size, width - label_width),
        )
        for label, value in rows
    ]
    return label_width, wrapped


def _fit_rows(
    rows: list[tuple[str, str]], font: str, width: float, height: float
) -> tuple[float, float, list[Row]]:
    """The largest font size (11.5 pt down to 7) at which `rows` fit in `height`, with the
    label column's width and the wrapped rows; at the smallest size, the last lines are cut
    and marked with an ellipsis so that the page stays one page."""
    size = 11.5
    while True:
        label_width, wrapped = _layout(rows, font, size, width)
        needed = sum(max(len(a), len(b)) * size * 1.5 + size * 0.6 for a, b in wrapped)
        if needed <= height or size <= 7:
            break
        size -= 0.5
    budget = int((height - len(rows) * size * 0.6) // (size * 1.5))
    fitted = []
    for index, (label, lines) in enumerate(wrapped):
        room = max(1, budget - (len(wrapped) - index - 1))
        kept, label = lines[:room], label[:room]
        if len(kept) < len(lines):
            kept[-1] = kept[-1][:-1] + "…"
        budget -= max(len(kept), len(label))
        fitted.append((label, kept))
    return size, label_width, fitted


def _draw_centered(pdf: Canvas, text: str, y: float, font: str, size: float) -> None:
    pdf.setFont(font, size)
    pdf.drawCentredString(PAGE_WIDTH / 2, y, text)


def shown_id(label: str, number: str) -> str:
    """A holder's code as printed: a citizen ID masked, any other code (a unified social credit
    code, a certificate's number) whole."""
    if "信用代码" not in label and CITIZEN_ID.fullmatch(number):
        return mask_id(number)
    return number


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
    document_title: str,
    item_name: str,
    number: str,
    case_number: str,
    holder_label: str,
    holder_name: str,
    holder_id_label: str,
    holder_id_number: str,
    result_rows: list[tuple[str, str]],
    decision: str,
    department_name: str,
    issued_at: datetime,
    legal_basis: str,
    verification_url: str,
) -> bytes:
    """The certificate PDF: `document_title` (the kind of document the item issues, e.g.
    出生医学证明) over `item_name`, or the item's name over 办理结果通知书 when the item issues
    no document of its own; its holder (the item's subject: `holder_label` 新生儿, 企业名称 …)
    and the holder's code (a citizen ID printed masked; omitted when empty); the department's
    `result_rows` (label, value); and `department_name` (its full name) as issuer, in the
    seal over the issue date."""
    font = certificate_font(get_settings().certificate_font)
    issued = china_time(issued_at)
    title = document_title or item_name
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, pageCompression=1, invariant=1, initialFontName=font)
    pdf.setTitle(f"{title} {number}")
    pdf.setAuthor(department_name)
    pdf.setSubject(f"{document_title}（电子证照）" if document_title else DEFAULT_SUBTITLE)
    pdf.setCreator("OneThing 一件事一次办")
    pdf.setKeywords(number)
    stamp = f"D:{issued:%Y%m%d%H%M%S}+08'00'"
    pdf.setDateFormatter(lambda *_: stamp)

    pdf.setLineWidth(1.6)
    pdf.rect(15 * mm, 15 * mm, PAGE_WIDTH - 30 * mm, PAGE_HEIGHT - 30 * mm)
    pdf.setLineWidth(0.5)
    pdf.rect(17 * mm, 17 * mm, PAGE_WIDTH - 34 * mm, PAGE_HEIGHT - 34 * mm)

    text_width = PAGE_WIDTH - 2 * MARGIN
    y = PAGE_HEIGHT - 42 * mm
    for line in _wrap(title, font, 22, text_width):
        _draw_centered(pdf, line, y, font, 22)
        y -= 30
    subtitle = item_name if document_title and document_title != item_name else DEFAULT_SUBTITLE
    for line in _wrap(subtitle, font, 13, text_width):
        _draw_centered(pdf, line, y + 4, font, 13)
        y -= 18
    y += 4
    pdf.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
    y -= 30

    date_text = f"{issued:%Y年%m月%d日}"
    rows = [
        ("证照编号", number),
        ("办件编号", case_number),
        (holder_label, holder_name),
        (holder_id_label, shown_id(holder_id_label, holder_id_number)),
        *result_rows,
        ("办理结论", decision),
        ("发证机关", department_name),
        ("发证日期", date_text),
        ("办理依据", legal_basis),
    ]
    rows = [(label, value) for label, value in rows if value]
    size, label_width, fitted = _fit_rows(rows, font, text_width, y - BOTTOM_BLOCK_TOP)
    pdf.setFont(font, size)
    for label, lines in fitted:
        for index in range(max(len(label), len(lines))):
            if index < len(label):
                pdf.drawString(MARGIN, y, label[index])
            if index < len(lines):
                pdf.drawString(MARGIN + label_width, y, lines[index])
            y -= size * 1.5
        y -= size * 0.6

    qr_bottom = BOTTOM_BLOCK_TOP - 8 * mm - QR_SIZE
    _draw_qr(pdf, verification_url, MARGIN, qr_bottom, QR_SIZE)
    right = PAGE_WIDTH - MARGIN
    issuer_size = 14.0
    issuer_room = text_width - QR_SIZE - 10 * mm
    while pdfmetrics.stringWidth(department_name, font, issuer_size) > issuer_room:
        issuer_size -= 0.5
    name_y = qr_bottom + QR_SIZE - 14 * mm
    date_y = qr_bottom + QR_SIZE - 22 * mm
    pdf.setFont(font, issuer_size)
    pdf.drawRightString(right, name_y, department_name)
    pdf.setFont(font, 12)
    pdf.drawRightString(right, date_y, date_text)
    # The seal over the issuer's name and the date, as a department stamps its documents
    center_x = right - max(SEAL_RADIUS, pdfmetrics.stringWidth(date_text, font, 12) / 2)
    draw_seal(pdf, name=department_name, cx=center_x, cy=(name_y + date_y) / 2, font=font)

    line_y = qr_bottom - 7 * mm
    notice = f"扫码或访问 {verification_url} 验证真伪"
    pdf.setFont(font, 9)
    for line in _wrap(notice, font, 9, text_width):
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
