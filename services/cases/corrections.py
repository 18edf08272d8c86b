"""Corrections (补正): the applicant sends back exactly what one department reopened; only that
department's item resumes, in one transaction with the process looping back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.store import HumanTask
from forms.catalog import Fact, Item, Material
from forms.compiler import FormField
from forms.sources import registry_name
from forms.values import InvalidValue, mask_id, missing_message, parse_value
from services.accounts.models import User
from services.calendar import CHINA
from services.cases import incidents
from services.cases.access import MASKED_TYPES, load_case
from services.cases.burden_measured import record_correction
from services.cases.models import Case, CaseItem, Upload
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
    note: str = "",
) -> CaseItem:
    """The applicant sends back what one department asked to correct: only those facts and
    materials change, and only that department's item resumes (the process loops back).
    `uploads` are the files sent with it, `drafts` (material code -> token) files uploaded
    beforehand (`submission.upload_material`); an answer or a material the department did not
    ask for is refused, naming each. `note` is the applicant's word to the clerk (optional).

    What changed is recorded with the item (`CaseItem.correction["answered"]`: each fact's old
    and new value, each new file) for the clerk's 已补正 notice; the case's checklist shows the
    materials as uploaded in the correction, and each corrected fact's source is the correction."""
    note = " ".join((note or "").split())
    if len(note) > NOTE_LIMIT:
        raise InvalidInput(
            "correction_note", "补正说明不能超过500字", "The note may have at most 500 characters"
        )
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
        _apply_correction(session, rt, user, case, row, values, provided, request, note)
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


NOTE_LIMIT = 500
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
    note: str,
) -> None:
    now = utcnow()
    item = rt.catalog.items[row.item_code]
    stored = [store_file(session, rt, case_id=case.id, file=file) for file in provided.values()]
    session.flush()  # the checklist and the clerk's notice name the new files by id
    changed = [
        {"key": key, "old": case.data.get(key), "new": value} for key, value in values.items()
    ]
    data = dict(case.data)
    data.update(values)
    case.data = data
    case.provenance = corrected_provenance(case.provenance, values, item=item.code, at=now)
    case.checklist = corrected_checklist(rt, case.checklist, stored, at=now)
    row.correction = {
        **request,
        "answered": {
            "at": now.isoformat(),
            "note": note,
            "facts": changed,
            "materials": [
                {
                    "code": upload.material_code,
                    "upload_id": upload.id,
                    "filename": upload.filename,
                }
                for upload in stored
            ],
        },
    }
    session.add(row)
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
    record_event(session, case, user, "corrected", _corrected_message(rt, item, values, stored))
    record_correction(session, case_id=case.id, fields=len(values), materials=len(stored))
    apply_changes(session, rt, case, changes, now)
    still = session.exec(
        select(CaseItem.id).where(
            CaseItem.case_id == case.id, CaseItem.status == "correction", CaseItem.id != row.id
        )
    ).first()
    if case.status == "correction" and still is None:
        case.status = "processing"
    session.add(case)


def _corrected_message(rt: Runtime, item: Item, values: dict[str, Any], stored: list) -> str:
    """The history's line: which facts and materials changed, never their values (every
    department's clerk of the case reads the history)."""
    parts = []
    if values:
        parts.append("修改：" + "、".join(rt.catalog.facts[key].label for key in values))
    names = {m.code: m.name for m in item.materials}
    if stored:
        files = "、".join(names.get(u.material_code, u.material_code) for u in stored)
        parts.append("重新上传：" + files)
    detail = f"（{'；'.join(parts)}）" if parts else ""
    return f"提交补正：{item.name}{detail}"


CORRECTION_SOURCE = "correction"  # a provenance entry's `source`: typed in a correction


def corrected_provenance(
    provenance: dict[str, Any], values: dict[str, Any], *, item: str, at: datetime
) -> dict[str, Any]:
    """The case's provenance after a correction: each corrected fact's registry record (if it
    had one) is replaced by the correction it was typed in."""
    found = {key: entry for key, entry in provenance.items() if key not in values}
    for key in values:
        found[key] = {"source": CORRECTION_SOURCE, "item": item, "corrected_at": at.isoformat()}
    return found


def registry_record(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A provenance entry if it names a registry record (None: typed, or typed in a correction)."""
    return entry if entry and entry.get("registry") else None


def corrected_at(entry: dict[str, Any] | None) -> datetime | None:
    """When a fact was typed in a correction (None: it was not)."""
    if not entry or entry.get("source") != CORRECTION_SOURCE:
        return None
    return datetime.fromisoformat(entry["corrected_at"])


def corrected_checklist(
    rt: Runtime, checklist: list[dict[str, Any]], stored: list[Upload], *, at: datetime
) -> list[dict[str, Any]]:
    """The case's checklist after a correction: each material sent in it is uploaded by the
    applicant in the correction (at what time, which file), whatever it said before (fetched
    from a registry, say)."""
    entries = [dict(entry) for entry in checklist]
    when = local_time(at)
    for upload in stored:
        entry = next((e for e in entries if e.get("code") == upload.material_code), None)
        if entry is None:  # a material of the item the checklist had left out (its condition)
            material = _material(rt, upload.material_code)
            entry = {"code": upload.material_code, "name": material.name if material else ""}
            entries.append(entry)
        entry.update(
            status="upload",
            reason=f"申请人补正时上传（{when}）",
            reason_en=f"Uploaded by the applicant in the correction ({when})",
            corrected_at=at.isoformat(),
            upload_id=upload.id,
            filename=upload.filename,
        )
    return entries


def readable_entry(rt: Runtime, entry: dict[str, Any]) -> dict[str, Any]:
    """A checklist entry with its English: as stored, or for entries stored before the English
    was kept, the catalog material's name and the reason its status gives."""
    if entry.get("name_en") and entry.get("reason_en"):
        return entry
    material = _material(rt, str(entry.get("code", "")))
    source = registry_name(material.source, "en") if material and material.source else ""
    if entry.get("status") == "exempt":
        reason_en = f"Fetched from the {source or 'registry'}: nothing to bring"
    elif source:
        reason_en = f"Not found in the {source}: please upload it"
    else:
        reason_en = "No registry holds this material: please upload it"
    return {
        **entry,
        "name_en": entry.get("name_en") or (material.name_en if material else entry.get("name")),
        "reason_en": entry.get("reason_en") or reason_en,
    }


def _material(rt: Runtime, code: str) -> Material | None:
    for item in rt.catalog.items.values():
        for material in item.materials:
            if material.code == code:
                return material
    return None


def local_time(at: datetime) -> str:
    """A stored UTC time as the pages show it, in China Standard Time (minutes)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


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


@dataclass(frozen=True)
class FactChange:
    """A fact the applicant corrected, its old and new values as the clerk's page shows them
    (personal numbers masked unless revealed for a logged reason)."""

    key: str
    label: str
    label_en: str
    old: str
    old_en: str
    new: str
    new_en: str
    masked: bool
    unchanged: bool = False  # reopened, and sent back with the same value


@dataclass(frozen=True)
class MaterialChange:
    """A material the applicant uploaded again in the correction."""

    code: str
    name: str
    name_en: str
    upload_id: int
    filename: str


@dataclass(frozen=True)
class AnsweredCorrection:
    """What the applicant changed in answer to a department's correction request (已补正)."""

    at: datetime
    asked: str  # the department's note when it sent the item back
    note: str  # the applicant's note, if any
    facts: list[FactChange]
    materials: list[MaterialChange]


def answered_correction(
    rt: Runtime, row: CaseItem, *, reveal: str | None = None
) -> AnsweredCorrection | None:
    """What changed in the correction the item resumed from, while it waits for the clerk's
    decision again (None otherwise: deciding ends the marker; the history keeps the step)."""
    answered = (row.correction or {}).get("answered")
    if row.status != "processing" or not answered:
        return None
    item = rt.catalog.items.get(row.item_code)
    materials = {m.code: m for m in item.materials} if item else {}
    facts = []
    for change in answered.get("facts", []):
        fact = rt.catalog.facts.get(change["key"])
        if fact is None:
            continue
        masked = fact.type in MASKED_TYPES and fact.key != reveal
        old, old_en = shown_value(fact, change.get("old"), masked=masked)
        new, new_en = shown_value(fact, change.get("new"), masked=masked)
        same = change.get("old") == change.get("new")
        facts.append(
            FactChange(fact.key, fact.label, fact.label_en, old, old_en, new, new_en, masked, same)
        )
    files = []
    for sent in answered.get("materials", []):
        material = materials.get(sent["code"])
        files.append(
            MaterialChange(
                code=sent["code"],
                name=material.name if material else sent["code"],
                name_en=material.name_en if material else sent["code"],
                upload_id=sent["upload_id"],
                filename=sent["filename"],
            )
        )
    return AnsweredCorrection(
        at=datetime.fromisoformat(answered["at"]),
        asked=(row.correction or {}).get("note", ""),
        note=answered.get("note", ""),
        facts=facts,
        materials=files,
    )


def shown_value(fact: Fact, value: Any, *, masked: bool) -> tuple[str, str]:
    """A fact's value as pages print it, in Chinese and English: an option's label, 是/否, a
    personal number masked; an empty value as such."""
    if value is None or value == "":
        return "（空）", "(empty)"
    if fact.type == "bool":
        return ("是", "Yes") if value else ("否", "No")
    if fact.type == "enum":
        option = next((o for o in fact.options if o.value == value), None)
        return (option.label, option.label_en) if option else (str(value), str(value))
    text = mask_id(str(value)) if masked else str(value)
    return text, text
