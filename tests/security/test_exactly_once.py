"""Every application is kept exactly once, whole or not at all: a refused or failed submission
leaves no row and no file, a second application for the same subject is refused with a link to
the first, a retried API request is answered once, and uploads survive a refusal."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from demo.seed import DEMO_PASSWORD
from engine.store import HumanTask, ProcessInstance, TimerJob
from services.cases.models import Case, CaseItem, DraftUpload, Upload
from services.cases.submission import subject_key
from services.registries.models import DataAccess
from services.storage import StoredFile
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS

PDF = ("copy.pdf", b"%PDF-1.4 the applicant's own copy", "application/pdf")
NOT_A_PDF = ("copy.pdf", b"MZ\x90\x00 an executable pretending", "application/pdf")
WALK_IN = "310104199205160353"  # 张伟, the mother's husband: the same newborn


def _count(rt, model) -> int:
    with Session(rt.db) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _nothing_stored(rt) -> None:
    for model in (Case, CaseItem, ProcessInstance, HumanTask, TimerJob, Upload, StoredFile):
        assert _count(rt, model) == 0, model.__name__
    files = rt.settings.upload_dir
    assert not files.exists() or not any(files.iterdir())


def _apply_form(citizen):
    citizen.consent("newborn")
    assert citizen.get("/matters/newborn/apply").status_code == 200


def test_a_refused_upload_leaves_no_case_no_process_and_no_file(browser, rt):
    citizen = browser(MOTHER)
    _apply_form(citizen)
    refused = citizen.post(
        "/matters/newborn/apply",
        data=NEWBORN_ANSWERS,
        files=[("material_marriage_certificate", NOT_A_PDF)],
    )
    assert refused.status_code == 422 and "只接受PDF、JPG或PNG文件" in refused.text
    _nothing_stored(rt)
    # the retry makes one case, not a second one
    retried = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    assert retried.status_code == 303
    assert _count(rt, Case) == 1


def test_a_refused_upload_at_the_front_desk_leaves_nothing(browser, rt):
    desk = browser("center01")
    desk.get("/frontdesk")
    opened = desk.post(
        "/frontdesk",
        data={"id_number": WALK_IN, "matter": "newborn", "consent": "1", "present": "1"},
    )
    form = desk.get(opened.headers["location"])
    assert form.status_code == 200
    refused = desk.post(
        opened.headers["location"],
        data={**NEWBORN_ANSWERS, "household_parent": "father"},
        files=[("material_marriage_certificate", NOT_A_PDF)],
    )
    assert refused.status_code == 422
    _nothing_stored(rt)


def test_a_file_over_the_limit_is_refused_with_its_size_and_nothing_is_kept(browser, rt):
    citizen = browser(MOTHER)
    _apply_form(citizen)
    big = b"%PDF-1.4" + b"0" * (rt.settings.upload_limit_bytes + 10)
    refused = citizen.post(
        "/matters/newborn/apply",
        data=NEWBORN_ANSWERS,
        files=[("material_marriage_certificate", ("big.pdf", big, "application/pdf"))],
    )
    assert refused.status_code in (413, 422)
    _nothing_stored(rt)


def test_a_failure_inside_the_submission_rolls_back_rows_and_files(browser, rt, monkeypatch):
    """The case, its process and its stored file were written when the step failed: all go."""
    from services.cases import submission

    def fail(*_args, **_kwargs):
        raise RuntimeError("the routing step failed")

    monkeypatch.setattr(submission, "apply_changes", fail)
    citizen = browser(MOTHER)
    _apply_form(citizen)
    with pytest.raises(RuntimeError):
        citizen.post(
            "/matters/newborn/apply",
            data=NEWBORN_ANSWERS,
            files=[("material_marriage_certificate", PDF)],
        )
    _nothing_stored(rt)


def test_a_registry_failure_during_the_submission_leaves_nothing(app, rt, monkeypatch):
    """A registry that breaks (not just "unavailable": an error) fails the API submission with
    nothing stored, and the next attempt works."""
    real = rt.registry.person
    calls = {"n": 0}

    def broken(id_number):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("connection reset")
        return real(id_number)

    monkeypatch.setattr(rt.registry, "person", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = client.post(
            "/api/v1/login", json={"username": MOTHER, "password": DEMO_PASSWORD}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        assert client.post("/api/v1/cases", json=body, headers=headers).status_code == 500
        _nothing_stored(rt)
        assert client.post("/api/v1/cases", json=body, headers=headers).status_code == 201
    assert _count(rt, Case) == 1


def test_a_second_application_for_the_same_child_is_refused_with_a_link(browser, rt):
    citizen = browser(MOTHER)
    _apply_form(citizen)
    first = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    case_id = int(first.headers["location"].rsplit("/", 1)[1])
    again = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    assert again.status_code == 409
    assert "请勿重复申请" in again.text and f'href="/cases/{case_id}"' in again.text
    assert _count(rt, Case) == 1


def test_the_other_parent_cannot_apply_for_the_same_child_and_learns_no_case_number(browser, rt):
    mother = browser(MOTHER)
    _apply_form(mother)
    assert mother.post("/matters/newborn/apply", data=NEWBORN_ANSWERS).status_code == 303
    number = _one_case_number(rt)
    desk = browser("center01")  # the husband walks in for the same child
    desk.get("/frontdesk")
    opened = desk.post(
        "/frontdesk",
        data={"id_number": WALK_IN, "matter": "newborn", "consent": "1", "present": "1"},
    )
    desk.get(opened.headers["location"])
    refused = desk.post(opened.headers["location"], data=NEWBORN_ANSWERS)
    assert refused.status_code == 409 and "其他申请人" in refused.text
    assert number not in refused.text
    assert _count(rt, Case) == 1


def _one_case_number(rt) -> str:
    with Session(rt.db) as session:
        return session.exec(select(Case.number)).one()


def test_two_children_and_a_refused_case_may_be_applied_for(rt):
    """Twins have two birth certificates: two subjects. A case whose every item was refused
    gives its subject up."""
    matter = rt.catalog.matters["newborn"]
    one = subject_key(matter, {"child_birth_cert_number": "G310000007"}, MOTHER)
    two = subject_key(matter, {"child_birth_cert_number": "G310000008"}, MOTHER)
    assert one and two and one != two
    assert subject_key(matter, {"child_birth_cert_number": " g310000007 "}, MOTHER) == one
    assert subject_key(matter, {}, MOTHER) is None  # nothing to say what it is about


def test_a_fully_rejected_case_frees_its_subject(app, rt):
    with TestClient(app) as client:
        citizen = _bearer(client, FATHER)
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        first = client.post("/api/v1/cases", json=body, headers=citizen)
        assert first.status_code == 201
        assert client.post("/api/v1/cases", json=body, headers=citizen).status_code == 409
        for item in first.json()["items"]:
            if item["id"] is None or item["status"] != "processing":
                continue
            clerk = _bearer(client, f"{item['department']}01")
            refusal = {"decision": "rejected", "comment": "申请人申请撤回"}
            done = client.post(f"/api/v1/tasks/{item['id']}/complete", json=refusal, headers=clerk)
            assert done.status_code == 200, done.text
        case = client.get(f"/api/v1/cases/{first.json()['id']}", headers=citizen).json()
        if case["outcome"] == "rejected":
            assert client.post("/api/v1/cases", json=body, headers=citizen).status_code == 201
        else:  # an item approved at once (秒批): something was granted, the subject stays
            assert client.post("/api/v1/cases", json=body, headers=citizen).status_code == 409


def test_parallel_submissions_for_one_child_make_one_case(app, rt):
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        headers = _bearer(client, MOTHER)
        answers: list[int] = []

        def submit() -> None:
            answers.append(client.post("/api/v1/cases", json=body, headers=headers).status_code)

        threads = [threading.Thread(target=submit) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(answers) == [201, 409, 409, 409]
    assert _count(rt, Case) == 1 and _count(rt, ProcessInstance) == 1


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_a_retried_submission_with_its_idempotency_key_gets_the_first_answer(app, rt):
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        headers = {**_bearer(client, MOTHER), "Idempotency-Key": "app-7f3a-0001"}
        first = client.post("/api/v1/cases", json=body, headers=headers)
        again = client.post("/api/v1/cases", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        other = client.post(
            "/api/v1/cases", json={**body, "answers": {}}, headers=headers
        )  # the same key for another request
        assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail_en"]
        bad = client.post("/api/v1/cases", json=body, headers={**headers, "Idempotency-Key": "a b"})
        assert bad.status_code == 422
    assert _count(rt, Case) == 1


def test_a_retried_decision_with_its_idempotency_key_is_made_once(app, rt):
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        case = client.post("/api/v1/cases", json=body, headers=_bearer(client, MOTHER)).json()
        police = [i for i in case["items"] if i["department"] == "police"][0]
        clerk = {**_bearer(client, "police01"), "Idempotency-Key": "decide-1"}
        url = f"/api/v1/tasks/{police['id']}/complete"
        first = client.post(url, json={"decision": "approved"}, headers=clerk)
        again = client.post(url, json={"decision": "approved"}, headers=clerk)
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        # without the key, a second decision is refused: it was decided already
        plain = {"Authorization": clerk["Authorization"]}
        assert client.post(url, json={"decision": "approved"}, headers=plain).status_code == 409
    with Session(rt.db) as session:
        row = session.get(CaseItem, police["id"])
        assert row.status == "approved"


def test_a_failed_request_gives_its_key_back(app, rt):
    with TestClient(app) as client:
        headers = {**_bearer(client, MOTHER), "Idempotency-Key": "retry-after-fix"}
        wrong = {"matter": "newborn", "answers": {}, "consent": True}
        assert client.post("/api/v1/cases", json=wrong, headers=headers).status_code == 422
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        headers["Idempotency-Key"] = "retry-after-fix-2"
        assert client.post("/api/v1/cases", json=body, headers=headers).status_code == 201
        # the refused request's key is free again: resending it redoes the check (now a repeat)
        headers["Idempotency-Key"] = "retry-after-fix"
        assert client.post("/api/v1/cases", json=wrong, headers=headers).status_code == 422


def test_a_retried_upload_with_its_key_gets_the_first_token_whatever_its_boundary(app, rt):
    """Each send of a multipart body has a new random boundary: a retry still matches."""
    with TestClient(app) as client:
        headers = {**_bearer(client, MOTHER), "Idempotency-Key": "upload-1"}

        def send(content: bytes = PDF[1]):
            return client.post(
                "/api/v1/uploads",
                data={"matter": "newborn", "material": "marriage_certificate"},
                files={"file": ("m.pdf", content, "application/pdf")},
                headers=headers,
            )

        first, again = send(), send()
        assert first.status_code == again.status_code == 201, first.text
        assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
        assert send(PDF[1] + b" another file").status_code == 422  # the key, for another body
    with Session(rt.db) as session:
        assert len(session.exec(select(DraftUpload)).all()) == 1


def test_the_idempotency_key_is_documented_on_post_operations(app):
    paths = app.openapi()["paths"]
    operation = paths["/api/v1/cases"]["post"]
    assert any(
        p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"]
    )
    # Keys are kept per user: what anyone may call offers none.
    for anyone in ("/api/v1/login", "/api/v1/verify"):
        named = [p["name"] for p in paths[anyone]["post"].get("parameters", [])]
        assert "Idempotency-Key" not in named, anyone


def test_uploads_survive_a_refusal_for_another_field(browser, rt):
    citizen = browser(MOTHER)
    _apply_form(citizen)
    missing = {k: v for k, v in NEWBORN_ANSWERS.items() if k != "household_parent"}
    refused = citizen.post(
        "/matters/newborn/apply",
        data=missing,
        files=[("material_marriage_certificate", PDF)],
    )
    assert refused.status_code == 422
    assert 'id="kept-marriage_certificate"' in refused.text and "copy.pdf" in refused.text
    _nothing_stored(rt)  # kept for its uploader only, not as a case's file
    token = refused.text.split('name="draft_marriage_certificate" value="')[1].split('"')[0]
    done = citizen.post(
        "/matters/newborn/apply",
        data={**NEWBORN_ANSWERS, "draft_marriage_certificate": token},
    )
    assert done.status_code == 303
    with Session(rt.db) as session:
        [upload] = session.exec(select(Upload)).all()
        assert upload.material_code == "marriage_certificate" and upload.filename == "copy.pdf"
        assert session.exec(select(DraftUpload)).all() == []  # used, then gone


def test_a_kept_upload_is_its_uploaders_alone(browser, rt):
    mother = browser(MOTHER)
    _apply_form(mother)
    missing = {k: v for k, v in NEWBORN_ANSWERS.items() if k != "household_parent"}
    refused = mother.post(
        "/matters/newborn/apply", data=missing, files=[("material_marriage_certificate", PDF)]
    )
    token = refused.text.split('name="draft_marriage_certificate" value="')[1].split('"')[0]
    father = browser(FATHER)
    _apply_form(father)
    answers = {**NEWBORN_ANSWERS, "delivery_method": "online"}
    done = father.post(
        "/matters/newborn/apply", data={**answers, "draft_marriage_certificate": token}
    )
    assert done.status_code == 303
    assert _count(rt, Upload) == 0  # another person's token brings nothing


def test_one_application_reads_the_registries_once(browser, rt):
    """The form, shown again after a refresh and after a refusal, and the submission use one
    reading of the registries: its log rows, stamped with the case, and no more."""
    citizen = browser(MOTHER)
    _apply_form(citizen)
    with Session(rt.db) as session:
        first_reading = session.exec(select(func.count()).select_from(DataAccess)).one()
    assert first_reading > 0
    citizen.post("/matters/newborn/apply", data={**NEWBORN_ANSWERS, "refresh": "1"})
    missing = {k: v for k, v in NEWBORN_ANSWERS.items() if k != "household_parent"}
    assert citizen.post("/matters/newborn/apply", data=missing).status_code == 422
    assert citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS).status_code == 303
    with Session(rt.db) as session:
        rows = session.exec(select(DataAccess)).all()
        number = session.exec(select(Case.number)).one()
    assert len(rows) == first_reading
    assert {row.case_number for row in rows} == {number}


def test_old_idempotency_keys_are_pruned(rt, user_of):
    from datetime import timedelta

    from engine.clock import utcnow
    from services import idempotency
    from services.cases.models import IdempotentRequest

    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        old = IdempotentRequest(
            user_id=mother.id, key="old", fingerprint="f", created_at=utcnow() - timedelta(days=2)
        )
        session.add(old)
        session.commit()
        for n in range(idempotency.PRUNE_EVERY):
            idempotency.claim(session, user_id=mother.id, key=f"k{n}", fingerprint="f")
        keys = set(session.exec(select(IdempotentRequest.key)).all())
    assert "old" not in keys and len(keys) == idempotency.PRUNE_EVERY


def test_a_claim_left_by_a_stopped_host_is_taken_over_after_its_lease(rt, user_of):
    """A host killed mid-request leaves its claim unmarked: refused while the lease runs, then
    a retry takes the key over, and the old holder (were it still running) cannot commit."""
    from datetime import timedelta

    from engine.clock import utcnow
    from services import idempotency
    from services.cases.models import IdempotentRequest
    from services.errors import Conflict

    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        first = idempotency.claim(session, user_id=mother.id, key="k", fingerprint="f")
        with pytest.raises(Conflict) as held:  # the lease runs: the first may still answer
            idempotency.claim(session, user_id=mother.id, key="k", fingerprint="f")
        assert held.value.code == "idempotency_key_in_use"
        row = session.get(IdempotentRequest, first)
        row.created_at = utcnow() - idempotency.LEASE - timedelta(seconds=1)
        session.add(row)
        session.commit()
        second = idempotency.claim(session, user_id=mother.id, key="k", fingerprint="f")
        assert isinstance(second, int) and second != first

    # The first holder, had it only been slow, now commits its operation: refused, rolled back
    with Session(rt.db) as late:
        idempotency.mark_applied(late, claim_id=first)
        late.add(IdempotentRequest(user_id=mother.id, key="late", fingerprint="f"))
        with pytest.raises(Conflict):
            late.commit()
    with Session(rt.db) as session:
        rows = session.exec(select(IdempotentRequest.key, IdempotentRequest.id)).all()
    assert sorted(rows) == [("k", second), (f"taken over {first}", first)]


def test_an_applied_claim_is_never_taken_over(rt, user_of):
    from datetime import timedelta

    from engine.clock import utcnow
    from services import idempotency
    from services.cases.models import IdempotentRequest
    from services.errors import Conflict

    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        session.add(
            IdempotentRequest(
                user_id=mother.id,
                key="k",
                fingerprint="f",
                status_code=idempotency.APPLIED,
                created_at=utcnow() - idempotency.LEASE - timedelta(hours=1),
            )
        )
        session.commit()
        with pytest.raises(Conflict) as applied:
            idempotency.claim(session, user_id=mother.id, key="k", fingerprint="f")
    assert applied.value.code == "idempotency_key_applied"
