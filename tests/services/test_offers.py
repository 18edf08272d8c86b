"""Registry events start offers (issue 22): a birth offers the newborn matter to both parents,
one confirms it into a case in one step, replays make no second offer, offers expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from forms.catalog import CatalogError, build_catalog, read_departments, read_document
from services.accounts.service import create_user
from services.cases.burden_measured import CaseBurden
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.notifications.models import Notification
from services.offers import service as offers
from services.offers.emission import publish
from services.offers.models import Offer, OfferLog, RegistryEvent
from services.registries.models import Consent, DataAccess
from tests.conftest import START

FATHER = "310104199511020172"  # 张磊: his child was born 5 days ago, not named yet
MOTHER_NO_ACCOUNT = "34012119970214062X"  # 刘洋, the child's mother
RETIREE = "310107196607150399"  # 孙国强
TYPED = {
    "child_name": "张小满",
    "household_parent": "father",
    "applicant_phone": "13812345678",
    "delivery_method": "online",
}


def _session(rt) -> Session:
    """A session whose objects keep their values after a commit (as a request's does)."""
    return Session(rt.db, expire_on_commit=False)


def _birth(rt):
    with _session(rt) as session:
        return publish(session, rt, kind="birth_recorded", subject=FATHER)


def _offer_of(rt, id_number: str, matter: str = "newborn") -> Offer:
    with _session(rt) as session:
        return session.exec(
            select(Offer).where(Offer.id_number == id_number, Offer.matter == matter)
        ).one()


def test_a_birth_offers_the_newborn_matter_to_both_parents(rt, user_of):
    received = _birth(rt)
    assert not received.duplicate
    offered_to = {(o.id_number, o.role) for o in received.offers}
    assert offered_to == {(FATHER, "father"), (MOTHER_NO_ACCOUNT, "mother")}
    father = _offer_of(rt, FATHER)
    assert father.answers["child_birth_cert_number"] == received.event.subject_id
    assert "child_name" not in father.answers  # not named yet: asked
    states = {item["code"]: item["status"] for item in father.items}
    assert states["police_birth_registration"] == "qualifies"
    assert states["medical_maternity_allowance"] == "to_check"  # a registry fact decides
    with _session(rt) as session:
        inbox = session.exec(
            select(Notification).where(Notification.user_id == user_of(FATHER).id)
        ).all()
        assert [n.kind for n in inbox] == ["offered"]
        # nothing was read from a registry for a person, nothing consented
        assert session.exec(select(Consent)).all() == []


def test_a_replayed_event_makes_no_second_offer(rt):
    _birth(rt)
    again = _birth(rt)
    assert again.duplicate and again.offers == []
    with _session(rt) as session:
        assert len(session.exec(select(Offer)).all()) == 2
        assert len(session.exec(select(RegistryEvent)).all()) == 1
        actions = [row.action for row in session.exec(select(OfferLog)).all()]
    assert actions.count("event_received") == 1 and "event_replayed" in actions


def test_the_same_birth_from_another_source_makes_no_second_offer(rt):
    first = _birth(rt)
    with _session(rt) as session:
        other = offers.receive_event(
            session,
            rt,
            source="health",
            event_id="hospital-0001",
            kind="birth_recorded",
            payload=first.event.payload,
        )
    assert not other.duplicate and other.offers == []


def test_an_event_id_reused_for_another_event_is_refused(rt):
    first = _birth(rt)
    payload = {**first.event.payload, "cert_number": "G399999999"}
    with _session(rt) as session, pytest.raises(Conflict):
        offers.receive_event(
            session,
            rt,
            source="embedded",
            event_id=first.event.event_id,
            kind="birth_recorded",
            payload=payload,
        )


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("moved_house", {}, "kind"),
        ("birth_recorded", {"cert_number": "G1", "birth_date": "2026-11-20"}, "mother_id_number"),
        (
            "birth_recorded",
            {"cert_number": "G1", "birth_date": "2026-11-20", "mother_id_number": "123"},
            "mother_id_number",
        ),
        ("retirement_due", {"id_number": RETIREE, "retirement_date": "soon"}, "retirement_date"),
        ("retirement_due", {"id_number": RETIREE, "retirement_date": "2026-12-15", "x": 1}, "x"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(rt, kind, payload, field):
    with _session(rt) as session, pytest.raises(InvalidInput) as refused:
        offers.receive_event(
            session, rt, source="embedded", event_id="e-1", kind=kind, payload=payload
        )
    assert refused.value.field == field


def test_one_parent_confirms_in_one_step_and_the_other_sees_it_taken_up(rt, user_of):
    _birth(rt)
    father = user_of(FATHER)
    offer_id = _offer_of(rt, FATHER).id
    with _session(rt) as session:
        view = offers.view_offer(session, rt, user=father, offer_id=offer_id)
        assert view.state == "offered"
        assert {f.key for f in view.ask} == set(TYPED)
        case = offers.confirm_offer(session, rt, user=father, offer_id=offer_id, answers=TYPED)
        case_id = case.id
        assert case.matter == "newborn" and case.applicant_user_id == father.id
    with _session(rt) as session:
        assert offers.case_ids_from_offers(session) == {case_id}
        assert session.get(Offer, offer_id).status == "confirmed"
        # committed with the case, in its transaction: counted as started from an offer
        assert session.get(CaseBurden, case_id).started_from_offer is True
        # confirming again is the same case, not a second one
        again = offers.confirm_offer(session, rt, user=father, offer_id=offer_id, answers=TYPED)
        assert again.id == case_id
        assert session.exec(select(Consent)).first().user_id == father.id
    # the mother signs up later: her offer waited for her, and says it was taken up
    with _session(rt) as session:
        create_user(
            session,
            username=MOTHER_NO_ACCOUNT,
            display_name="刘洋",
            role="citizen",
            password=DEMO_PASSWORD,
            id_number=MOTHER_NO_ACCOUNT,
        )
        session.commit()
    mother = user_of(MOTHER_NO_ACCOUNT)
    mother_offer = _offer_of(rt, MOTHER_NO_ACCOUNT).id
    with _session(rt) as session:
        [listed] = offers.list_offers(session, rt, user=mother)
        assert listed.state == "taken_up"
        with pytest.raises(Conflict) as refused:
            offers.confirm_offer(session, rt, user=mother, offer_id=mother_offer, answers={})
        assert refused.value.code == "offer_taken_up"


def test_a_confirmation_missing_an_answer_starts_nothing(rt, user_of):
    _birth(rt)
    father = user_of(FATHER)
    offer_id = _offer_of(rt, FATHER).id
    with _session(rt) as session, pytest.raises(InvalidInput) as refused:
        offers.confirm_offer(
            session, rt, user=father, offer_id=offer_id, answers={"child_name": "张小满"}
        )
    assert "applicant_phone" in refused.value.fields
    with _session(rt) as session:
        assert session.get(Offer, offer_id).status == "offered"
        assert offers.case_ids_from_offers(session) == set()
        # the registries were read under the consent the confirmation gave: both are kept
        assert session.exec(select(Consent)).one().user_id == father.id
        assert session.exec(select(DataAccess)).first() is not None


def test_an_expired_offer_cannot_be_confirmed(rt, user_of):
    _birth(rt)
    father = user_of(FATHER)
    offer_id = _offer_of(rt, FATHER).id
    clock.travel_to(START + timedelta(days=61))
    with _session(rt) as session:
        assert offers.view_offer(session, rt, user=father, offer_id=offer_id).state == "expired"
        with pytest.raises(Conflict) as refused:
            offers.confirm_offer(session, rt, user=father, offer_id=offer_id, answers=TYPED)
        assert refused.value.code == "offer_expired"
        assert offers.expire_offers(session) == 1  # the mother's; the father's marked already
        session.commit()
        assert {o.status for o in session.exec(select(Offer)).all()} == {"expired"}


def test_only_the_offers_person_sees_or_acts_on_it(rt, user_of):
    _birth(rt)
    offer_id = _offer_of(rt, FATHER).id
    with _session(rt) as session:
        with pytest.raises(NotFound):
            offers.view_offer(session, rt, user=user_of("31010519940908028X"), offer_id=offer_id)
        with pytest.raises(Forbidden):
            offers.view_offer(session, rt, user=user_of("police01"), offer_id=offer_id)
        with pytest.raises(NotFound):
            offers.decline_offer(session, user=user_of("31010519940908028X"), offer_id=offer_id)


def test_a_declined_offer_starts_nothing_and_is_logged(rt, user_of):
    _birth(rt)
    father = user_of(FATHER)
    offer_id = _offer_of(rt, FATHER).id
    with _session(rt) as session:
        offers.decline_offer(session, user=father, offer_id=offer_id, reason="已在医院办理")
        with pytest.raises(Conflict) as refused:
            offers.confirm_offer(session, rt, user=father, offer_id=offer_id, answers=TYPED)
        assert refused.value.code == "offer_declined"
        logged = [r.action for r in session.exec(select(OfferLog)).all()]
    assert "declined" in logged and "refused" in logged
    with _session(rt) as session:
        assert offers.case_ids_from_offers(session) == set()


def test_a_retirement_date_offers_the_retirement_matter(rt, user_of):
    with _session(rt) as session:
        received = publish(session, rt, kind="retirement_due", subject=RETIREE)
    [offer] = received.offers
    assert (offer.matter, offer.id_number, offer.role) == ("retirement", RETIREE, "person")
    assert offer.answers == {"retirement_date": "2026-12-15", "retirement_type": "statutory"}
    states = {item["code"]: item["status"] for item in offer.items}
    assert states["hrss_pension_claim"] == "qualifies"


def test_a_death_offers_the_death_matter_to_the_next_of_kin(rt):
    with _session(rt) as session:
        received = publish(session, rt, kind="death_recorded", subject="310106194802110274")
    kin = {(o.matter, o.id_number) for o in received.offers}
    assert ("death", "310106197506190541") in kin  # 杨晓红, his daughter
    offer = next(o for o in received.offers if o.id_number == "310106197506190541")
    assert offer.answers["applicant_relation_to_deceased"] == "child"


def test_an_unpublished_matter_records_the_event_and_offers_nothing(rt):
    from services.configuration.matters import MatterSetting

    with _session(rt) as session:
        session.add(MatterSetting(matter="newborn", published=False, conditions={}))
        session.commit()
        received = publish(session, rt, kind="birth_recorded", subject=FATHER)
    assert received.offers == [] and received.event.id is not None


@pytest.mark.parametrize(
    ("offer", "message"),
    [
        ({"event": "moved_house"}, "unknown event"),
        ({"event": "birth_recorded", "to": "owner"}, "cannot be offered to"),
        ({"event": "birth_recorded", "expires_days": 0}, "expires_days"),
    ],
)
def test_the_catalog_refuses_a_bad_offer_declaration(offer, message):
    document = read_document()
    document["matters"]["newborn"]["offer"] = [offer]
    with pytest.raises(CatalogError) as refused:
        build_catalog(document, read_departments())
    assert message in str(refused.value)


def test_the_daily_maintenance_marks_offers_past_their_expiry(rt):
    from services.maintenance.retention import purge

    _birth(rt)
    clock.travel_to(START + timedelta(days=61))
    report = purge(rt.db, rt.files, days=365)
    assert report.counts["offers expired"] == 2
    with _session(rt) as session:
        logged = [r.action for r in session.exec(select(OfferLog)).all()]
    assert logged.count("expired") == 2


def test_onething_registry_event_publishes_the_embedded_registrys_event(rt, monkeypatch, capsys):
    from web.cli import main

    monkeypatch.setattr("services.runtime.build_runtime", lambda: rt)
    assert main(["registry-event", "birth_recorded", FATHER]) == 0
    assert "2 offer(s)" in capsys.readouterr().out
    assert main(["registry-event", "birth_recorded", FATHER]) == 0
    assert "no new offer" in capsys.readouterr().out
    assert main(["registry-event", "retirement_due", FATHER]) == 2  # not within 90 days
