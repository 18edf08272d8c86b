"""Results: signed certificates verified publicly, tampering detected, one archive, postal delivery."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import quote

from sqlmodel import Session, select

from forms.values import mask_id
from services.cases.models import Case
from services.certificates.models import Certificate
from services.certificates.service import unique_file_names
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS


def _complete_case(browser, applicant=MOTHER, answers=NEWBORN_ANSWERS):
    citizen = browser(applicant)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post("/matters/newborn/apply", data=answers)
    assert response.status_code == 303, response.text[:500]
    case_id = int(response.headers["location"].rsplit("/", 1)[1])
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    return citizen, case_id


def test_certificate_verifies_publicly_and_a_tampered_copy_fails(browser, rt, app):
    citizen, case_id = _complete_case(browser)
    page = citizen.get(f"/cases/{case_id}").text
    link = re.search(r'href="(/cases/\d+/items/(\d+)/result)"', page)
    pdf = citizen.get(link.group(1)).content
    assert citizen.get(link.group(1)).content == pdf  # issued once, the same document every time
    with Session(rt.db) as session:  # (the case page issued every result's certificate)
        certificate = session.exec(
            select(Certificate).where(Certificate.case_item_id == int(link.group(2)))
        ).one()
        case = session.get(Case, case_id)
    # the first result, the 出生医学证明, is the child's: named with its certificate number
    holder = certificate.holder_name, certificate.holder_id_number
    assert holder == (case.data["child_name"], case.data["child_birth_cert_number"])

    from fastapi.testclient import TestClient

    with TestClient(app) as anyone:  # no sign-in: the QR code opens this page
        shown = anyone.get(f"/verify/{certificate.public_id}").text
        assert 'data-valid="true"' in shown and MOTHER not in shown
        original = ("c.pdf", pdf, "application/pdf")
        same = anyone.post(f"/verify/{certificate.public_id}", files={"file": original})
        assert 'data-valid="true"' in same.text and "未被篡改" in same.text
        tampered = pdf.replace(b"YJS", b"YJT", 1)
        altered = ("c.pdf", tampered, "application/pdf")
        refused = anyone.post(f"/verify/{certificate.public_id}", files={"file": altered})
        assert 'data-valid="false"' in refused.text and "可能已被篡改" in refused.text
        api = anyone.get(f"/api/v1/certificates/{certificate.public_id}/verification").json()
        assert api["valid"] and api["holder_id_number"] == mask_id(certificate.holder_id_number)
        assert anyone.get("/verify/no-such-certificate").status_code == 404


def test_all_results_download_as_one_archive(browser):
    citizen, case_id = _complete_case(browser)
    response = citizen.get(f"/cases/{case_id}/results.zip")
    assert response.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert len(names) == 6 and all(name.endswith(".pdf") for name in names)
    assert browser(FATHER).get(f"/cases/{case_id}/results.zip").status_code == 404


def test_downloads_are_named_by_document_in_the_archive_and_the_headers(browser, rt):
    """The citizen tells the results apart by name: each PDF and the archive's members carry
    the document's name and result number (UTF-8 in `filename*`, an ASCII `filename=`)."""
    citizen, case_id = _complete_case(browser)
    archive = citizen.get(f"/cases/{case_id}/results.zip")
    disposition = archive.headers["content-disposition"]
    case_number = re.search(r'filename="(YJS[\w-]+)\.zip"', disposition).group(1)
    assert "filename*=UTF-8''" + quote(f"新生儿出生一件事办理结果-{case_number}.zip") in disposition
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    with Session(rt.db) as session:
        certificates = session.exec(
            select(Certificate).where(Certificate.case_id == case_id).order_by(Certificate.id)
        ).all()
        expected = {
            f"{rt.catalog.items[c.item_code].document}-{c.number}.pdf": c for c in certificates
        }
    assert sorted(names) == sorted(expected) and len(set(names)) == 6
    for document in ("出生医学证明", "户口登记结果", "社会保障卡申领回执", "预防接种证"):
        assert sum(name.startswith(f"{document}-YJS") for name in names) == 1, (document, names)
    for name, certificate in expected.items():
        one = citizen.get(f"/cases/{case_id}/items/{certificate.case_item_id}/result")
        header = one.headers["content-disposition"]
        assert header.startswith("attachment; ")
        assert f'filename="{certificate.item_code}-{certificate.number}.pdf"' in header
        assert f"filename*=UTF-8''{quote(name)}" in header
        header.encode("latin-1")  # a header value HTTP can carry as it is
    api = citizen.client.get(f"/api/v1/cases/{case_id}/results.zip")
    assert api.headers["content-disposition"] == disposition


def test_results_of_one_document_and_number_keep_apart_in_an_archive():
    same = Certificate(item_name="出生医学证明首次签发", item_code="x", number="YJS1-0001")
    other = Certificate(item_name="预防接种证/办理", item_code="y", number="YJS1-0002")
    named = unique_file_names([same, same, other, same], documents={"x": "出生医学证明"})
    assert named == [
        "出生医学证明-YJS1-0001.pdf",
        "出生医学证明-YJS1-0001(2).pdf",
        "预防接种证_办理-YJS1-0002.pdf",  # no document named: the item's name, made safe
        "出生医学证明-YJS1-0001(3).pdf",
    ]


def test_postal_delivery_is_tracked_to_the_citizen(browser):
    citizen, case_id = _complete_case(browser)  # NEWBORN_ANSWERS chose post
    center = browser("center01")
    listing = center.get("/clerk/deliveries").text
    number = re.search(r'data-case="(YJS\d+)"', listing).group(1)
    delivery_id = re.search(r'action="/clerk/deliveries/(\d+)"', listing).group(1)
    bad = center.post(f"/clerk/deliveries/{delivery_id}", data={"status": "shipped"})
    assert bad.status_code == 422
    center.post(
        f"/clerk/deliveries/{delivery_id}",
        data={"status": "shipped", "tracking_number": "SF1234567890"},
    )
    page = citizen.get(f"/cases/{case_id}").text
    assert 'data-status="shipped"' in page and "SF1234567890" in page and number in page
    center.get("/clerk/deliveries?status=shipped")
    center.post(f"/clerk/deliveries/{delivery_id}", data={"status": "delivered"})
    assert 'id="delivery" data-status="delivered"' in citizen.get(f"/cases/{case_id}").text
    assert browser("police01").get("/clerk/deliveries").status_code == 404
