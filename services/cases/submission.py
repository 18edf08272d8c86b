"""Submission: the combined form for an applicant (prefilled with their consent), and its
submission as one case whose process routes the items.

An application is kept exactly once, whole or not at all. Everything that can refuse it (the
answers, every file, the matter's one-case-per-subject rule) is checked before anything is
written; what is written (case, process instance, tasks, timer jobs, files, history) is one
transaction, and any failure rolls all of it back, files included.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.specs import ProcessSpec
from forms.catalog import Fact, Matter
from forms.compiler import CompiledForm, Known, compile_form, lookups_of, process_data
from services.accounts.models import User
from services.calendar import local_date
from services.cases import incidents
from services.cases.access import require_citizen
from services.cases.burden_measured import record_submission
from services.cases.models import ApplicationDraft, Case, DraftUpload
from services.cases.path import SUBMITTED_SPEC
from services.cases.progress import SUBMITTED_ITEMS
from services.cases.routing import (
    apply_changes,
    finish_case,
    record_event,
    routing_summary,
)
from services.cases.uploads import (
    UploadedFile,
    check_files,
    discard_drafts,
    keep_draft,
    store_file,
    with_drafts,
)
from services.configuration.matters import offered
from services.errors import Conflict, InvalidInput, NotFound
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.observability import current_traceparent
from services.registries.models import Consent
from services.registries.prefill import Lookup
from services.registries.service import (
    CONSENT_HOURS,
    attach_reads_to_case,
    current_consent,
    grant_consent,
    log_reads,
    prefill_for_application,
)
from services.runtime import Runtime

__all__ = [
    "UploadedFile",
    "authorize_lookups",
    "consent_request",
    "prepare_form",
    "submit_application",
    "upload_material",
]
# Unknown answer keys named in one refusal, and the characters of each name kept
UNKNOWN_NAMED = 20
KEY_SHOWN = 64


def _offered(session: Session, rt: Runtime, code: str) -> tuple[Matter, ProcessSpec]:
    """The published matter as applications see it now (its configuration and the items of its
    newest process version), with that process version."""
    matter, spec = offered(session, rt, code)
    if not matter.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    return matter, spec


def answerable_facts(rt: Runtime, matter: Matter) -> set[str]:
    """The facts an application for `matter` may answer: every fact any of its items may ask,
    conditional ones included (whether asked depends on the other answers)."""
    return {key for item in rt.catalog.items_of(matter) for key in item.fact_keys}


def refuse_unknown_answers(
    answers: Mapping[str, Any], *, allowed: Collection[str], message: tuple[str, str]
) -> None:
    """InvalidInput naming each answer key not in `allowed` (at most UNKNOWN_NAMED of them, each
    name cut to KEY_SHOWN characters): an answer nobody asked for is a client's mistake (a
    misspelt key, the wrong matter), never silently dropped."""
    unknown = [key for key in answers if key not in allowed]
    if not unknown:
        return
    fields = {str(key)[:KEY_SHOWN]: message for key in unknown[:UNKNOWN_NAMED]}
    raise InvalidInput(
        next(iter(fields)),
        f"提交了{len(unknown)}项此处不需要的内容，请检查标出的项目",
        f"{len(unknown)} of the keys sent are not asked for here: see each field",
        fields=fields,
    )


_NOT_A_FACT = ("不是本事项表单中的数据项", "Not a fact of this matter's form")


def lookups_consented(session: Session, *, user: User, matter_code: str, manual: bool) -> bool:
    """Whether the applicant's form is prefilled: they authorized the matter's lookups (and did
    not choose, this time, to fill in everything themselves)."""
    return not manual and current_consent(session, user_id=user.id, matter=matter_code) is not None


# What the applicant reads before authorizing a matter's lookups (the consent page, the API)
CONSENT_TEXT = (
    "为减少您填写和提交的材料，本次办理需要从以下政府共享数据库查询您（及家庭成员）的信息。"
    "查询结果会先展示给您核对，之后才用于办理；每一次查询都会记录，您可以在“谁查看了我的数据”中查看。",
    "To spare you typing and paper, this matter looks up your (and your family's) records in the "
    "government registries below. You see what was found before it is used; every lookup is "
    "logged, and you can see each one under 'Who looked at my data'.",
)


@dataclass(frozen=True)
class ConsentRequest:
    """What the applicant is asked to authorize for a matter, and their authorization if any."""

    matter: Matter
    lookups: dict[str, list[Fact]]  # registry code -> the facts it would supply
    consent: Consent | None
    hours: int = CONSENT_HOURS
    text: tuple[str, str] = CONSENT_TEXT


def consent_request(
    session: Session, rt: Runtime, *, user: User, matter_code: str
) -> ConsentRequest:
    """The registries the matter would read for the applicant, each with the facts it would
    supply (what the consent page shows), and the applicant's current authorization."""
    matter, _ = _offered(session, rt, matter_code)
    require_citizen(user)
    return ConsentRequest(
        matter=matter,
        lookups=lookups_of(rt.catalog, matter),
        consent=current_consent(session, user_id=user.id, matter=matter.code),
    )


def authorize_lookups(session: Session, rt: Runtime, *, user: User, matter_code: str) -> Consent:
    """The applicant authorizes the matter's lookups (for CONSENT_HOURS). Commits."""
    matter, _ = _offered(session, rt, matter_code)
    require_citizen(user)
    registries = list(lookups_of(rt.catalog, matter))
    consent = grant_consent(session, user_id=user.id, matter=matter.code, registries=registries)
    session.commit()
    return consent


def upload_material(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    material_code: str,
    filename: str,
    content: bytes,
    actor: User | None = None,
) -> DraftUpload:
    """Keep a file for a material of an application (or a correction) of `matter_code` not yet
    sent: checked (types by content, size), kept for its uploader (`actor`, or the applicant)
    for `uploads.DRAFT_HOURS`; a submission names it by its token. Commits."""
    matter, _ = _offered(session, rt, matter_code)
    require_citizen(user)
    materials = {m.code for item in rt.catalog.items_of(matter) for m in item.materials}
    if material_code not in materials:
        raise InvalidInput("material", "本事项没有这项材料", "This matter has no such material")
    return keep_draft(
        session,
        rt,
        owner=actor or user,
        applicant=user,
        matter=matter.code,
        upload=UploadedFile(material_code, filename, content),
    )


def prepare_form(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any] | None = None,
    consented: bool = False,
    actor: User | None = None,
    basis: str | None = None,
) -> CompiledForm:
    """The combined form for the applicant, prefilled from the registries if the applicant
    authorized the lookups; otherwise everything is asked. With `answers` (so far), the form
    they make: conditional items, facts and materials, and the answers' format errors; a key
    that is not a fact of the matter is refused. The registries are read once per application
    (every record read is logged, with `actor`: a front-desk clerk filling the form with a
    walk-in applicant); the form shown again uses what was read."""
    matter, _ = _offered(session, rt, matter_code)
    if answers:
        refuse_unknown_answers(answers, allowed=answerable_facts(rt, matter), message=_NOT_A_FACT)
    lookup = _lookup(session, rt, user, matter, consented, actor, basis=basis)
    session.commit()
    form = compile_form(rt.catalog, matter, lookup.facts, answers)
    form.notices = [(e.message, e.message_en) for e in lookup.unavailable.values()]
    return form


def _lookup(
    session: Session,
    rt: Runtime,
    user: User,
    matter: Matter,
    consented: bool,
    actor: User | None,
    *,
    keep: bool = True,
    reuse: bool = True,
    basis: str | None = None,
) -> Lookup:
    """Registry facts for the applicant's application, only with their authorization (`basis`:
    an agent's authorization to act for them, services/agency, named in the log's purpose)."""
    applicant_id = require_citizen(user)
    if not consented:
        return Lookup(rt.registry, applicant_id)
    return prefill_for_application(
        session,
        registry=rt.registry,
        applicant_user_id=user.id,
        applicant_id_number=applicant_id,
        matter=matter.code,
        subjects=matter.subjects,
        actor_user_id=(actor or user).id,
        purpose=f"预填《{matter.name}》申请表" + (f"（{basis}）" if basis else ""),
        keep=keep,
        reuse=reuse,
    )


def submit_application(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any],
    uploads: list[UploadedFile] = (),
    channel: str = "online",
    consented: bool = False,
    actor: User | None = None,
    record_consent: bool = False,
    drafts: dict[str, str] | None = None,
    basis: str | None = None,
    then: Callable[[Session, Case], None] | None = None,
) -> Case:
    """Validate the combined form, start the case's process and route its items, in one commit.

    Registry facts come from the server's own reading for this application (never from the
    browser), and the reads are stamped with the new case. An answer whose key is not a fact of
    the matter is refused; answers for registry facts are ignored. `uploads` are the files sent
    with it, `drafts` (material code -> token) files uploaded beforehand (`upload_material`; an
    unknown token is refused). With `record_consent`, the applicant's consent to the lookups is
    recorded with the submission (an API client gives it there). With `basis`, `actor` is an
    agent acting for the applicant under that authorization (services/agency). `then` adds the
    caller's own rows about the new case (an agent's link, an offer taken up) to the same
    transaction, before its commit. Refused (InvalidInput, Conflict) or failed for any reason,
    nothing is left behind."""
    try:
        return _submit(
            session,
            rt,
            user=user,
            matter_code=matter_code,
            answers=answers,
            uploads=list(uploads),
            channel=channel,
            consented=consented,
            actor=actor,
            record_consent=record_consent,
            drafts=drafts or {},
            basis=basis,
            then=then,
        )
    except BaseException:
        session.rollback()  # rows and files of the attempt, together
        raise


def _submit(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any],
    uploads: list[UploadedFile],
    channel: str,
    consented: bool,
    actor: User | None,
    record_consent: bool,
    drafts: dict[str, str],
    basis: str | None = None,
    then: Callable[[Session, Case], None] | None = None,
) -> Case:
    matter, spec = _offered(session, rt, matter_code)
    applicant_id = require_citizen(user)
    refuse_unknown_answers(answers, allowed=answerable_facts(rt, matter), message=_NOT_A_FACT)
    if drafts:
        uploads = with_drafts(
            session,
            owner=actor or user,
            applicant=user,
            matter=matter.code,
            uploads=uploads,
            tokens=drafts,
            strict=True,
        )
    if consented and record_consent:
        registries = list(lookups_of(rt.catalog, matter))
        grant_consent(session, user_id=user.id, matter=matter.code, registries=registries)
    # A form shown before has the registries' facts for this application; an API client that
    # consents with its submission has none, and its reads are logged with the case.
    lookup = _lookup(
        session,
        rt,
        user,
        matter,
        consented,
        actor,
        keep=False,
        reuse=not record_consent,
        basis=basis,
    )
    form = compile_form(rt.catalog, matter, lookup.facts, answers, validate=True)
    fields = {e.key: (e.message, e.message_en) for e in form.errors}
    # Any material of the checklist may be uploaded: one the registries supply too, when the
    # applicant prefers their own copy to the fetched evidence. Every file is checked first.
    needed = {entry.code for entry in form.checklist}
    files = check_files(rt, [u for u in uploads if u.material_code in needed and u.content], fields)
    provided = {f.material_code for f in files}
    for entry in form.uploads:
        if entry.code not in provided and f"material_{entry.code}" not in fields:
            fields[f"material_{entry.code}"] = (
                f"请上传：{entry.name}",
                f"Please upload: {entry.name_en}",
            )
    reader = (actor or user).id
    if fields:  # refused: no case; registry reads made now are logged all the same
        log_reads(
            session, lookup, actor_user_id=reader, purpose=_checked(matter, basis), case_id=None
        )
        session.commit()
        first = next(iter(fields))
        raise InvalidInput(first, fields[first][0], fields[first][1], fields=fields)
    data = dict(form.values)
    # The registry facts the matter's rules read without the form asking them (an item's
    # condition, the process's gateways and decision tables): kept with their source, so that
    # the case can say why an item applies or not (services/cases/explanations.py).
    for key in rule_facts(rt, matter, spec):
        known = lookup.facts.get(key)
        if key not in data and known is not None and known.value is not None:
            data[key] = known.value
    subject = subject_key(matter, data, applicant_id)
    if subject is not None:
        _refuse_repeat(session, matter, subject, user)
    try:
        workflow = runner.start(spec, spec.inputs(process_data(rt.catalog, form, lookup.facts)))
    except runner.StepFailed as failure:
        session.rollback()
        raise incidents.record(
            session,
            failure,
            matter=matter.code,
            step="submission",
            actor_user_id=(actor or user).id,
        ) from failure
    instance, changes = store.create_instance(session, spec, workflow, matter.bpmn)
    now = utcnow()
    case = Case(
        matter=matter.code,
        applicant_user_id=user.id,
        applicant_id_number=applicant_id,
        applicant_name=data.get("applicant_name") or user.display_name,
        channel=channel,
        instance_id=instance.id,
        subject_key=subject,
        traceparent=current_traceparent(),  # the trace that follows the case (observability)
        created_at=now,
        data=data,
        provenance=_provenance(lookup.facts, data),
        checklist=[
            {
                "code": e.code,
                "name": e.name,
                "name_en": e.name_en,
                "status": e.status,
                "reason": e.reason,
                "reason_en": e.reason_en,
            }
            for e in form.checklist
        ],
    )
    session.add(case)
    try:
        session.flush()
    except IntegrityError:  # the same subject, submitted by a parallel request just now
        session.rollback()
        if subject is not None:
            _refuse_repeat(session, matter, subject, user)
        raise
    case.number = f"YJS{local_date(now):%Y%m%d}{case.id:06d}"
    attach_reads_to_case(session, lookup=lookup, case_id=case.id, case_number=case.number)
    log_reads(
        session,
        lookup,
        actor_user_id=reader,
        purpose=_checked(matter, basis),
        case_id=case.id,
        case_number=case.number,
    )
    for file in files:
        store_file(session, rt, case_id=case.id, file=file)
    # The burden measured in use (services/cases/burden_measured.py): one INSERT, no read.
    record_submission(session, case=case, form=form, uploaded=provided)
    if any(upload.draft for upload in uploads):
        discard_drafts(session, owner=actor or user, applicant=user, matter=matter.code)
    # The applicant's saved draft of this application (services/cases/drafts.py) is done with.
    session.execute(_DELETE_DRAFT, {"user_id": user.id, "matter": matter.code})
    if actor is None:
        message = f"提交《{matter.name}》一表申请，办件编号{case.number}"
    elif basis:  # an agent for the applicant (services/agency)
        message = (
            f"{actor.display_name}代办《{matter.name}》一表申请（{basis}），办件编号{case.number}"
        )
    else:
        message = (
            f"综合窗口受理《{matter.name}》一表申请（{actor.display_name}），办件编号{case.number}"
        )
    record_event(session, case, actor or user, "submitted", message, tell=False)
    for error in lookup.unavailable.values():
        record_event(
            session, case, None, "degraded", f"{error.message}（相关信息由申请人填写或上传）"
        )
    items = apply_changes(session, rt, case, changes, now, new_case=True)
    # One message for the submission, naming what went where (not one per item).
    on_case_event(
        session,
        case=case,
        kind="submitted",
        message=message,
        details=routing_summary(rt, items),
        sender=default_sender(),
    )
    if runner.is_completed(workflow):
        finish_case(session, case)
    if then is not None:
        then(session, case)
    session.commit()
    # The caller's view of the new case needs its items: these are all of them (the session
    # keeps their values after the commit), which spares a transaction to read them back.
    session.info[SUBMITTED_ITEMS] = (case.id, items)
    session.info[SUBMITTED_SPEC] = (case.id, spec)
    return case


def _checked(matter: Matter, basis: str | None = None) -> str:
    return f"受理《{matter.name}》核验申请信息" + (f"（{basis}）" if basis else "")


def subject_key(matter: Matter, data: dict[str, Any], applicant_id: str) -> str | None:
    """The digest of what the application is about (the matter's subject-key facts), or None
    when the matter names none or a fact of it is empty. A digest: the key's facts are
    personal numbers, kept in the case's data already."""
    if not matter.subject_key:
        return None
    parts = []
    for key in matter.subject_key:
        value = data.get(key)
        if key == "applicant_id_number" and not value:
            value = applicant_id
        text = str(value).strip().upper() if value is not None else ""
        if not text:
            return None
        parts.append(text)
    return hashlib.sha256("\x1f".join([matter.code, *parts]).encode()).hexdigest()


# Built once: every submission runs them (building a statement and its cache key costs more
# than running it).
_DELETE_DRAFT = delete(ApplicationDraft).where(
    col(ApplicationDraft.user_id) == bindparam("user_id"),
    col(ApplicationDraft.matter) == bindparam("matter"),
)
_OPEN_FOR_SUBJECT = (
    select(Case.id, Case.number, Case.applicant_user_id)
    .where(Case.matter == bindparam("matter"), col(Case.subject_key) == bindparam("subject"))
    .limit(1)
)


def _refuse_repeat(session: Session, matter: Matter, subject: str, user: User) -> None:
    """Refuse a second application for a subject with an open or granted case (Conflict),
    naming the case to its own applicant and only saying "by another applicant" to others."""
    existing = session.execute(
        _OPEN_FOR_SUBJECT, {"matter": matter.code, "subject": subject}
    ).first()
    if existing is None:
        return
    case_id, number, applicant = existing
    if applicant == user.id:
        raise Conflict(
            f"您已申请过《{matter.name}》（办件编号{number}），该申请正在办理或已办结，"
            "请勿重复申请。",
            f"You already applied for {matter.name_en} (case {number}); it is in progress or "
            "granted, so it cannot be applied for again.",
            link=f"/cases/{case_id}",
            code="duplicate_application",
        )
    raise Conflict(
        f"该《{matter.name}》申请已由其他申请人（如家庭成员）提交，正在办理或已办结，请勿重复申请；"
        "如有疑问请咨询政务服务中心。",
        f"{matter.name_en}: another applicant (a family member, say) already applied for the "
        "same subject; it is in progress or granted. Ask the service centre if in doubt.",
        code="duplicate_application",
    )


def rule_facts(rt: Runtime, matter: Matter, spec: ProcessSpec) -> frozenset[str]:
    """The dictionary facts the matter's item conditions and its process read."""
    names: set[str] = set(spec.variables)
    for item in rt.catalog.items_of(matter):
        expression = matter.condition_of(item)
        if expression:
            names |= {
                node.id
                for node in ast.walk(ast.parse(expression, mode="eval"))
                if isinstance(node, ast.Name)
            }
    return frozenset(names & rt.catalog.facts.keys())


def _provenance(known: dict[str, Known], data: Mapping[str, Any]) -> dict[str, Any]:
    """Where each registry fact the case keeps came from."""
    asked = data.keys()
    return {
        key: {
            "registry": k.registry,
            "registry_name": k.registry_name,
            "record_id": k.record_id,
            "retrieved_at": k.retrieved_at.isoformat(timespec="seconds"),
        }
        for key, k in known.items()
        if key in asked
    }
