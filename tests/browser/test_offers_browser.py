"""A real browser (Debian chromium via Playwright) through offers (issue 22): a birth recorded by
the hospital offers the newborn matter to both parents; the father confirms it in one step and
the case page appears; the mother's offer then says it was taken up. A statutory retirement
date within 90 days offers the retirement matter. Every offer page passes axe and fits 390 px."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services.accounts.service import create_user
from services.offers.emission import publish
from services.offers.models import Offer
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.browser.test_screens_browser import AXE, MODES, open_as, problems_of

pytestmark = pytest.mark.browser
FATHER = "310104199511020172"  # 张磊: the child born 5 days ago, not named yet
MOTHER = "34012119970214062X"  # 刘洋, the child's mother (an account made for the test)
RETIREE = "310107196607150399"  # 孙国强


def _publish(rt, kind: str, subject: str) -> None:
    with Session(rt.db, expire_on_commit=False) as session:
        assert publish(session, rt, kind=kind, subject=subject).offers


def _mother_signs_up(rt) -> None:
    with Session(rt.db) as session:
        create_user(
            session,
            username=MOTHER,
            display_name="刘洋",
            role="citizen",
            password=DEMO_PASSWORD,
            id_number=MOTHER,
        )
        session.commit()


def _offer_id(rt, id_number: str) -> int:
    with Session(rt.db) as session:
        return session.exec(select(Offer.id).where(Offer.id_number == id_number)).one()


def test_a_birth_offers_both_parents_and_one_confirms_it_in_one_step(chromium, server, rt):  # noqa: F811
    _publish(rt, "birth_recorded", FATHER)
    _mother_signs_up(rt)
    context, father = open_as(chromium, server, FATHER, MODES[1])  # 390 px, Chinese
    assert father.locator("#offers-link [data-offers='1']").count() == 1
    father.click("#offers-link")
    assert not problems_of(father, MODES[1])  # the list: labelled cards on a phone, axe
    row = father.locator("#offers tr[data-matter=newborn]")
    assert row.get_attribute("data-state") == "offered"
    row.locator("a").click()
    father.wait_for_selector("#confirm-form")
    assert father.locator("#offer-items tr[data-status=qualifies]").count() >= 4
    assert father.locator("[data-fact=child_birth_cert_number] dd").count() == 1
    assert not problems_of(father, MODES[1])
    father.fill("#f_child_name", "张小满")
    father.select_option("#f_household_parent", "father")
    father.fill("#f_applicant_phone", "13812345678")
    father.select_option("#f_delivery_method", "online")
    father.click("#confirm")
    father.wait_for_selector("#case-number")  # one step: the new case's page
    assert father.get_attribute("#case-status", "data-status") == "processing"
    father.goto(f"{server}/offers")
    assert father.locator("#offers tr[data-matter=newborn]").get_attribute("data-state") == (
        "confirmed"
    )
    context.close()

    context, mother = open_as(chromium, server, MOTHER, MODES[2])  # English, 390 px
    mother.goto(f"{server}/offers/{_offer_id(rt, MOTHER)}")
    assert mother.get_attribute("#offer-state", "data-state") == "taken_up"
    assert "Another applicant" in mother.inner_text("#offer-taken")
    assert mother.locator("#confirm").count() == 0
    assert not problems_of(mother, MODES[2])
    context.close()


def test_a_retirement_date_offers_the_retirement_matter(chromium, server, rt):  # noqa: F811
    assert AXE.exists(), "run `npm ci`: axe-core is a development dependency"
    _publish(rt, "retirement_due", RETIREE)
    context, page = open_as(chromium, server, RETIREE, MODES[3])  # the elderly mode, 390 px
    page.goto(f"{server}/offers")
    page.locator("#offers tr[data-matter=retirement] a").click()
    page.wait_for_selector("#confirm-form")
    assert page.locator("[data-fact=retirement_date] dd").inner_text() == "2026-12-15"
    assert (
        page.locator("#offer-items tr[data-item=hrss_pension_claim]").get_attribute("data-status")
        == "qualifies"
    )
    assert not problems_of(page, MODES[3])
    page.fill("#decline-reason", "已由单位代办")
    page.click("#decline")
    page.wait_for_selector("#offer-declined")
    context.close()
