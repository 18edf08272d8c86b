"""Cases over the API: the citizen's applications, their progress, history, materials,
corrections and results (the certificates as PDF and all of them as one ZIP)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.responses import Response
from sqlmodel import Session

from forms.sources import registry_name
from forms.values import mask_id
from services.cases import access, confirmation, corrections, progress, submission
from services.cases.access import MASKED_TYPES
from services.cases.confirmation import CaseSubmitted, next_steps_public
from services.cases.models import Case, CaseItem, Upload
from services.cases.overview import CaseOverview, applicant_overview
from services.cases.path import PathStep, case_path
from services.cases.result_data import result_rows
from services.cases.results import (
    DELIVERY_STATUS,
    certificate_for,
    documents_of,
    results_archive,
)
from services.cases.routing import department_name
from services.cases.schemas import (
    ApplicationFact,
    CaseCreate,
    CaseDetail,
    CasePublic,
    CertificateRef,
    ChecklistEntryPublic,
    CorrectionCreate,
    CorrectionRequest,
    DeliveryPublic,
    EvaluationState,
    EventPublic,
    ItemStatus,
    MaterialRef,
    PathFact,
    PathStepPublic,
    Provenance,
    ResultValuePublic,
    UploadRef,
)
from services.certificates.models import Certificate
from services.certificates.service import (
    FileName,
    certificate_file_name,
    verification_url,
)
from services.runtime import Runtime
from web.api.matters import fact_public
from web.api.routing import PREFIX, Offset, RowId, api_router
from web.deps import CitizenUser, CsrfChecked, CurrentUser, RuntimeDep, SessionDep, read_only
from web.openapi import answers

router = api_router(tags=["api: cases"])
BINARY = {"schema": {"type": "string", "format": "binary"}}


def upload_ref(upload: Upload) -> UploadRef:
    """An uploaded material as the API shows it, with where to download it."""
    return UploadRef(
        id=upload.id,
        material=upload.material_code,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        uploaded_at=upload.uploaded_at,
        url=f"{PREFIX}/uploads/{upload.id}",
    )


def _unrouted(view: progress.ItemView) -> ItemStatus:
    """An item of the matter the case's process has not routed (yet, or at all)."""
    return ItemStatus(
        id=None,
        item=view.item.code,
        name=view.item.name,
        name_en=view.item.name_en,
        department=view.item.department,
        department_name=view.department_name,
        status=view.status,
        status_label=view.status_label,
        status_label_en=progress.ITEM_STATUS[view.status][1],
        due_date=None,
        decided_at=None,
        comment=None,
        result_number=None,
    )


def _case_public(
    session: Session, rt: Runtime, case: Case, views: list[progress.ItemView] | None = None
) -> CasePublic:
    if views is None:
        views = progress.item_views(session, rt, case)
    items = [item_status(rt, view.row) if view.row else _unrouted(view) for view in views]
    return CasePublic(**case.model_dump(include=set(CasePublic.model_fields)), items=items)


@router.post("/cases", response_model=CaseSubmitted, status_code=201, dependencies=[CsrfChecked])
@answers(404, 503)
def start_case(body: CaseCreate, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Submit a combined application: the answers, and the materials uploaded beforehand
    (`POST /api/v1/uploads`) by their tokens. Registry facts come from the server's own
    reading, with the applicant's authorization (`consent`). Refused: 422, naming first each
    unknown answer key or upload token, else every missing or invalid fact and material at
    once (`material_<code>`); an application repeating an open or granted one for the same
    subject: 409. The answer says what happens next (`next_steps`), as the confirmation page
    after submitting does."""
    if body.consent is None:
        consented = submission.lookups_consented(
            session, user=user, matter_code=body.matter, manual=False
        )
    else:
        consented = body.consent
    case = submission.submit_application(
        session,
        rt,
        user=user,
        matter_code=body.matter,
        answers=body.answers,
        drafts=body.materials,
        consented=consented,
        record_consent=bool(body.consent),
    )
    views = progress.item_views(session, rt, case)  # the items the submission made, unread
    public = _case_public(session, rt, case, views)
    rows = [view.row for view in views if view.row is not None]
    path = case_path(session, rt, case=case, for_applicant=True, rows=rows)
    return CaseSubmitted(
        **public.model_dump(),
        next_steps=next_steps_public(confirmation.next_steps(rt, case, path)),
        case_url=f"/cases/{case.id}",
    )


@router.get("/cases", response_model=list[CasePublic])
@read_only
def my_cases(
    user: CitizenUser, session: SessionDep, rt: RuntimeDep, limit: int = 50, offset: Offset = 0
):
    """The signed-in citizen's cases, newest first."""
    found = progress.cases_of(
        session, user=user, limit=min(max(limit, 1), 200), offset=max(offset, 0)
    )
    return [_case_public(session, rt, case) for case in found]


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """A case. Its applicant sees it whole, as the case page shows it: each item's progress,
    its certificate once approved (public id, verify URL, download link) and what a department
    sent back for correction; the application (ID and bank card numbers masked) with the
    source of each registry fact; the materials; the history; the delivery; the evaluation.
    The clerks and systems of the departments it was routed to see the progress only."""
    if user.role == "citizen":
        return case_detail(rt, applicant_overview(session, rt, user=user, case_id=case_id))
    case = access.load_case_progress(session, case_id=case_id, user=user)
    detail = _progress_detail(rt, case, _case_public(session, rt, case).items)
    detail.path = [
        path_step(step) for step in case_path(session, rt, case=case, for_applicant=False)
    ]
    return detail


def path_step(step: PathStep) -> PathStepPublic:
    """A step of the case's path as the API shows it (the facts only in the applicant's)."""
    label, label_en = step.state_label
    reason = step.reason
    return PathStepPublic(
        position=step.position,
        item=step.item.code,
        name=step.item.name,
        name_en=step.item.name_en,
        department=step.department,
        department_name=step.department_name,
        department_name_en=step.department_name_en,
        state=step.state,
        state_label=label,
        state_label_en=label_en,
        status=step.row.status if step.row is not None else None,
        waits_for=[item.code for item in step.waits_for],
        rule=reason.rule if reason else None,
        rule_en=reason.rule_en if reason else None,
        facts=[PathFact(**vars(fact)) for fact in reason.facts] if reason else [],
    )


def _progress_detail(rt: Runtime, case: Case, items: list[ItemStatus]) -> CaseDetail:
    matter = rt.catalog.matters.get(case.matter)
    labels = progress.CASE_STATUS[case.status]
    return CaseDetail(
        **case.model_dump(include=set(CasePublic.model_fields) - {"items"}),
        items=items,
        matter_name=matter.name if matter else case.matter,
        matter_name_en=matter.name_en if matter else case.matter,
        status_label=labels[0],
        status_label_en=labels[1],
    )


def case_detail(rt: Runtime, overview: CaseOverview) -> CaseDetail:
    """The applicant's whole view of their case."""
    case = overview.case
    items = []
    for view in overview.items:
        if view.row is None:
            items.append(_unrouted(view))
            continue
        status = item_status(rt, view.row)
        certificate = overview.certificates.get(view.row.id)
        if certificate is not None:
            status.certificate = certificate_ref(rt, case, view.row, certificate)
        asked = overview.corrections.get(view.row.id)
        if asked is not None:
            status.correction = _correction_request(view.row, *asked)
        items.append(status)
    detail = _progress_detail(rt, case, items)
    detail.application = [
        _application_fact(rt, case, key, value)
        for key, value in case.data.items()
        if value not in (None, "") and key in rt.catalog.facts
    ]
    detail.checklist = checklist_public(rt, case.checklist)
    detail.uploads = [upload_ref(upload) for upload in overview.uploads]
    detail.history = [
        EventPublic(at=e.at, actor=e.actor, kind=e.kind, message=e.message) for e in overview.events
    ]
    if overview.delivery is not None:
        delivery = overview.delivery
        label, label_en = DELIVERY_STATUS[delivery.status]
        detail.delivery = DeliveryPublic(
            status=delivery.status,
            status_label=label,
            status_label_en=label_en,
            tracking_number=delivery.tracking_number,
            address=delivery.address,
        )
    rating = overview.evaluation
    detail.evaluation = EvaluationState(
        open=case.status == "completed" and rating is None,
        level=rating.level if rating else None,
        reasons=list(rating.reasons) if rating else [],
        comment=rating.comment if rating else None,
        created_at=rating.created_at if rating else None,
    )
    if overview.certificates:
        detail.results_url = f"{PREFIX}/cases/{case.id}/results.zip"
    detail.path = [path_step(step) for step in overview.path]
    return detail


def _application_fact(rt: Runtime, case: Case, key: str, value: Any) -> ApplicationFact:
    fact = rt.catalog.facts[key]
    if fact.type in MASKED_TYPES:
        value = mask_id(str(value))
    if fact.type == "bool":
        shown = "是" if value else "否"
    elif fact.type == "enum":
        shown = fact.option_label(value)
    else:
        shown = str(value)
    found = corrections.registry_record(case.provenance.get(key))
    return ApplicationFact(
        key=key,
        label=fact.label,
        label_en=fact.label_en,
        value=value,
        shown=shown,
        source=Provenance(
            registry=found["registry"],
            registry_name=found["registry_name"],
            registry_name_en=registry_name(found["registry"], "en"),
            record_id=found["record_id"],
            retrieved_at=found["retrieved_at"],
        )
        if found
        else None,
        corrected_at=corrections.corrected_at(case.provenance.get(key)),
    )


def checklist_public(rt: Runtime, checklist: list[dict[str, Any]]) -> list[ChecklistEntryPublic]:
    """A case's checklist entries as the API shows them, in both languages (entries stored
    before the English was kept are given the catalog's)."""
    return [ChecklistEntryPublic(**corrections.readable_entry(rt, entry)) for entry in checklist]


def _correction_request(row: CaseItem, facts, materials) -> CorrectionRequest:
    return CorrectionRequest(
        note=(row.correction or {}).get("note", ""),
        facts=[
            fact_public(f.fact, value=f.value, known=None, required=True, items=f.item_codes)
            for f in facts
        ],
        materials=[MaterialRef(code=m.code, name=m.name, name_en=m.name_en) for m in materials],
    )


def certificate_ref(
    rt: Runtime, case: Case, row: CaseItem, certificate: Certificate
) -> CertificateRef:
    item = rt.catalog.items.get(row.item_code)
    return CertificateRef(
        public_id=certificate.public_id,
        number=certificate.number,
        document_type=(item.document if item else "") or certificate.item_name,
        document_type_en=(item.document_en or item.name_en) if item else certificate.item_name,
        result_data=[
            ResultValuePublic(key=r.key, label=r.label, label_en=r.label_en, value=r.value)
            for r in (result_rows(item, row.result_data) if item else [])
        ],
        issued_at=certificate.issued_at,
        verify_url=verification_url(rt.settings.public_base_url, certificate.public_id),
        verification_url=f"{PREFIX}/certificates/{certificate.public_id}/verification",
        download_url=f"{PREFIX}/cases/{case.id}/items/{row.id}/certificate",
    )


@router.post(
    "/cases/{case_id}/items/{item_id}/correction",
    response_model=ItemStatus,
    dependencies=[CsrfChecked],
)
@answers(503)
def correct(
    case_id: RowId,
    item_id: RowId,
    body: CorrectionCreate,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The applicant sends back what a department asked to correct (the item's `correction`
    in the case): the facts again, the materials by their upload tokens. Only that item
    resumes. Anything the department did not ask for is refused (422, named); an item not
    awaiting correction: 409."""
    row = corrections.submit_correction(
        session,
        rt,
        user=user,
        case_id=case_id,
        item_id=item_id,
        answers=body.answers,
        drafts=body.materials,
        note=body.note,
    )
    return item_status(rt, row)


@router.get(
    "/cases/{case_id}/items/{item_id}/certificate",
    response_class=Response,
    responses={
        200: {"description": "The signed certificate", "content": {"application/pdf": BINARY}}
    },
)
def certificate_pdf(
    case_id: RowId, item_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    """An approved item's signed electronic certificate (PDF): the applicant's, or a clerk's of
    their own department's item (logged)."""
    case = access.result_case(session, case_id=case_id, item_id=item_id, user=user)
    return certificate_response(rt, certificate_for(session, rt, case=case, item_id=item_id))


@router.get(
    "/cases/{case_id}/results.zip",
    response_class=Response,
    responses={
        200: {
            "description": "Every certificate of the case",
            "content": {"application/zip": BINARY},
        }
    },
)
def results_zip(case_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """Every certificate of the applicant's case in one ZIP (404 while none is approved)."""
    case = access.load_case(session, case_id=case_id, user=user)
    return archive_response(rt, case, results_archive(session, rt, case=case))


def attachment(name: FileName) -> str:
    """A `Content-Disposition` for a download named `name`: the ASCII `filename=` for old
    clients and the Chinese `filename*=` (RFC 5987/6266), which browsers prefer."""
    return f"attachment; filename=\"{name.ascii}\"; filename*=UTF-8''{quote(name.name)}"


def certificate_response(rt: Runtime, certificate: Certificate) -> Response:
    """A certificate as a PDF download, named by its document and number."""
    document = documents_of(rt, [certificate]).get(certificate.item_code, "")
    name = certificate_file_name(certificate, document=document)
    return Response(
        certificate.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": attachment(name)},
    )


def archive_response(rt: Runtime, case: Case, archive: bytes) -> Response:
    """A case's certificates as one ZIP download, named by the matter and the case number."""
    matter = rt.catalog.matters[case.matter].name
    name = FileName(f"{matter}办理结果-{case.number}.zip", f"{case.number}.zip")
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(name)},
    )


def item_status(rt: Runtime, row: CaseItem) -> ItemStatus:
    item = rt.catalog.items[row.item_code]
    labels = progress.ITEM_STATUS[row.status]
    return ItemStatus(
        id=row.id,
        item=row.item_code,
        name=item.name,
        name_en=item.name_en,
        department=row.department,
        department_name=department_name(rt, row.department),
        status=row.status,
        status_label=labels[0],
        status_label_en=labels[1],
        due_date=row.due_date,
        decided_at=row.decided_at,
        comment=row.comment,
        result_number=row.result_number,
        auto=row.auto,
        finding=row.finding,
        incident=row.incident,
    )
