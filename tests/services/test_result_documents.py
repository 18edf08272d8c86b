"""Results with substance: each item's document names its holder (the newborn, not the mother;
the enterprise with its credit code), carries the result data its department recorded on
approving (checked alike in the clerk's form, the JSON API and a department system's call) and
is issued under the department's full name."""

from __future__ import annotations

import io
import random
import re
import shutil
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from examples.department_worker import citizen_id, credit_code, made_up_results
from forms.catalog import CATALOG_DIR, CatalogError, load_catalog
from forms.values import mask_id
from services.cases.decisions import decide
from services.cases.models import Case, CaseItem
from services.cases.result_data import check_result_data
from services.cases.results import certificate_for
from services.certificates.models import Certificate
from services.errors import InvalidInput
from tests.services.test_case_path import item_row, submit
from tests.web.conftest import signed_in
from web.app import create_app

LICENCE_USCC = credit_code(random.Random(19))  # the credit code the market licence assigns


def child_id(rt, case_id: int) -> str:
    """The citizen ID the police assign the case's newborn (its birth date inside)."""
    with Session(rt.db) as session:
        born = session.get(Case, case_id).data["child_birth_date"]
    return citizen_id(date.fromisoformat(born), random.Random(case_id))


def registration(number: str) -> dict[str, str]:
    """The police's result data of a birth registration assigning `number`."""
    return {
        "child_id_number": number,
        "household_number": "310104012345",
        "hukou_address": "示范市中心区和平路12号",
        "hukou_registered_on": "2026-11-25",
    }


def _data_for(rt, case: Case, code: str) -> dict[str, str]:
    """Plausible result data for an item (as the example department system makes up), the
    police's and the market licence's fixed so the documents can be checked for them."""
    if code == "police_birth_registration":
        return registration(child_id(rt, case.id))
    item = rt.catalog.items[code]
    task = {
        "name": item.name,
        "facts": case.data,
        "results": [
            {"key": f.key, "type": f.type, "max_length": f.max_length} for f in item.results
        ],
    }
    made_up = made_up_results(task, random.Random(code), date(2026, 11, 24))
    if code == "market_business_licence":
        made_up["enterprise_uscc"] = LICENCE_USCC
    return made_up


def _approve_all(rt, user_of, case_id: int) -> None:
    """Every item's department approves it with its result data, round after round."""
    for _round in range(6):
        with Session(rt.db) as session:
            case = session.get(Case, case_id)
            rows = session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
            ).all()
        if not rows:
            return
        for row in rows:
            with Session(rt.db) as session:
                decide(
                    session,
                    rt,
                    user=user_of(f"{row.department}01"),
                    item_id=row.id,
                    decision="approved",
                    result_data=_data_for(rt, case, row.item_code),
                )
    raise AssertionError("the case did not finish")


def _documents(rt, case_id: int) -> dict[str, tuple[Certificate, str]]:
    """Each approved item's certificate (issued now) and its PDF's text, by item code."""
    found = {}
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        rows = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "approved")
        ).all()
        for row in rows:
            certificate = certificate_for(session, rt, case=case, item_id=row.id)
            session.refresh(certificate)
            session.expunge(certificate)
            text = PdfReader(io.BytesIO(certificate.pdf)).pages[0].extract_text()
            found[row.item_code] = (certificate, re.sub(r"\s+", "", text))
    return found


def _case_data(rt, case_id: int) -> dict:
    with Session(rt.db) as session:
        return dict(session.get(Case, case_id).data)


def test_newborn_documents_name_the_child_and_the_assigned_citizen_id(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "mother")
    _approve_all(rt, user_of, case_id)
    data = _case_data(rt, case_id)
    child, mother = data["child_name"], data["mother_name"]
    child_number = child_id(rt, case_id)  # as the police assigned it
    documents = _documents(rt, case_id)

    birth, text = documents["health_birth_medical_certificate"]
    assert (birth.holder_name, birth.holder_id_number) == (child, data["child_birth_cert_number"])
    assert "出生医学证明" in text and "新生儿" in text and child in text
    assert birth.issuer_name == "示范市卫生健康委员会" and "示范市卫生健康委员会" in text

    household, text = documents["police_birth_registration"]
    assert (household.holder_name, household.holder_id_number) == (child, child_number)
    assert household.issuer_name == "示范市公安局" and "示范市公安局" in text
    assert "户口登记结果" in text and child in text and mother not in text
    assert mask_id(child_number) in text and child_number not in text  # printed masked
    assert "户号：310104012345" in text and "户口登记地址：示范市中心区和平路12号" in text
    assert "登记日期：2026年11月25日" in text

    # The later documents about the child carry the citizen ID the police assigned.
    card, text = documents["hrss_social_security_card"]
    assert (card.holder_name, card.holder_id_number) == (child, child_number)
    assert "社会保障卡申领回执" in text and "社会保障卡卡号" in text
    # The maternity allowance is the mother's.
    allowance, _text = documents["medical_maternity_allowance"]
    assert allowance.holder_name == mother


def test_retirement_pension_notice_carries_the_pension_granted(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        holder = case.applicant_name, case.applicant_id_number
        [row] = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
        assert row.item_code == "hrss_pension_claim"
        item_id = row.id
        decide(
            session,
            rt,
            user=user_of("hrss01"),
            item_id=item_id,
            decision="approved",
            result_data={"monthly_pension": "3,260.5", "pension_from": "2026-12-01"},
        )
    assert _stored(rt, item_id) == {"monthly_pension": "3260.50", "pension_from": "2026-12-01"}
    notice, text = _documents(rt, case_id)["hrss_pension_claim"]
    assert (notice.holder_name, notice.holder_id_number) == holder
    assert "基本养老金核定通知书" in text and "持证人" in text
    assert "月基本养老金（元）：3,260.50元" in text and "待遇发放起始日期：2026年12月01日" in text
    assert "示范市人力资源和社会保障局" in text


def test_convenience_store_documents_name_the_enterprise_and_its_credit_code(rt, user_of):
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    _approve_all(rt, user_of, case_id)
    enterprise = _case_data(rt, case_id)["enterprise_name"]
    documents = _documents(rt, case_id)
    licence, text = documents["market_business_licence"]
    assert (licence.holder_name, licence.holder_id_number) == (enterprise, LICENCE_USCC)
    assert "营业执照" in text and enterprise in text and "统一社会信用代码" in text
    assert LICENCE_USCC in text  # a credit code is printed whole
    assert licence.issuer_name == "示范市市场监督管理局"
    seal, text = documents["police_seal_engraving"]
    assert (seal.holder_name, seal.holder_id_number) == (enterprise, LICENCE_USCC)
    assert "印章刻制备案回执" in text and "示范市公安局" in text
    taxes, _text = documents["tax_new_taxpayer_registration"]
    assert taxes.issuer_name == "国家税务总局示范市税务局"


def _stored(rt, item_id: int) -> dict | None:
    with Session(rt.db) as session:
        return session.get(CaseItem, item_id).result_data


def test_result_data_is_checked_by_type_and_only_the_items_keys():
    from forms.catalog import default_catalog

    catalog = default_catalog()
    police = catalog.items["police_birth_registration"]
    police_data = registration("31010420261120001X")
    bad_id = {**police_data, "child_id_number": "310104202611200011"}
    with pytest.raises(InvalidInput) as refused:
        check_result_data(police, bad_id)
    assert refused.value.field == "result_child_id_number"
    assert refused.value.message.startswith("公民身份号码：") and "校验位" in refused.value.message
    missing = {k: v for k, v in police_data.items() if k != "household_number"}
    with pytest.raises(InvalidInput, match="Household number"):
        check_result_data(police, missing)
    born = {"child_birth_date": "2026-11-21"}  # the number says the 20th
    with pytest.raises(InvalidInput) as not_born:
        check_result_data(police, police_data, born)
    assert "出生日期（2026-11-20）" in not_born.value.message
    assert check_result_data(police, police_data, {"child_birth_date": "2026-11-20"})
    with pytest.raises(InvalidInput) as unknown:
        check_result_data(police, {**police_data, "blood_type": "A"})
    assert unknown.value.field == "result_blood_type" and "blood_type" in unknown.value.message
    licence = catalog.items["market_business_licence"]
    wrong = {"enterprise_uscc": LICENCE_USCC[:-1] + "0", "established_on": "2026-11-24"}
    if wrong["enterprise_uscc"] == LICENCE_USCC:
        wrong["enterprise_uscc"] = LICENCE_USCC[:-1] + "1"
    with pytest.raises(InvalidInput) as refused:
        check_result_data(licence, wrong)
    assert (
        refused.value.message.startswith("统一社会信用代码：") and "校验位" in refused.value.message
    )
    assert check_result_data(
        licence, {"enterprise_uscc": LICENCE_USCC.lower(), "established_on": "2026-11-24"}
    ) == {
        "enterprise_uscc": LICENCE_USCC,
        "established_on": "2026-11-24",
    }


@pytest.fixture
def police_task(rt, user_of):
    """The police's open birth registration task of a newborn case, and a signed-in clerk."""
    case_id = submit(rt, user_of, "newborn", "mother")
    row = item_row(rt, case_id, "police_birth_registration")
    return case_id, row.id, registration(child_id(rt, case_id))


def _api_headers(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": DEMO_PASSWORD}
    return {"Authorization": f"Bearer {client.post('/api/v1/login', json=body).json()['token']}"}


BAD = [
    ({"child_id_number": "310104202611200011"}, "result_child_id_number", "校验位不正确"),
    ({"blood_type": "A"}, "result_blood_type", "本事项没有“blood_type”这项办理结果"),
    ({"household_number": ""}, "result_household_number", "准予办理时请填写户号"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD, ids=["id", "unknown", "missing"])
def test_the_clerks_form_and_the_api_refuse_bad_result_data_alike(
    rt, police_task, change, field, message
):
    case_id, item_id, police_data = police_task
    data = {**police_data, **change}
    app = create_app(rt)
    opened: list[TestClient] = []
    try:
        clerk = signed_in(app, "police01", opened)
        page = clerk.get(f"/clerk/items/{item_id}")
        assert 'name="result_child_id_number"' in page.text and 'name="results_form"' in page.text
        form = {f"result_{k}": v for k, v in data.items()}
        shown = clerk.post(
            f"/clerk/items/{item_id}/decision",
            data={"decision": "approved", "results_form": "1", **form},
        )
        assert shown.status_code == 422
        error = re.search(r'id="decision-error">([^<]+)<', shown.text).group(1)
        assert message in unescape(error)
        assert f'value="{police_data["hukou_address"]}"' in shown.text  # values kept
        if field != "result_blood_type":
            assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', shown.text, re.S)

        client = opened[0]
        refused = client.post(
            f"/api/v1/tasks/{item_id}/complete",
            json={"decision": "approved", "result_data": data},
            headers=_api_headers(client, "police01"),
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == unescape(error)  # the same message
        assert _stored(rt, item_id) is None
    finally:
        for client in opened:
            client.close()


def test_the_clerk_records_result_data_and_both_sides_see_it(rt, police_task, user_of):
    case_id, item_id, police_data = police_task
    child_number = police_data["child_id_number"]
    app = create_app(rt)
    opened: list[TestClient] = []
    try:
        clerk = signed_in(app, "police01", opened)
        clerk.get(f"/clerk/items/{item_id}")
        form = {f"result_{k}": v for k, v in police_data.items()}
        done = clerk.post(
            f"/clerk/items/{item_id}/decision",
            data={"decision": "approved", "results_form": "1", **form},
        )
        assert done.status_code == 303, done.text[:1500]
        assert _stored(rt, item_id) == police_data
        page = clerk.get(f"/clerk/items/{item_id}").text
        section = page[page.index('id="result-data"') :]
        assert "户号" in section and "310104012345" in section
        assert mask_id(child_number) in section and child_number not in page
        with TestClient(app) as api:
            task = api.get(f"/api/v1/tasks/{item_id}", headers=_api_headers(api, "police01")).json()
        assert [r["key"] for r in task["results"]] == list(police_data)
        assert {r["key"]: r["value"] for r in task["result_data"]}["child_id_number"] == mask_id(
            child_number
        )
        with Session(rt.db) as session:
            applicant = session.get(Case, case_id).applicant_id_number
        citizen = signed_in(app, applicant, opened)
        case_page = citizen.get(f"/cases/{case_id}").text
        row = case_page[case_page.index('data-item="police_birth_registration"') :]
        row = row[: row.index("</tr>")]
        assert "户口登记地址" in row and "示范市中心区和平路12号" in row
        assert mask_id(child_number) in row and child_number not in case_page
        with TestClient(app) as api:  # the case as JSON names the document and its data
            items = api.get(
                f"/api/v1/cases/{case_id}", headers=_api_headers(api, applicant)
            ).json()["items"]
        [police] = [i for i in items if i["item"] == "police_birth_registration"]
        assert police["certificate"]["document_type"] == "户口登记结果"
        recorded = {r["key"]: r["value"] for r in police["certificate"]["result_data"]}
        assert recorded["household_number"] == "310104012345"
        assert recorded["child_id_number"] == mask_id(child_number)
        assert recorded["hukou_registered_on"] == "2026年11月25日"
    finally:
        for client in opened:
            client.close()


def test_an_approval_through_the_api_without_result_data_records_none(rt, police_task):
    _case_id, item_id, _data = police_task
    with TestClient(create_app(rt)) as client:
        done = client.post(
            f"/api/v1/tasks/{item_id}/complete",
            json={"decision": "approved"},
            headers=_api_headers(client, "police01"),
        )
    assert done.status_code == 200 and _stored(rt, item_id) is None


def test_a_holder_naming_an_unknown_fact_is_a_catalog_error_naming_the_item(tmp_path: Path):
    copy = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, copy)
    police = copy / "items" / "police.toml"
    police.write_text(
        police.read_text().replace(
            'name = "child_name", id = ["child_id_number"',
            'name = "baby_name", id = ["child_id_number"',
            1,
        )
    )
    with pytest.raises(CatalogError) as failed:
        load_catalog(copy)
    assert any(
        "police_birth_registration" in p and "'baby_name'" in p for p in failed.value.problems
    )
