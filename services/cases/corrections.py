"""Corrections (补正): the applicant sends back exactly what one department reopened; only that
department's item resumes, in one transaction with the process looping back."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.store import HumanTask
from forms.compiler import FormField
from forms.values import InvalidValue, missing_message, parse_value
from services.accounts.models import User
from services.cases import incidents
from services.cases.access import load_case
from services.cases.models import Case, CaseItem
from services.cases.routing import apply_changes, record_event, run_step
from services.cases.submission import refuse_unknown_answers
from services.cases.uploads import (
    CheckedFile,
    UploadedFile,
    check_files,
    discard_drafts,
    store_file,
    with_drafts,
)
from services.errors import Conflict, InvalidInput, NotFound
from services.runtime import Runtime


def submit_correction(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    case_id: int,
    item_id: int,
    answers: dict[str, Any],
    uploads: list[UploadedFile] = (),
    drafts: dict[str, str] | None = None,
) -> CaseItem:
    """The applicant sends back what one department asked to correct: only those facts and
    materials change, and only that department's item resumes (the process loops back).
    `uploads` are the files sent with it, `drafts` (material code -> token) files uploaded
    beforehand (`submission.upload_material`); an answer or a material the department did not
    ask for is refused, naming each."""
    case = load_case(session, case_id=case_id, user=user)
    row = session.get(CaseItem, item_id)
    if case.applicant_user_id != user.id or row is None or row.case_id != case.id:
        raise NotFound("待补正事项不存在", "No such correction request")
    if row.status != "correction":
        raise Conflict("该事项无需补正或已提交补正", "This item awaits no correction")
    request = row.correction or {}
    refuse_unknown_answers(answers, allowed=request.get("facts", []), message=_NOT_ASKED)
    wanted = set(request.get("materials", []))
    sent = {u.material_code for u in uploads if u.content} | set(drafts or {})
    refuse_unknown_answers(
        {f"material_{code}": None for code in sent},
        allowed={f"material_{code}" for code in wanted},
        message=_NOT_ASKED_MATERIAL,
    )
    uploads = with_drafts(
        session,
        owner=user,
        applicant=user,
        matter=case.matter,
        uploads=list(uploads),
        tokens=drafts or {},
        strict=True,
    )
    fields: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {}
    for key in request.get("facts", []):
        fact = rt.catalog.facts[key]
        try:
            value = parse_value(fact, answers.get(key))
        except InvalidValue as exc:
            fields[key] = (f"{fact.label}：{exc.message}", exc.message_en)
            continue
        if value is None:
            fields[key] = missing_message(fact)
        values[key] = value
    files = check_files(rt, [u for u in uploads if u.material_code in wanted and u.content], fields)
    provided = {f.material_code: f for f in files}
    for code in wanted:
        if code not in provided and f"material_{code}" not in fields:
            fields[f"material_{code}"] = ("请上传补正材料", "Please upload the corrected material")
    if fields:
        first = next(iter(fields))
        raise InvalidInput(first, fields[first][0], fields[first][1], fields=fields)

    kept = {u.material_code for u in uploads if u.draft}

    def step() -> CaseItem:
        case, row = session.get(Case, case_id), session.get(CaseItem, item_id)
        _apply_correction(session, rt, user, case, row, values, provided, request)
        if kept:
            discard_drafts(session, owner=user, applicant=user, matter=case.matter, materials=kept)
        return row

    try:
        return run_step(session, step)
    except runner.StepFailed as failure:
        raise incidents.record(
            session,
            failure,
            matter=case.matter,
            step="correction",
            case_id=case_id,
            case_item_id=item_id,
            actor_user_id=user.id,
        ) from failure


_NOT_ASKED = ("部门未要求补正此项", "The department did not ask to correct this")
_NOT_ASKED_MATERIAL = ("部门未要求补正此材料", "The department did not ask for this material")


def _apply_correction(
    session: Session,
    rt: Runtime,
    user: User,
    case: Case,
    row: CaseItem,
    values: dict[str, Any],
    provided: dict[str, CheckedFile],
    request: dict[str, Any],
) -> None:
    for file in provided.values():
        store_file(session, rt, case_id=case.id, file=file)
    data = dict(case.data)
    data.update(values)
    case.data = data
    case.provenance = {k: v for k, v in case.provenance.items() if k not in values}
    instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
    task = session.exec(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id,
            HumanTask.state == "ready",
            HumanTask.kind == "correction",
            HumanTask.item == row.item_code,
        )
    ).first()
    if task is None:
        raise Conflict("该事项无需补正", "This item awaits no correction")
    read = {key: value for key, value in values.items() if key in spec.variables}
    runner.complete(workflow, task.id, {f"decision_{row.item_code}": None, **read})
    changes = store.save_instance(session, spec, instance, workflow)
    now = utcnow()
    item = rt.catalog.items[row.item_code]
    record_event(session, case, user, "corrected", f"提交补正：{item.name}")
    apply_changes(session, rt, case, changes, now)
    still = session.exec(
        select(CaseItem.id).where(
            CaseItem.case_id == case.id, CaseItem.status == "correction", CaseItem.id != row.id
        )
    ).first()
    if case.status == "correction" and still is None:
        case.status = "processing"
    session.add(case)


def correction_form(rt: Runtime, *, case: Case, row: CaseItem) -> tuple[list[FormField], list]:
    """The fields and materials a department reopened, for the applicant's correction form."""
    request = row.correction or {}
    item = rt.catalog.items[row.item_code]
    fields = [
        FormField(
            fact=rt.catalog.facts[key],
            value=case.data.get(key),
            known=None,
            required=True,
            items=[item.name],
            item_codes=[item.code],
        )
        for key in request.get("facts", [])
    ]
    materials = [m for m in item.materials if m.code in request.get("materials", [])]
    return fields, materials
