"""The citizen's and the public side of the JSON API, driven as an integrator would (bearer
tokens, JSON bodies, multipart uploads): the matters and their forms as data, consent, uploads
by token, applications (the three matters that need uploads among them), unknown answer keys
refused, a correction round, certificates in the case and their downloads, the file check,
the data-access log, the inbox, signing out, and 415 for a body of the wrong media type."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import services.evaluations.models  # noqa: F401 - tables exist before `rt` creates the schema
from demo.seed import DEMO_PASSWORD
from forms.values import mask_id
from services.cases import submission
from services.cases.models import Case, CaseItem, DraftUpload, Upload
from services.errors import InvalidInput
from services.registries.models import DataAccess
from tests.forms.test_matters import APPLICATIONS, LOGINS, _sample, common_for
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS

PDF = b"%PDF-1.4\n% a scanned material\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
STORE_OWNER = next(p.id_number for p in LOGINS if p.matter == "convenience_store")


@pytest.fixture
def api(app):
    with TestClient(app) as client:
        yield client


def sign_in(api: TestClient, username: str) -> dict[str, str]:
    response = api.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def upload(
    api: TestClient, headers, matter: str, material: str, content: bytes = PDF, name="a.pdf"
):
    return api.post(
        "/api/v1/uploads",
        data={"matter": matter, "material": material},
        files={"file": (name, content, "application/octet-stream")},
        headers=headers,
    )


def facts_of(form: dict) -> dict[str, dict]:
    return {fact["key"]: fact for section in form["sections"] for fact in section["facts"]}


def reads(rt) -> list[DataAccess]:
    with Session(rt.db) as session:
        return list(
            session.exec(select(DataAccess).where(DataAccess.source_registry != "onething"))
        )


# --- matters and forms as data -------------------------------------------------------------


def test_the_published_matters_are_listed_with_items_and_departments(api):
    listed = {m["code"]: m for m in api.get("/api/v1/matters").json()}  # no sign-in needed
    newborn = listed["newborn"]
    assert newborn["name"] == "新生儿出生一件事" or newborn["name"]
    assert "medical_maternity_allowance" in [item["code"] for item in newborn["items"]]
    departments = [d["code"] for d in newborn["departments"]]
    assert set(departments) == set(NEWBORN_DEPARTMENTS) and len(departments) == len(
        set(departments)
    )
    assert newborn["form_url"] == "/api/v1/matters/newborn/form"


def test_the_form_is_data_and_prefilled_only_after_consent(api, rt):
    mother = sign_in(api, MOTHER)
    form = api.get("/api/v1/matters/newborn/form", headers=mother).json()
    facts = facts_of(form)
    # Before consent: nothing read, nothing prefilled, every fact asked.
    assert not form["prefilled"] and reads(rt) == []
    assert not any(fact["readonly"] or fact["provenance"] for fact in facts.values())
    mother_id = facts["mother_id_number"]
    assert mother_id["type"] == "citizen_id" and mother_id["required"]
    assert mother_id["validation"]["pattern"] == r"^\d{17}[\dXx]$"
    assert "GB 11643" in mother_id["validation"]["checksum"]
    parent = facts["household_parent"]
    assert {o["value"] for o in parent["options"]} >= {"father", "mother"}
    assert all(o["label"] and o["label_en"] for o in parent["options"])
    waiting = {fact["key"]: fact for fact in form["conditional_facts"]}
    card = waiting["bank_card_number"]  # asked for the maternity allowance only
    assert card["validation"]["checksum"].startswith("Luhn")
    assert card["condition"] == "mother_maternity_insurance == True"
    # Conditions as source text: an item's and a fact's requirement.
    items = {item["code"]: item for item in form["items"]}
    allowance = items["medical_maternity_allowance"]
    assert allowance["condition"] == "mother_maternity_insurance == True"
    assert facts["applicant_phone"]["condition"] is None
    address = facts.get("delivery_address") or waiting["delivery_address"]
    assert address["required_if"] == "delivery_method == 'post'"
    # The checklist: every material to upload, with the accepted types and the size limit.
    checklist = {entry["code"]: entry for entry in form["checklist"]}
    assert checklist["marriage_certificate"]["status"] == "upload"
    for entry in form["checklist"]:
        assert entry["accepted_types"] == ["application/pdf", "image/jpeg", "image/png"]
        assert entry["max_bytes"] == rt.settings.upload_limit_bytes
    assert form["upload"]["url"] == "/api/v1/uploads"

    assert api.post("/api/v1/matters/newborn/consent", headers=mother).status_code == 200
    prefilled = api.get("/api/v1/matters/newborn/form", headers=mother).json()
    known = facts_of(prefilled)["mother_name"]
    assert prefilled["prefilled"] and known["readonly"] and known["value"]
    assert known["provenance"]["registry"] == "population"
    assert known["provenance"]["registry_name"] and known["provenance"]["record_id"]
    assert known["provenance"]["retrieved_at"]
    exempt = {e["code"]: e for e in prefilled["checklist"]}["marriage_certificate"]
    assert exempt["status"] == "exempt" and exempt["reason_en"]
    read_once = reads(rt)
    assert read_once and all(r.purpose.startswith("预填") for r in read_once)
    again = api.post(
        "/api/v1/matters/newborn/form",
        json={"answers": {"mother_name": "改掉", "household_parent": "father"}},
        headers=mother,
    ).json()
    assert len(reads(rt)) == len(read_once)  # the registries are read once per application
    assert again["ignored_answers"] == ["mother_name"]  # registry facts are not the applicant's
    assert facts_of(again)["mother_name"]["value"] == known["value"]
    manual = api.get("/api/v1/matters/newborn/form?manual=true", headers=mother).json()
    assert not manual["prefilled"]


def test_one_call_re_evaluates_partial_answers(api):
    father = sign_in(api, FATHER)  # no consent: the mother's insurance is asked
    url = "/api/v1/matters/newborn/form"
    for insured in (False, True):
        form = api.post(
            url, json={"answers": {"mother_maternity_insurance": insured}}, headers=father
        ).json()
        sections = {section["code"]: section for section in form["sections"]}
        applies = {item["code"]: item["applies"] for item in form["items"]}
        assert applies["medical_maternity_allowance"] is insured
        assert ("benefits" in sections) is insured  # the allowance's section, in one call
        if insured:
            keys = [fact["key"] for fact in sections["benefits"]["facts"]]
            assert "bank_card_number" in keys
    owner = sign_in(api, STORE_OWNER)
    url = "/api/v1/matters/convenience_store/form"
    individual = api.post(url, json={"answers": {"business_form": "individual"}}, headers=owner)
    assert individual.status_code == 200, individual.text
    waiting = {f["key"]: f for f in individual.json()["conditional_facts"]}
    assert "registered_capital" not in facts_of(individual.json())
    assert waiting["registered_capital"]["condition"] == "business_form == 'llc'"
    company = api.post(
        url,
        json={"answers": {"business_form": "llc", "employee_count": 3, "wants_bank_account": "是"}},
        headers=owner,
    ).json()
    assert "registered_capital" in facts_of(company)  # its section, in the same answer
    applies = {item["code"]: item["applies"] for item in company["items"]}
    assert applies["hrss_employer_insurance_registration"] and applies["bank_account_opening"]
    assert not applies["market_food_business_licence"]
    # A bad value is named, not a 422: the form is still being filled in.
    typo = api.post(url, json={"answers": {"employee_count": "three"}}, headers=owner).json()
    assert typo["errors"]["employee_count"]["en"]
    # The conditional material appears once its condition holds.
    seller = sign_in(api, next(p.id_number for p in LOGINS if p.role == "seller"))
    url = "/api/v1/matters/real_estate_transfer/form"
    plain = api.post(url, json={"answers": {}}, headers=seller).json()
    waiting = {m["code"]: m for m in plain["conditional_materials"]}
    assert waiting["co_owner_consent"]["condition"] == "property_co_owned == True"
    shared = api.post(url, json={"answers": {"property_co_owned": True}}, headers=seller).json()
    assert "co_owner_consent" in {m["code"] for m in shared["checklist"]}


# --- unknown answer keys ---------------------------------------------------------------------


def test_unknown_answer_keys_are_refused_by_name(api, rt, user_of):
    father = sign_in(api, FATHER)
    answers = {**NEWBORN_ANSWERS, "child_nmae": "张小满", "retirement_type": "statutory"}
    body = {"matter": "newborn", "answers": answers, "consent": True}
    refused = api.post("/api/v1/cases", json=body, headers=father)
    assert refused.status_code == 422
    assert set(refused.json()["fields"]) == {"child_nmae", "retirement_type"}
    form = api.post(
        "/api/v1/matters/newborn/form", json={"answers": {"child_nmae": "x"}}, headers=father
    )
    assert form.status_code == 422 and set(form.json()["fields"]) == {"child_nmae"}
    with Session(rt.db) as session:
        assert session.exec(select(Case)).all() == []
        # The rule is the service's: the page and the API are refused alike.
        with pytest.raises(InvalidInput) as refusal:
            submission.submit_application(
                session,
                rt,
                user=user_of(FATHER),
                matter_code="newborn",
                answers={**NEWBORN_ANSWERS, "csrf_token": "x"},
                consented=True,
            )
    assert set(refusal.value.fields) == {"csrf_token"}
    # A key that is no identifier at all is refused by the schema, without echoing it whole.
    long_key = api.post(
        "/api/v1/cases", json={"matter": "newborn", "answers": {"x" * 300: 1}}, headers=father
    )
    assert long_key.status_code == 422 and "x" * 150 not in long_key.text


# --- uploads and applications ----------------------------------------------------------------


def test_an_upload_is_checked_and_kept_for_its_uploader_only(api, rt):
    mother = sign_in(api, MOTHER)
    kept = upload(api, mother, "newborn", "marriage_certificate", PNG, "scan.png")
    assert kept.status_code == 201, kept.text
    found = kept.json()
    assert found["content_type"] == "image/png" and found["size"] == len(PNG)
    assert found["material"] == "marriage_certificate" and found["filename"] == "scan.png"
    assert found["token"] and found["expires_at"]
    text = upload(api, mother, "newborn", "marriage_certificate", b"just text", "a.pdf")
    assert text.status_code == 422 and "material_marriage_certificate" in text.json()["fields"]
    empty = upload(api, mother, "newborn", "marriage_certificate", b"", "a.pdf")
    assert empty.status_code == 422
    other = upload(api, mother, "newborn", "labor_contract")
    assert other.status_code == 422 and "material" in other.json()["fields"]
    assert upload(api, mother, "no_such_matter", "labor_contract").status_code == 404
    # The token is the uploader's: another applicant naming it is refused.
    father = sign_in(api, FATHER)
    body = {
        "matter": "newborn",
        "answers": NEWBORN_ANSWERS,
        "materials": {"marriage_certificate": found["token"]},
        "consent": True,
    }
    stolen = api.post("/api/v1/cases", json=body, headers=father)
    assert stolen.status_code == 422
    assert "material_marriage_certificate" in stolen.json()["fields"]
    with Session(rt.db) as session:
        assert len(session.exec(select(DraftUpload)).all()) == 1


def test_the_size_limit_is_the_settings_and_a_larger_body_is_413(api, rt):
    rt.settings.upload_limit_bytes = 2048  # before the first request reads the route's limit
    mother = sign_in(api, MOTHER)
    form = api.get("/api/v1/matters/newborn/form", headers=mother).json()
    assert form["upload"]["max_bytes"] == 2048
    over = upload(api, mother, "newborn", "marriage_certificate", PDF + b"x" * 2048)
    assert over.status_code == 422 and "material_marriage_certificate" in over.json()["fields"]
    huge = upload(api, mother, "newborn", "marriage_certificate", PDF + b"x" * 400 * 1024)
    assert huge.status_code == 413 and huge.json()["code"] == "payload_too_large"


def _answers_for(api: TestClient, headers, code: str, role: str) -> tuple[dict, dict]:
    """The demo answers for a matter, completed with samples for every fact the form asks
    (as a person fills it in); and the last form."""
    answers = {
        **common_for(code),
        **next(a for m, r, a, _ in APPLICATIONS if (m, r) == (code, role)),
    }
    form = {}
    for _round in range(3):  # answers may switch on conditional items that ask more
        response = api.post(
            f"/api/v1/matters/{code}/form", json={"answers": answers}, headers=headers
        )
        assert response.status_code == 200, response.text
        form = response.json()
        for key, fact in facts_of(form).items():
            if not fact["readonly"] and key not in answers:
                answers[key] = _sample_of(fact)
    return answers, form


def _sample_of(fact: dict):
    from forms.catalog import default_catalog

    return _sample(default_catalog().facts[fact["key"]])


@pytest.mark.parametrize(
    ("code", "role"),
    [("employment", "graduate"), ("real_estate_transfer", "seller"), ("death", "applicant")],
)
def test_a_matter_needing_uploads_is_submitted_through_the_api(api, rt, code, role):
    person = next(p for p in LOGINS if p.matter == code and p.role == role)
    headers = sign_in(api, person.id_number)
    assert api.post(f"/api/v1/matters/{code}/consent", headers=headers).status_code == 200
    answers, form = _answers_for(api, headers, code, role)
    needed = [entry["code"] for entry in form["checklist"] if entry["status"] == "upload"]
    assert needed, "this matter needs uploads"
    without = api.post("/api/v1/cases", json={"matter": code, "answers": answers}, headers=headers)
    assert without.status_code == 422
    assert {f"material_{c}" for c in needed} <= set(without.json()["fields"])
    tokens = {}
    for material in needed:
        kept = upload(api, headers, code, material)
        assert kept.status_code == 201, kept.text
        tokens[material] = kept.json()["token"]
    body = {"matter": code, "answers": answers, "materials": tokens}  # consent given before
    created = api.post("/api/v1/cases", json=body, headers=headers)
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    with Session(rt.db) as session:
        stored = session.exec(select(Upload).where(Upload.case_id == case_id)).all()
        assert sorted(u.material_code for u in stored) == sorted(needed)
        assert session.exec(select(DraftUpload)).all() == []  # the drafts went with it
    case = api.get(f"/api/v1/cases/{case_id}", headers=headers).json()
    assert sorted(u["material"] for u in case["uploads"]) == sorted(needed)
    first = case["uploads"][0]
    shown = api.get(first["url"], headers=headers)
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/pdf"
    assert shown.content == PDF


# --- the case, corrections and results ----------------------------------------------------------


def _apply_newborn(api: TestClient, applicant: str = MOTHER) -> tuple[dict, int]:
    headers = sign_in(api, applicant)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    response = api.post("/api/v1/cases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return headers, response.json()["id"]


def test_a_correction_round_through_the_api(api, rt, browser):
    mother, case_id = _apply_newborn(api)
    with Session(rt.db) as session:
        police = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    clerk = browser("police01")
    clerk.get(f"/clerk/items/{police.id}")
    sent_back = clerk.post(
        f"/clerk/items/{police.id}/decision",
        data={
            "decision": "correction",
            "comment": "请上传结婚证",
            "reopen": ["material_marriage_certificate"],
        },
    )
    assert sent_back.status_code == 303, sent_back.text[:300]
    case = api.get(f"/api/v1/cases/{case_id}", headers=mother).json()
    item = next(i for i in case["items"] if i["id"] == police.id)
    assert item["status"] == "correction"
    assert item["correction"]["note"] == "请上传结婚证"
    assert [m["code"] for m in item["correction"]["materials"]] == ["marriage_certificate"]
    url = f"/api/v1/cases/{case_id}/items/{police.id}/correction"
    missing = api.post(url, json={}, headers=mother)
    assert (
        missing.status_code == 422 and "material_marriage_certificate" in missing.json()["fields"]
    )
    token = upload(api, mother, "newborn", "marriage_certificate").json()["token"]
    unasked = api.post(
        url,
        json={"answers": {"child_name": "改名"}, "materials": {"marriage_certificate": token}},
        headers=mother,
    )
    assert unasked.status_code == 422 and set(unasked.json()["fields"]) == {"child_name"}
    done = api.post(url, json={"materials": {"marriage_certificate": token}}, headers=mother)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "processing"
    assert api.post(
        url, json={"materials": {"marriage_certificate": token}}, headers=mother
    ).status_code in (409, 422)
    with Session(rt.db) as session:
        [stored] = session.exec(select(Upload).where(Upload.case_id == case_id)).all()
        assert stored.material_code == "marriage_certificate"
        assert session.exec(select(DraftUpload)).all() == []
    history = api.get(f"/api/v1/cases/{case_id}", headers=mother).json()["history"]
    assert "corrected" in [event["kind"] for event in history]


def _approve_everything(api: TestClient) -> None:
    for department in NEWBORN_DEPARTMENTS:
        clerk = sign_in(api, f"{department}01")
        for task in api.get("/api/v1/tasks", headers=clerk).json():
            decided = api.post(
                f"/api/v1/tasks/{task['id']}/complete", json={"decision": "approved"}, headers=clerk
            )
            assert decided.status_code == 200, decided.text


def test_the_case_names_each_certificate_and_its_downloads(api, rt):
    mother, case_id = _apply_newborn(api)
    _approve_everything(api)
    case = api.get(f"/api/v1/cases/{case_id}", headers=mother).json()
    assert case["status"] == "completed" and case["evaluation"]["open"]
    approved = [item for item in case["items"] if item["status"] == "approved"]
    assert len(approved) == 6
    base = rt.settings.public_base_url.rstrip("/")
    for item in approved:
        certificate = item["certificate"]
        assert certificate["number"] == item["result_number"]
        # named by the document it is (出生医学证明, 户口登记结果…), as its file is
        assert certificate["document_type"] == rt.catalog.items[item["item"]].document
        assert certificate["verify_url"] == f"{base}/verify/{certificate['public_id']}"
        assert (
            certificate["download_url"] == f"/api/v1/cases/{case_id}/items/{item['id']}/certificate"
        )
    # What the page shows: the application (numbers masked), its sources, history, delivery.
    application = {fact["key"]: fact for fact in case["application"]}
    assert application["mother_id_number"]["value"] == "310105********028X"
    assert application["mother_name"]["source"]["registry"] == "population"
    assert application["household_parent"]["source"] is None  # typed by the applicant
    assert case["history"][0]["kind"] == "submitted"
    assert not {"claim", "release", "reassign"} & {event["kind"] for event in case["history"]}
    assert case["delivery"]["status"] == "preparing"
    pdf = api.get(approved[0]["certificate"]["download_url"], headers=mother)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    archive = api.get(case["results_url"], headers=mother)
    assert archive.status_code == 200 and archive.headers["content-type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == 6
    # A department's clerk sees the progress only.
    police = api.get(f"/api/v1/cases/{case_id}", headers=sign_in(api, "police01")).json()
    assert police["application"] is None and police["history"] is None
    assert all(item["certificate"] is None for item in police["items"])
    assert api.get(case["results_url"], headers=sign_in(api, FATHER)).status_code == 404


def test_a_certificate_file_is_genuine_altered_or_unknown(api, rt):
    mother, case_id = _apply_newborn(api)
    _approve_everything(api)
    items = api.get(f"/api/v1/cases/{case_id}", headers=mother).json()["items"]
    first, second = [i["certificate"] for i in items if i["certificate"]][:2]
    pdf = api.get(first["download_url"], headers=mother).content

    def check(content: bytes, **fields):
        return api.post(
            "/api/v1/verify", files={"file": ("c.pdf", content, "application/pdf")}, data=fields
        )

    genuine = check(pdf).json()  # anyone, no sign-in, no public id: matched by the file
    assert genuine["verdict"] == "genuine" and genuine["certificate"]["valid"]
    assert genuine["certificate"]["number"] == first["number"]
    with Session(rt.db) as session:  # the first result, the 出生医学证明, is the child's
        certificate_number = session.get(Case, case_id).data["child_birth_cert_number"]
    assert genuine["certificate"]["holder_id_number"] == mask_id(certificate_number)
    assert MOTHER not in str(genuine) and certificate_number not in str(genuine)
    altered = check(pdf.replace(b"YJS", b"YJT", 1)).json()  # matched by the number it carries
    assert altered["verdict"] == "altered" and not altered["certificate"]["valid"]
    assert altered["certificate"]["number"] == first["number"]
    assert check(b"%PDF-1.4\n% somebody else's document\n").json() == {
        "verdict": "unknown",
        "certificate": None,
    }
    named = check(pdf, public_id=second["public_id"]).json()  # the file is not that certificate
    assert named["verdict"] == "altered" and named["certificate"]["number"] == second["number"]
    assert check(pdf, public_id=first["public_id"]).json()["verdict"] == "genuine"
    assert check(pdf, public_id="no-such-certificate").status_code == 404
    by_id = api.get(first["verification_url"]).json()
    assert by_id["valid"] and by_id["verify_url"] == first["verify_url"]


# --- consent, data access, inbox, signing out ----------------------------------------------------


def test_consent_is_asked_and_recorded_over_the_api(api, browser):
    mother = sign_in(api, MOTHER)
    asked = api.get("/api/v1/matters/newborn/consent", headers=mother).json()
    assert not asked["granted"] and asked["hours"] == 24
    registries = {lookup["registry"]: lookup for lookup in asked["lookups"]}
    assert {"population", "birth", "marriage", "medical_insurance"} <= set(registries)
    assert "mother_name" in [fact["key"] for fact in registries["population"]["facts"]]
    page = browser(MOTHER).get("/matters/newborn/apply").text  # the same text as the page
    assert asked["text"]["zh"] in page
    granted = api.post("/api/v1/matters/newborn/consent", headers=mother).json()
    assert granted["granted"] and granted["expires_at"]
    assert api.get("/api/v1/matters/newborn/consent", headers=mother).json()["granted"]
    clerk = sign_in(api, "police01")
    assert api.post("/api/v1/matters/newborn/consent", headers=clerk).status_code == 403


def test_the_consent_flag_of_an_application_still_reads_the_registries(api, rt):
    _mother, case_id = _apply_newborn(api)
    with Session(rt.db) as session:
        logged = session.exec(select(DataAccess).where(DataAccess.case_id == case_id)).all()
    assert logged and all(access.case_number for access in logged)


def test_the_citizen_reads_who_looked_at_their_data(api, browser):
    mother, case_id = _apply_newborn(api)
    accesses = api.get("/api/v1/me/data-access", headers=mother).json()
    assert accesses and {a["registry"] for a in accesses} >= {"population"}
    assert all(a["purpose"] and a["registry_name"] for a in accesses)
    with Session(api.app.state.runtime.db) as session:
        police = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    browser("police01").get(f"/clerk/items/{police.id}")  # a clerk's look is logged
    newest = api.get("/api/v1/me/data-access", headers=mother).json()[0]
    assert newest["registry"] == "onething" and newest["actor"] != "系统"
    assert api.get("/api/v1/me/data-access", headers=sign_in(api, "police01")).status_code == 403


def test_the_inbox_is_read_over_the_api(api):
    mother, _case_id = _apply_newborn(api)
    inbox = api.get("/api/v1/inbox", headers=mother).json()
    assert inbox["unread"] >= 1
    first = inbox["items"][0]
    read = api.post(f"/api/v1/inbox/{first['id']}/read", headers=mother)
    assert read.status_code == 200 and read.json()["read_at"]
    father = sign_in(api, FATHER)
    assert api.post(f"/api/v1/inbox/{first['id']}/read", headers=father).status_code == 404
    everything = api.post("/api/v1/inbox/read-all", headers=mother).json()
    assert everything == {"marked": inbox["unread"] - 1, "unread": 0}


def test_signing_out_ends_the_bearer_session_and_the_cookie_one(api, browser):
    mother = sign_in(api, MOTHER)
    assert api.post("/api/v1/logout", headers=mother).status_code == 204
    assert api.get("/api/v1/inbox", headers=mother).status_code == 401
    citizen = browser(FATHER)
    citizen.get("/inbox")
    refused = citizen.client.post("/api/v1/logout")  # a cookie session needs its CSRF token
    assert refused.status_code == 403
    out = citizen.client.post("/api/v1/logout", headers={"X-CSRF-Token": citizen.csrf})
    assert out.status_code == 204
    assert citizen.client.get("/api/v1/inbox").status_code == 401


# --- 415, OpenAPI, twins -------------------------------------------------------------------------


def test_a_body_of_the_wrong_media_type_is_415(api):
    father = sign_in(api, FATHER)
    text = api.post(
        "/api/v1/cases",
        content=b'{"matter": "newborn"}',
        headers={**father, "Content-Type": "text/plain"},
    )
    assert text.status_code == 415
    assert text.headers["content-type"] == "application/problem+json"
    assert text.json()["code"] == "unsupported_media_type" and text.json()["detail_en"]
    form = api.post("/api/v1/cases", data={"matter": "newborn"}, headers=father)
    assert form.status_code == 415
    json_upload = api.post(
        "/api/v1/uploads", json={"matter": "newborn", "material": "x"}, headers=father
    )
    assert json_upload.status_code == 415
    assert api.post("/api/v1/verify", json={"file": "x"}).status_code == 415
    # JSON by any +json name is JSON; who may not call the route learns no more than before.
    suffixed = api.post(
        "/api/v1/matters/newborn/form",
        content=b'{"answers": {}}',
        headers={**father, "Content-Type": "application/vnd.onething+json; charset=utf-8"},
    )
    assert suffixed.status_code == 200
    anonymous = api.post("/api/v1/cases", content=b"x", headers={"Content-Type": "text/plain"})
    assert anonymous.status_code == 401
    # A route that takes no body ignores one.
    assert (
        api.post(
            "/api/v1/inbox/read-all", content=b"x", headers={**father, "Content-Type": "text/plain"}
        ).status_code
        == 200
    )


def test_the_document_declares_files_and_their_limits(api):
    paths = api.get("/openapi.json").json()["paths"]
    pdf = paths["/api/v1/cases/{case_id}/items/{item_id}/certificate"]["get"]["responses"]["200"]
    assert list(pdf["content"]) == ["application/pdf"]
    archive = paths["/api/v1/cases/{case_id}/results.zip"]["get"]["responses"]["200"]
    assert list(archive["content"]) == ["application/zip"]
    material = paths["/api/v1/uploads/{upload_id}"]["get"]["responses"]["200"]
    assert set(material["content"]) == {"application/pdf", "image/jpeg", "image/png"}
    uploads = paths["/api/v1/uploads"]["post"]
    assert {"201", "413", "415", "422"} <= set(uploads["responses"])
    assert "image/png" in uploads["description"] and "10 MB" in uploads["description"]
    assert "multipart/form-data" in uploads["requestBody"]["content"]
    assert "415" in paths["/api/v1/cases"]["post"]["responses"]
    assert "415" not in paths["/api/v1/inbox/read-all"]["post"]["responses"]
    for path in ("/api/v1/cases", "/api/v1/matters/{code}/form"):
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        name = body["$ref"].rsplit("/", 1)[1]
        schema = api.get("/openapi.json").json()["components"]["schemas"][name]
        assert schema.get("examples"), path


MY_PAGES = ("web.routes.citizen", "web.routes.auth", "web.routes.inbox", "web.routes.verify")


def test_each_of_these_pages_names_api_twins_that_exist(app):
    import importlib

    document = app.openapi()
    operations = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    for module in MY_PAGES:
        for route in importlib.import_module(module).router.routes:
            twins = getattr(route.endpoint, "api_twins", None)
            assert twins, f"{route.path} has no twin"
            assert set(twins) <= operations, (route.path, set(twins) - operations)
