"""The offers API (issue 22): a department's system posts a signed registry event (refused
unsigned, badly signed or stale; a replay makes no second offer); the citizen lists, reads,
confirms or declines their offers; nobody else sees them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from engine import clock
from engine.clock import utcnow
from services.config import WebhookTarget
from services.departments.webhooks import signature
from services.offers.models import Offer
from tests.api.test_admin_api import sign_in
from tests.conftest import START
from tests.web.conftest import FATHER, MOTHER

SECRET = "health-secret-for-tests"
BIRTH = {
    "event_id": "hospital-2026-000123",
    "kind": "birth_recorded",
    "payload": {
        "cert_number": "G310000014",
        "sex": "M",
        "birth_date": "2026-11-18",
        "birth_place": "上海市黄浦区",
        "hospital": "复旦大学附属妇产科医院",
        "mother_id_number": "34012119970214062X",
        "father_id_number": FATHER,
    },
}
TYPED = {
    "child_name": "张小满",
    "household_parent": "father",
    "applicant_phone": "13812345678",
    "delivery_method": "online",
}


@pytest.fixture
def health(api, rt):
    rt.settings.webhooks = {"health": WebhookTarget(url="http://127.0.0.1:9/hook", secret=SECRET)}
    return sign_in(api, "health-system")


def post_event(api, headers, event=BIRTH, *, secret=SECRET, at=None, signed=None):
    body = json.dumps(event, ensure_ascii=False).encode()
    timestamp = str(int((at or utcnow()).timestamp()))
    sent = {
        **headers,
        "Content-Type": "application/json",
        "X-OneThing-Timestamp": timestamp,
        "X-OneThing-Signature": signed or signature(secret, timestamp, body),
    }
    return api.post("/api/v1/registry-events", content=body, headers=sent)


def test_a_signed_birth_event_offers_both_parents_and_a_replay_offers_nothing(api, rt, health):
    first = post_event(api, health)
    assert first.status_code == 200, first.text
    assert first.json()["offers"] == 2 and not first.json()["duplicate"]
    again = post_event(api, health)
    assert again.status_code == 200 and again.json()["duplicate"] and again.json()["offers"] == 0
    with Session(rt.db) as session:
        assert len(session.exec(select(Offer)).all()) == 2


@pytest.mark.parametrize("how", ["wrong secret", "stale", "unsigned"])
def test_a_badly_signed_or_stale_event_is_refused(api, rt, health, how):
    if how == "wrong secret":
        answer = post_event(api, health, secret="not-the-secret")
    elif how == "stale":
        answer = post_event(api, health, at=START - timedelta(minutes=10))
    else:
        answer = post_event(api, health, signed="sha256=00")
    assert answer.status_code == 401, answer.text
    with Session(rt.db) as session:
        assert session.exec(select(Offer)).all() == []


def test_only_a_department_system_allowed_the_kind_posts_events(api, rt, health):
    rt.settings.webhooks["police"] = WebhookTarget(url="http://127.0.0.1:9/hook", secret=SECRET)
    assert post_event(api, sign_in(api, "police-system")).status_code == 403
    assert post_event(api, sign_in(api, FATHER)).status_code == 403
    assert post_event(api, {}).status_code == 401


def test_an_unknown_kind_is_refused_by_name(api, health):
    answer = post_event(api, health, {**BIRTH, "kind": "moved_house"})
    assert answer.status_code == 422


def test_the_father_confirms_his_offer_into_a_case_and_the_mother_cannot_see_it(api, health):
    post_event(api, health)
    father = sign_in(api, FATHER)
    [offer] = api.get("/api/v1/offers", headers=father).json()
    assert offer["state"] == "offered" and offer["matter"] == "newborn"
    assert {f["key"] for f in offer["ask"]} == set(TYPED)
    other = sign_in(api, MOTHER)  # 王芳: not this child's mother
    assert api.get(f"/api/v1/offers/{offer['id']}", headers=other).status_code == 404
    assert api.get("/api/v1/offers", headers=sign_in(api, "police01")).status_code == 403
    missing = api.post(
        f"/api/v1/offers/{offer['id']}/confirm", json={"answers": {}}, headers=father
    )
    assert missing.status_code == 422 and "applicant_phone" in missing.text
    done = api.post(
        f"/api/v1/offers/{offer['id']}/confirm", json={"answers": TYPED}, headers=father
    )
    assert done.status_code == 201, done.text
    assert done.json()["offer"]["state"] == "confirmed"
    case = api.get(done.json()["case_url"].replace("/cases", "/api/v1/cases"), headers=father)
    assert case.status_code == 200 and case.json()["matter"] == "newborn"
    again = api.post(
        f"/api/v1/offers/{offer['id']}/confirm", json={"answers": TYPED}, headers=father
    )
    assert again.status_code == 201 and again.json()["case_id"] == done.json()["case_id"]


def test_an_expired_offer_is_refused_and_a_declined_one_starts_nothing(api, health):
    post_event(api, health)
    father = sign_in(api, FATHER)
    [offer] = api.get("/api/v1/offers", headers=father).json()
    declined = api.post(
        f"/api/v1/offers/{offer['id']}/decline", json={"reason": "不需要"}, headers=father
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    refused = api.post(f"/api/v1/offers/{offer['id']}/confirm", json={}, headers=father)
    assert refused.status_code == 409 and refused.json()["code"] == "offer_declined"


def test_an_expired_offer_cannot_be_confirmed(api, health):
    post_event(api, health)
    father = sign_in(api, FATHER)
    [offer] = api.get("/api/v1/offers", headers=father).json()
    clock.travel_to(START + timedelta(days=61))
    father = sign_in(api, FATHER)
    assert api.get(f"/api/v1/offers/{offer['id']}", headers=father).json()["state"] == "expired"
    refused = api.post(
        f"/api/v1/offers/{offer['id']}/confirm", json={"answers": TYPED}, headers=father
    )
    assert refused.status_code == 409 and refused.json()["code"] == "offer_expired"
