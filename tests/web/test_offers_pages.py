"""The offer pages without a browser (issue 22): a confirmation missing an answer shows the
offer again naming it, 修改后办理 opens the ordinary form with the offer's answers, 不需要
declines; another citizen's offer does not exist for them."""

from __future__ import annotations

from sqlmodel import Session, select

from services.offers.emission import publish
from services.offers.models import Offer
from tests.web.conftest import FATHER, MOTHER


def _offer(rt) -> int:
    with Session(rt.db, expire_on_commit=False) as session:
        publish(session, rt, kind="birth_recorded", subject=FATHER)
        return session.exec(select(Offer.id).where(Offer.id_number == FATHER)).one()


def test_a_confirmation_missing_an_answer_shows_the_offer_again_naming_it(rt, browser):
    offer_id = _offer(rt)
    father = browser(FATHER)
    page = father.get(f"/offers/{offer_id}")
    assert 'id="f_child_name"' in page.text and "确认办理" in page.text
    refused = father.post(f"/offers/{offer_id}/confirm", data={"child_name": "张小满"})
    assert refused.status_code == 422
    assert 'id="e_applicant_phone"' in refused.text and 'value="张小满"' in refused.text


def test_edit_opens_the_ordinary_form_with_the_offers_answers(rt, browser):
    offer_id = _offer(rt)
    father = browser(FATHER)
    father.get(f"/offers/{offer_id}")
    edited = father.post(f"/offers/{offer_id}/edit")
    assert edited.status_code == 303
    assert edited.headers["location"] == "/matters/newborn/apply?draft=resume"
    draft = father.client.get("/api/v1/matters/newborn/draft").json()
    assert draft["answers"]["child_birth_date"] == "2026-11-18"


def test_decline_and_the_offer_is_only_its_persons(rt, browser):
    offer_id = _offer(rt)
    assert browser(MOTHER).get(f"/offers/{offer_id}").status_code == 404
    father = browser(FATHER)
    father.get(f"/offers/{offer_id}")
    declined = father.post(f"/offers/{offer_id}/decline", data={"reason": "已在医院办理"})
    assert declined.status_code == 303
    page = father.get(f"/offers/{offer_id}")
    assert 'id="offer-declined"' in page.text and "已在医院办理" in page.text
    assert father.get("/offers?lang=en").text.count("Declined") >= 1
