"""Every citizen, clerk and front-desk page in a real browser, in every display mode: Chinese
and English, the elderly-friendly mode (长辈版), a desktop and a phone (390 px) screen. On each
page the document is no wider than the screen (no sideways scrolling), and axe-core finds no
serious or critical accessibility violation. The pages are those of a completed newborn case,
a retirement case and a convenience-store case (one waiting, one partly needed), a walk-in
applicant's at the front desk, and the pages around them."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services.cases.models import CaseItem
from services.certificates.models import Certificate
from tests.browser.test_editor_browser import approve_all
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.services.test_case_path import send_back_pension_claim, submit
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, signed_in
from web.app import create_app

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RETIREE = "310107196607150399"  # 孙国强
CONVENIENCE = "310107198008080615"  # 徐海波
WALK_IN = FATHER  # 张磊, accepted at the front desk (another family than the mother's)
SCAN = ("scan.pdf", b"%PDF-1.4 scanned at the window", "application/pdf")
SERIOUS = ("serious", "critical")
NOT_FOUND = "/cases/99999999"  # the error page
SCREENS = ROOT / "docs" / "screens"
# scripts/screens writes these (the case page, a result document, the form; English, elderly)
SCREEN_NAMES = ("case", "case-en", "case-elderly", "case-path", "form", "verify", "result")


@dataclass(frozen=True)
class Mode:
    name: str
    width: int
    cookies: dict[str, str]


MODES = (
    Mode("zh-1280", 1280, {}),
    Mode("zh-390", 390, {}),
    Mode("en-390", 390, {"lang": "en"}),
    Mode("elderly-390", 390, {"elderly": "1"}),
)


def first_row(rt, case_id: int, status: str | None = None) -> CaseItem:
    with Session(rt.db) as session:
        query = select(CaseItem).where(CaseItem.case_id == case_id)
        if status:
            query = query.where(CaseItem.status == status)
        return session.exec(query.order_by(CaseItem.id)).first()


def window_case(rt) -> tuple[str, str]:
    """A walk-in applicant accepted at the front desk: their form's path and the receipt's."""
    opened: list[TestClient] = []
    try:
        desk = signed_in(create_app(rt), "center01", opened)
        desk.get("/frontdesk")
        started = desk.post(
            "/frontdesk",
            data={"id_number": WALK_IN, "matter": "newborn", "consent": "1", "present": "1"},
        )
        form_path = started.headers["location"]
        action = re.search(
            r'<form method="post" enctype="multipart/form-data" action="([^"]+)"',
            desk.get(form_path).text,
        ).group(1)
        accepted = desk.post(
            action,
            data={**NEWBORN_ANSWERS, "household_parent": "father"},
            files=[("material_marriage_certificate", SCAN)],
        )
        assert accepted.status_code == 303, accepted.text[:500]
        return form_path, accepted.headers["location"]
    finally:
        for client in opened:
            client.close()


def issued(rt, case_id: int, item_id: int) -> Certificate:
    """The item's certificate, issued as the applicant's first download issues it."""
    opened: list[TestClient] = []
    try:
        mother = signed_in(create_app(rt), MOTHER, opened)
        assert mother.get(f"/cases/{case_id}/items/{item_id}/result").status_code == 200
    finally:
        for client in opened:
            client.close()
    with Session(rt.db) as session:
        return session.exec(select(Certificate).where(Certificate.case_item_id == item_id)).one()


def pages_to_walk(rt, user_of) -> dict[str | None, list[str]]:
    """Who (a username, None: nobody signed in) opens which pages."""
    form_path, receipt_path = window_case(rt)
    newborn = submit(rt, user_of, "newborn", "mother")
    approve_all(rt, newborn)
    retirement = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    store = submit(rt, user_of, "convenience_store", "applicant")
    finished = first_row(rt, newborn, "approved")  # a clerk's page of a finished item
    certificate = issued(rt, newborn, finished.id)
    pension = first_row(rt, retirement, "processing")
    send_back_pension_claim(rt, user_of, retirement)  # the retiree's page: a correction form
    licence = first_row(rt, store, "processing")
    return {
        None: ["/", "/login", f"/verify/{certificate.public_id}"],
        MOTHER: [
            "/",
            "/cases",
            f"/cases/{newborn}",
            f"/cases/{newborn}/evaluation",
            "/inbox",
            "/my-data-access",
            "/matters/newborn/apply",
            NOT_FOUND,
        ],
        RETIREE: [f"/cases/{retirement}", "/matters/retirement/apply?manual=1"],
        CONVENIENCE: [f"/cases/{store}", "/matters/convenience_store/apply?manual=1"],
        f"{pension.department}01": ["/clerk", f"/clerk/items/{pension.id}", "/inbox"],
        f"{licence.department}01": [f"/clerk/items/{licence.id}"],
        f"{finished.department}01": [f"/clerk/items/{finished.id}"],
        "police-lead": ["/clerk/follow-ups"],
        "center01": ["/frontdesk", form_path, receipt_path, "/clerk/deliveries"],
    }


def open_as(chromium, base: str, username: str | None, mode: Mode):  # noqa: F811
    context = chromium.new_context(
        locale="en-US" if mode.cookies.get("lang") == "en" else "zh-CN",
        viewport={"width": mode.width, "height": 844},
        bypass_csp=True,  # axe-core is injected into the page
    )
    context.add_cookies([{"name": k, "value": v, "url": base} for k, v in mode.cookies.items()])
    page = context.new_page()
    if username:
        page.goto(f"{base}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
    return context, page


def problems_of(page, mode: Mode) -> list[str]:
    """What is wrong with the open page: sideways scrolling, a date broken over two lines,
    serious accessibility faults, the wrong language or mode."""
    found = []
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if sizes[0] > sizes[1]:
        wide = page.evaluate(
            "(w) => [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1)"
            ".slice(0, 3).map(e => e.tagName + (e.id ? '#' + e.id : '')"
            " + (e.className ? '.' + String(e.className).split(' ')[0] : ''))",
            sizes[1],
        )
        found.append(f"{sizes[0]} px wide on a {sizes[1]} px screen: {wide}")
    broken = page.evaluate(
        "() => [...document.querySelectorAll('time')]"
        ".filter(t => t.getClientRects().length > 1).map(t => t.textContent)"
    )
    if broken:
        found.append(f"dates broken over two lines: {broken[:3]}")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    found += [
        f"axe {v['id']} ({v['impact']}): {v['nodes']}" for v in violations if v["impact"] in SERIOUS
    ]
    elderly = page.evaluate("() => document.documentElement.classList.contains('elderly')")
    lang = page.evaluate("() => document.documentElement.lang")
    if elderly != ("elderly" in mode.cookies):
        found.append(f"elderly class is {elderly}")
    if lang != ("en" if mode.cookies.get("lang") == "en" else "zh-CN"):
        found.append(f"<html lang={lang}>")
    return found


def test_every_page_fits_a_phone_and_passes_axe_in_every_mode(chromium, server, rt, user_of):  # noqa: F811
    assert AXE.exists(), "run `npm ci`: axe-core is a development dependency"
    walk = pages_to_walk(rt, user_of)
    failures = []
    for mode in MODES:
        for username, paths in walk.items():
            context, page = open_as(chromium, server, username, mode)
            for path in paths:
                page.goto(f"{server}{path}")
                if username == RETIREE and path.startswith("/cases/"):  # the correction form
                    assert page.locator("form[action$='/correction']").count() == 1
                failures += [
                    f"[{mode.name}] {username or 'anonymous'} {path}: {problem}"
                    for problem in problems_of(page, mode)
                ]
            context.close()
    assert not failures, "\n".join(failures)


def png_size(path: Path) -> tuple[int, int]:
    """A PNG file's width and height, from its header (refusing what is not a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_screens_in_the_docs_are_phone_wide_pictures():
    for name in SCREEN_NAMES:
        width, height = png_size(SCREENS / f"{name}.png")
        assert width == 390 and height > 300, (name, width, height)


def screens(*args: str) -> subprocess.CompletedProcess:
    """Run scripts/screens with `args`."""
    command = [sys.executable, str(ROOT / "scripts" / "screens"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_one_command_draws_the_screens(tmp_path):
    done = screens("--out", str(tmp_path), "--only", "result", "case-path")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case-path.png", "result.png"]
    assert png_size(tmp_path / "result.png")[0] == 390
    assert png_size(tmp_path / "case-path.png")[0] == 390
    wrong = screens("--out", str(tmp_path), "--only", "nothing")
    assert wrong.returncode != 0 and "no such screen" in wrong.stderr
