"""Degraded mode: when a registry cannot answer, the form asks the citizen instead of failing."""

from __future__ import annotations

from sqlmodel import Session, select

from services.cases.models import Case, CaseEvent
from services.registries.records import RegistryUnavailable
from tests.web.conftest import FATHER, NEWBORN_ANSWERS


class MarriageRegistryDown:
    """The demo registry, except that the marriage registry does not answer."""

    def __init__(self, registry):
        self._registry = registry

    def marriage_of(self, id_number):
        raise RegistryUnavailable("marriage", reason="unreachable", detail="test outage")

    def __getattr__(self, name):
        return getattr(self._registry, name)


def test_unavailable_registry_turns_its_facts_into_questions_and_uploads(browser, rt):
    rt.registry = MarriageRegistryDown(rt.registry)
    citizen = browser(FATHER)
    citizen.consent("newborn")
    page = citizen.get("/matters/newborn/apply").text
    assert "婚姻登记库（民政）暂时无法访问，请手动填写相关信息" in page
    assert 'name="marriage_cert_number"' in page  # asked, no longer prefilled
    assert 'name="material_marriage_certificate"' in page  # and the certificate is uploaded
    assert 'data-fact="father_name"' in page  # other registries still prefill
    answers = {**NEWBORN_ANSWERS, "child_name": "张一鸣", "marriage_cert_number": "J310104-2020-1"}
    pdf = ("marriage.pdf", b"%PDF-1.4 test", "application/pdf")
    response = citizen.post(
        "/matters/newborn/apply", data=answers, files=[("material_marriage_certificate", pdf)]
    )
    assert response.status_code == 303, response.text[:1000]
    with Session(rt.db) as session:
        case = session.exec(select(Case)).one()
        kinds = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == case.id)).all()
    assert "marriage_cert_number" not in case.provenance  # typed, not verified
    assert "degraded" in kinds
