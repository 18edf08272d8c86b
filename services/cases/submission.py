"""Submission: the combined form for an applicant (prefilled with their consent), and its
submission as one case whose process routes the items, in one transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.specs import ProcessSpec
from forms.catalog import Matter
from forms.compiler import CompiledForm, Known, compile_form, lookups_of, process_data
from services.accounts.models import User
from services.calendar import local_date
from services.cases.access import require_citizen
from services.cases.models import Case
from services.cases.progress import SUBMITTED_ITEMS
from services.cases.routing import apply_changes, finish_case, record_event
from services.cases.uploads import UploadedFile, check_files, store_file
from services.configuration.matters import offered
from services.errors import InvalidInput, NotFound
from services.registries.prefill import Lookup, prefill
from services.registries.service import grant_consent, log_reads, lookup_for_matter
from services.runtime import Runtime

__all__ = ["UploadedFile", "prepare_form", "submit_application"]


def _offered(session: Session, rt: Runtime, code: str) -> tuple[Matter, ProcessSpec]:
    """The published matter as applications see it now (its configuration and the items of its
    newest process version), with that process version."""
    matter, spec = offered(session, rt, code)
    if not matter.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    return matter, spec


def prepare_form(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any] | None = None,
    consented: bool = False,
    actor: User | None = None,
) -> CompiledForm:
    """The combined form for the applicant, prefilled from the registries if the applicant
    authorized the lookups (every read is logged, with `actor`: a front-desk clerk filling the
    form with a walk-in applicant); otherwise everything is asked."""
    matter, _ = _offered(session, rt, matter_code)
    purpose = f"预填《{matter.name}》申请表"
    lookup = _lookup(session, rt, user, matter, consented, purpose, actor=actor)
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
    purpose: str,
    case_id: int | None = None,
    actor: User | None = None,
) -> Lookup:
    """Registry facts for the applicant, only with their authorization (reads logged)."""
    applicant_id = require_citizen(user)
    if not consented:
        return Lookup(rt.registry, applicant_id)
    return lookup_for_matter(
        session,
        registry=rt.registry,
        applicant_id_number=applicant_id,
        subjects=matter.subjects,
        actor_user_id=(actor or user).id,
        purpose=purpose,
        case_id=case_id,
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
) -> Case:
    """Validate the combined form, start the case's process and route its items, in one commit.

    Registry facts are fetched again here (never taken from the browser) and logged with the case.
    With `record_consent`, the applicant's consent to the lookups is recorded first (an API
    client gives it with the submission)."""
    matter, spec = _offered(session, rt, matter_code)
    applicant_id = require_citizen(user)
    if consented and record_consent:
        registries = list(lookups_of(rt.catalog, matter))
        grant_consent(session, user_id=user.id, matter=matter.code, registries=registries)
    if consented:
        lookup = prefill(rt.registry, applicant_id, matter.subjects)
    else:
        lookup = Lookup(rt.registry, applicant_id)
    form = compile_form(rt.catalog, matter, lookup.facts, answers, validate=True)
    fields = {e.key: (e.message, e.message_en) for e in form.errors}
    needed = {entry.code for entry in form.checklist}
    # Any material of the checklist may be uploaded: one the registries supply too, when the
    # applicant prefers their own copy to the fetched evidence. Every file is checked before
    # anything is written.
    files = check_files(rt, [u for u in uploads if u.material_code in needed and u.content], fields)
    provided = {f.material_code for f in files} | {
        u.material_code for u in uploads if u.content and f"material_{u.material_code}" in fields
    }
    for entry in form.uploads:
        if entry.code not in provided:
            fields[f"material_{entry.code}"] = (
                f"请上传：{entry.name}",
                f"Please upload: {entry.name_en}",
            )
    purpose = f"受理《{matter.name}》核验申请信息"
    reader = (actor or user).id
    if fields:  # refused: no case, but the registry reads happened and are logged
        log_reads(session, lookup, actor_user_id=reader, purpose=purpose, case_id=None)
        session.commit()
        first = next(iter(fields))
        raise InvalidInput(first, fields[first][0], fields[first][1], fields=fields)
    data = dict(form.values)
    workflow = runner.start(spec, spec.inputs(process_data(rt.catalog, form, lookup.facts)))
    instance, changes = store.create_instance(session, spec, workflow, matter.bpmn)
    now = utcnow()
    case = Case(
        matter=matter.code,
        applicant_user_id=user.id,
        applicant_id_number=applicant_id,
        applicant_name=data.get("applicant_name") or user.display_name,
        channel=channel,
        instance_id=instance.id,
        created_at=now,
        data=data,
        provenance=_provenance(lookup.facts, form),
        checklist=[
            {"code": e.code, "name": e.name, "status": e.status, "reason": e.reason}
            for e in form.checklist
        ],
    )
    session.add(case)
    session.flush()
    log_reads(session, lookup, actor_user_id=reader, purpose=purpose, case_id=case.id)
    for file in files:
        store_file(session, rt, case_id=case.id, file=file)
    case.number = f"YJS{local_date(now):%Y%m%d}{case.id:06d}"
    if actor is None:
        message = f"提交《{matter.name}》一表申请，办件编号{case.number}"
    else:
        message = (
            f"综合窗口受理《{matter.name}》一表申请（{actor.display_name}），办件编号{case.number}"
        )
    record_event(session, case, actor or user, "submitted", message)
    for error in lookup.unavailable.values():
        record_event(
            session, case, None, "degraded", f"{error.message}（相关信息由申请人填写或上传）"
        )
    items = apply_changes(session, rt, case, changes, now, new_case=True)
    if runner.is_completed(workflow):
        finish_case(session, case)
    session.commit()
    # The caller's view of the new case needs its items: these are all of them (the session
    # keeps their values after the commit), which spares a transaction to read them back.
    session.info[SUBMITTED_ITEMS] = (case.id, items)
    return case


def _provenance(known: dict[str, Known], form: CompiledForm) -> dict[str, Any]:
    asked = {f.key for f in form.fields}
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
