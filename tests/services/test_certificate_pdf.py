"""The certificate document itself: one A4 page naming the document the item issues, its holder
and the department's result data, every glyph from an embedded TrueType font, the issuing
department's seal drawn from its name, and the same bytes for the same inputs."""

from __future__ import annotations

import hashlib
import io
import math
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from services.certificates import fonts
from services.certificates.pdf import (
    BOTTOM_BLOCK_TOP,
    MARGIN,
    PAGE_WIDTH,
    claimed_numbers,
    render_certificate,
    shown_id,
)
from services.certificates.seal import MAX_ARC, SEAL_RED, draw_seal, name_layout, star_points

PROJECT = Path(__file__).resolve().parents[2]
ISSUED_AT = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
NUMBER = "YJS20261123000001-0003"
DEPARTMENT = "示范市卫生健康委员会"
ADDRESS = "示范市示范区人民路1号3栋2单元501室"


def _render(**changes) -> bytes:
    arguments = dict(
        document_title="出生医学证明",
        item_name="出生医学证明办理",
        number=NUMBER,
        case_number="YJS20261123000001",
        holder_label="新生儿",
        holder_name="张小明",
        holder_id_label="出生医学证明编号",
        holder_id_number="T110234567",
        result_rows=[("出生日期", "2026年11月20日"), ("出生地点", "示范市妇幼保健院")],
        decision="准予办理。",
        department_name=DEPARTMENT,
        issued_at=ISSUED_AT,
        legal_basis="《中华人民共和国母婴保健法》",
        verification_url="https://onething.example.gov.cn/verify/AbCdEfGhIjKlMnOpQrStUv",
    )
    arguments.update(changes)
    return render_certificate(**arguments)


def _lines(pdf: bytes) -> list[str]:
    """The page's text as pypdf extracts it (through the fonts' ToUnicode maps), line by line."""
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _compact(pdf: bytes) -> str:
    return re.sub(r"\s", "", "".join(_lines(pdf)))


def test_a_certificate_is_one_a4_page():
    reader = PdfReader(io.BytesIO(_render()))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_every_glyph_shown_is_from_an_embedded_truetype_font():
    pdf = _render()
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    resources = {
        name.lstrip("/"): font.get_object() for name, font in page["/Resources"]["/Font"].items()
    }
    content = page.get_contents().get_data()
    current, shown = None, set()
    for match in re.finditer(rb"/(\S+) [\d.]+ Tf|\) Tj", content):
        if match.group(1):
            current = match.group(1).decode()
        else:
            shown.add(current)
    assert shown and None not in shown
    for name in shown:
        font = resources[name]
        assert font["/Subtype"] == "/TrueType", font["/BaseFont"]
        assert "/FontFile2" in font["/FontDescriptor"].get_object(), f"{name} not embedded"
        assert "/ToUnicode" in font  # the text stays extractable
    # and no font named that is not embedded (reportlab's default Helvetica, a CID font)
    for font in resources.values():
        assert "/FontFile2" in font["/FontDescriptor"].get_object(), font["/BaseFont"]
    assert b"Helvetica" not in pdf and b"STSong" not in pdf


def test_the_document_names_its_kind_holder_and_result_rows_in_order():
    lines = _lines(_render())
    assert lines[0] == "出生医学证明" and lines[1] == "出生医学证明办理"
    expected = [
        "证照编号：", NUMBER, "办件编号：", "YJS20261123000001",
        "新生儿：", "张小明", "出生医学证明编号：", "T110234567",
        "出生日期：", "2026年11月20日", "出生地点：", "示范市妇幼保健院",
        "办理结论：", "准予办理。", "发证机关：", DEPARTMENT,
        "发证日期：", "2026年11月24日",
    ]  # fmt: skip
    assert lines[2 : 2 + len(expected)] == expected
    assert "持证人：" not in lines and "办理结果通知书（电子证照）" not in lines


def test_without_a_document_of_its_own_the_item_issues_a_result_notice():
    lines = _lines(_render(document_title=""))
    assert lines[:2] == ["出生医学证明办理", "办理结果通知书（电子证照）"]
    named_alike = _lines(_render(document_title="出生医学证明办理"))
    assert named_alike[:2] == ["出生医学证明办理", "办理结果通知书（电子证照）"]


def test_a_citizen_id_is_masked_and_an_enterprise_code_printed_whole():
    citizen = _render(
        holder_label="持证人", holder_id_label="公民身份号码", holder_id_number="110101199003071234"
    )
    assert "110101********1234" in _lines(citizen)
    assert "199003071234" not in _compact(citizen)
    enterprise = _render(
        holder_label="企业名称",
        holder_name="示范市好邻居便利店有限公司",
        holder_id_label="统一社会信用代码",
        holder_id_number="91310105MA1FW8XQ2K",
    )
    assert "91310105MA1FW8XQ2K" in _lines(enterprise)
    assert shown_id("统一社会信用代码", "913101051990030712") == "913101051990030712"
    assert shown_id("公民身份号码", "11010119900307123X") == "110101********123X"


def test_an_empty_holder_code_leaves_its_row_out():
    lines = _lines(_render(holder_id_number=""))
    assert "出生医学证明编号：" not in lines
    assert "新生儿：" in lines


def test_the_seal_is_drawn_in_red_from_the_department_name():
    pdf = _render()
    content = PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data()
    red = " ".join(f"{value:g}".removeprefix("0") for value in SEAL_RED).encode()
    assert red + b" RG" in content and red + b" rg" in content
    compact = _compact(pdf)
    # the issuer row, the issuer line and the seal's arc
    assert compact.count(DEPARTMENT) == 3
    assert compact.count("电子证照专用章") == 1
    other = _compact(_render(department_name="示范市公安局"))
    assert other.count("示范市公安局") == 3 and DEPARTMENT not in other


def test_the_seal_sets_the_name_left_to_right_over_the_top():
    for name in ("示范市公安局", "示范市人力资源和社会保障局", "示范市市场监督管理局示范区分局"):
        size, placed = name_layout(name, 60)
        angles = [angle for _, angle in placed]
        assert "".join(char for char, _ in placed) == name
        assert angles == sorted(angles, reverse=True)  # left (large angle) to right
        assert math.isclose(angles[0] + angles[-1], 180)  # symmetric about the top
        assert angles[0] - angles[-1] <= MAX_ARC
        # neighbours do not overlap: the chord between them is wider than a character
        step = math.radians(angles[0] - angles[1])
        assert 2 * 60 * 0.78 * math.sin(step / 2) >= size
    short, _ = name_layout("公安局", 60)
    long, _ = name_layout("示范市市场监督管理局示范区分局", 60)
    assert long < short


def test_the_star_has_five_points_one_straight_up():
    corners = star_points(0, 0, 10)
    assert len(corners) == 10
    assert corners[0] == pytest.approx((0, 10))
    outer = [math.hypot(x, y) for x, y in corners[::2]]
    inner = [math.hypot(x, y) for x, y in corners[1::2]]
    assert outer == pytest.approx([10] * 5) and inner == pytest.approx([3.8197] * 5, abs=1e-3)


def test_the_seal_draws_on_any_canvas():
    buffer = io.BytesIO()
    pdf = Canvas(buffer, invariant=1)
    draw_seal(pdf, name="示范市公安局", cx=200, cy=200, font=fonts.certificate_font())
    pdf.showPage()
    pdf.save()
    compact = _compact(buffer.getvalue())
    assert "示范市公安局" in compact and "电子证照专用章" in compact


def test_the_same_inputs_give_the_same_bytes():
    assert _render() == _render()
    assert _render() != _render(result_rows=[("出生日期", "2026年11月21日")])


def test_another_process_renders_the_same_bytes():
    """A re-rendered copy compares with the one issued: nothing of the process (the font's
    subset names, object ids, dates) enters the file."""
    script = (
        "import hashlib; from tests.services.test_certificate_pdf import _render; "
        "print(hashlib.sha256(_render()).hexdigest())"
    )
    elsewhere = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True
    )
    assert elsewhere.stdout.strip() == hashlib.sha256(_render()).hexdigest()


def test_long_rows_wrap_within_the_page_above_the_bottom_block():
    rows = [("户口登记地址", ADDRESS * 4), ("备注", "请于三十日内" * 30)]
    pdf = _render(result_rows=rows)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    placed: list[tuple[str, float, float, float]] = []

    def visit(text, cm, tm, font_dict, size):
        if text.strip() and cm == [1, 0, 0, 1, 0, 0]:
            placed.append((text, tm[4], tm[5], size))

    reader.pages[0].extract_text(visitor_text=visit)
    font = fonts.certificate_font()
    address_lines = [p for p in placed if "人民路" in p[0] or "单元" in p[0]]
    assert len(address_lines) > 1  # wrapped
    body = [p for p in placed if p[2] > BOTTOM_BLOCK_TOP - 1]
    assert len(body) >= 20
    for text, x, _, size in body:
        width = pdfmetrics.stringWidth(text.rstrip("\n"), font, size)
        assert x + width <= PAGE_WIDTH - MARGIN + 0.5, text
    lines = _lines(pdf)
    assert "发证日期：" in lines and any(line.startswith("扫码或访问") for line in lines)


def test_rows_that_cannot_fit_are_cut_with_an_ellipsis_on_the_one_page():
    rows = [(f"结果{i}", "很长的结果数据" * 40) for i in range(8)]
    pdf = _render(result_rows=rows)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    compact = _compact(pdf)
    assert "…" in compact
    assert "办理依据" in compact and "扫码或访问" in compact


def test_the_number_stays_discoverable():
    pdf = _render()
    assert claimed_numbers(pdf) == [NUMBER]
    assert PdfReader(io.BytesIO(pdf)).metadata["/Keywords"] == NUMBER


def test_a_missing_or_unusable_font_says_what_to_install(tmp_path, monkeypatch):
    with pytest.raises(fonts.CertificateFontError, match="fonts-wqy-zenhei"):
        fonts.font_file(tmp_path / "none.ttf")
    garbage = tmp_path / "garbage.ttf"
    garbage.write_bytes(b"not a font" * 100)
    problem = fonts.font_problem(garbage)
    assert problem and "cannot be embedded" in problem and "fonts-wqy-zenhei" in problem
    monkeypatch.setattr(fonts, "FONT_FILES", (tmp_path / "absent.ttc",))
    with pytest.raises(fonts.CertificateFontError, match="apt-get install fonts-wqy-zenhei"):
        fonts.font_file()


def test_a_font_without_chinese_glyphs_is_refused():
    latin = next((p for p in LATIN_FONTS if p.is_file()), None)
    if latin is None:
        pytest.skip("no Latin-only TrueType font on this machine")
    problem = fonts.font_problem(latin)
    assert problem and "no glyphs for" in problem


LATIN_FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
]
