"""Consent, preview and audit: lookups run only when authorized, and every access is visible."""

from __future__ import annotations

from sqlmodel import Session, select

from services.cases.models import Case, Upload
from services.registries.models import DataAccess
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS

PDF = ("copy.pdf", b"%PDF-1.4 own copy", "application/pdf")


def test_consent_is_asked_before_any_lookup(browser, rt):
    citizen = browser(MOTHER)
    page = citizen.get("/matters/newborn/apply").text
    assert 'id="consent"' in page and 'id="manual"' in page
    for registry in ("population", "birth", "marriage", "medical_insurance", "certificates"):
        assert f'data-registry="{registry}"' in page
    with Session(rt.db) as session:
        assert session.exec(select(DataAccess)).all() == []  # nothing read before consent
    citizen.post("/matters/newborn/consent")
    form = citizen.get("/matters/newborn/apply").text
    assert 'data-fact="mother_name"' in form
    with Session(rt.db) as session:
        reads = session.exec(select(DataAccess)).all()
    assert reads and all(r.purpose.startswith("预填") and r.case_id is None for r in reads)


def test_refusing_consent_means_typing_and_uploading_with_no_lookups(browser, rt):
    citizen = browser(FATHER)
    form = citizen.get("/matters/newborn/apply?manual=1").text
    assert 'name="manual" value="1"' in form
    assert 'name="mother_name"' in form and 'data-fact="mother_name"' not in form
    assert 'name="material_marriage_certificate"' in form
    response = citizen.post("/matters/newborn/apply", data={**NEWBORN_ANSWERS, "manual": "1"})
    assert response.status_code == 422 and "请上传：结婚证" in response.text
    with Session(rt.db) as session:
        assert session.exec(select(DataAccess)).all() == []
        assert session.exec(select(Case)).all() == []


def test_applicant_may_upload_their_own_copy_of_fetched_evidence(browser, rt):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post(
        "/matters/newborn/apply",
        data=NEWBORN_ANSWERS,
        files=[("material_marriage_certificate", PDF)],
    )
    assert response.status_code == 303
    with Session(rt.db) as session:
        [upload] = session.exec(select(Upload)).all()
    assert upload.material_code == "marriage_certificate" and upload.filename == "copy.pdf"


def test_citizen_sees_lookups_and_clerk_views_admin_sees_everyone(browser, rt):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    assert citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS).status_code == 303
    police = browser("police01")
    task = police.client.get("/api/v1/tasks").json()[0]
    assert police.get(f"/clerk/items/{task['id']}").status_code == 200
    tracker = citizen.get("/my-data-access").text
    assert "人口库（公安户籍）" in tracker and "预填《新生儿出生一件事》申请表" in tracker
    assert "公安局窗口审核办件" in tracker  # the clerk who opened the case, by name
    # The father's records were read for the mother's case: they are logged under his number.
    with Session(rt.db) as session:
        father_reads = session.exec(
            select(DataAccess).where(DataAccess.subject_id_number == "310104199205160353")
        ).all()
    assert any(read.purpose.startswith("预填") and read.case_id for read in father_reads)
    admin = browser("admin").get("/admin/data-access?registry=onething")
    assert admin.status_code == 200 and "公安局窗口审核办件" in admin.text
    assert "310105********028X" in admin.text and MOTHER not in admin.text
    assert browser("police01").get("/admin/data-access").status_code == 403
