"""API shapes for cases and tasks (separate from the table models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# The largest id a row can have (PostgreSQL's INTEGER, the type of the id columns). Ids, offsets
# and pages in requests are bounded by it: a larger number is invalid input (422), not a crash
# of the database driver (SQLite takes 64 bits, PostgreSQL's INTEGER 32).
ID_MAX = 2**31 - 1
# Text stored in or compared with a text column: PostgreSQL's text cannot hold NUL characters,
# so a NUL is invalid input (422), not a crash of the database driver.
NO_NUL = r"^[^\x00]*$"


class FieldMessage(BaseModel):
    """A message in Chinese and English."""

    zh: str
    en: str


class ErrorPublic(BaseModel):
    """The body of every error answer: RFC 9457 problem details (`application/problem+json`),
    with the message in Chinese and English and a stable code."""

    type: str = Field(
        description="A URN naming the problem type: urn:onething:problem:<code>",
        examples=["urn:onething:problem:not_found"],
    )
    title: str = Field(description="The problem type, in Chinese")
    title_en: str = Field(description="The problem type, in English")
    status: int = Field(description="The HTTP status")
    code: str = Field(
        description="Stable, machine-readable: not_found, forbidden, not_signed_in, conflict, "
        "duplicate_application, invalid_input, too_many_requests, payload_too_large, "
        "unsupported_media_type, process_failed, registry_unavailable, idempotency_key_reused, "
        "idempotency_key_in_use, method_not_allowed, bad_request, server_error, refused"
    )
    detail: str = Field(description="What went wrong, in Chinese")
    detail_en: str = Field(description="What went wrong, in English")
    link: str | None = Field(
        default=None,
        description="Where the person can see what the error is about, e.g. the case that an "
        "application repeats",
    )
    reference: str | None = Field(
        default=None, description="A 500's reference, for the operators' log"
    )


class InvalidInputPublic(ErrorPublic):
    """A 422 (code invalid_input): input refused by the service, or a request that does not
    match this document; `fields` says what is wrong with each field, never its value."""

    fields: dict[str, FieldMessage] = Field(
        description="A message per field (or fact, or material_<code>), in both languages"
    )


# The error answers of every API operation, documented once per router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "Refused"},
    401: {"model": ErrorPublic, "description": "Not signed in"},
    403: {"model": ErrorPublic, "description": "Not allowed for this account"},
    404: {"model": ErrorPublic, "description": "Not found"},
    409: {
        "model": ErrorPublic,
        "description": "Conflicts with the current state (e.g. an application for a subject "
        "with an open or granted case: `link` names it; a retry while the first request with "
        "its Idempotency-Key is being answered)",
    },
    422: {"model": InvalidInputPublic, "description": "Invalid input"},
    503: {
        "model": ErrorPublic,
        "description": "The case's process failed at one of its elements: nothing was kept, an "
        "incident was recorded for the administrators; try again later",
    },
}


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"username": "31010519940908028X", "password": "your-password"},
                {"username": "police-system", "password": "the-system-password"},
            ]
        }
    )

    username: str = Field(description="Citizen ID number for citizens, login name for staff")
    password: str


class LoginResult(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'")
    role: str
    department: str | None
    display_name: str


# A fact's key or a material's code in a request: an identifier (the catalog's own form)
CODE_PATTERN = r"^[A-Za-z0-9_]+$"
FactKey = Annotated[str, StringConstraints(max_length=64, pattern=CODE_PATTERN)]
MaterialCode = FactKey
UploadToken = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!-~]+$")]

_ANSWERS = (
    "Answers by fact key (`GET /api/v1/matters/{code}/form` lists the facts, their types, "
    "options and rules). A key that is not a fact of the matter is refused (422, each such key "
    "named in `fields`). Answers for facts the registries supplied are ignored: those facts "
    "are not the applicant's to change."
)
_MATERIALS = (
    "Uploaded materials by material code: the `token` of each file sent to "
    "`POST /api/v1/uploads` beforehand (kept 24 hours for its uploader). An unknown or "
    "expired token is refused (422, naming `material_<code>`)."
)


class CaseCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "matter": "newborn",
                    "answers": {
                        "child_name": "张小满",
                        "household_parent": "father",
                        "applicant_phone": "13812345678",
                        "delivery_method": "online",
                        "bank_name": "中国工商银行",
                        "bank_card_number": "6222020200112233446",
                    },
                    "consent": True,
                },
                {
                    "matter": "employment",
                    "answers": {"applicant_phone": "13812345678"},
                    "materials": {"labor_contract": "q3VbXk2s9oQ0WmJ1zL4tYc8aN5eR7uHd"},
                },
            ]
        }
    )

    matter: str = Field(max_length=64, pattern=CODE_PATTERN, examples=["newborn"])
    answers: dict[FactKey, Any] = Field(default_factory=dict, description=_ANSWERS)
    materials: dict[MaterialCode, UploadToken] = Field(default_factory=dict, description=_MATERIALS)
    consent: bool | None = Field(
        default=None,
        description="`true`: the applicant authorizes the matter's registry lookups now (recorded "
        "with the submission; the registries are read for it). `false`: no lookups, every fact "
        "is in `answers` and every material uploaded. Absent: the authorization given with "
        "`POST /api/v1/matters/{code}/consent` applies if it is current (the prefill read for "
        "the form is used, not read again), else none.",
    )


class Provenance(BaseModel):
    """Where a registry fact came from."""

    registry: str = Field(description="The registry's code")
    registry_name: str
    registry_name_en: str
    record_id: str = Field(description="The record read")
    retrieved_at: datetime


class OptionPublic(BaseModel):
    value: str | bool
    label: str
    label_en: str


class Validation(BaseModel):
    """What the server accepts for a fact (checked again whatever the client did)."""

    format: str = Field(
        description="The fact's type: text, address, citizen_id, uscc, phone, date, enum, bool, "
        "bank_card, integer"
    )
    description: str
    description_en: str
    pattern: str | None = Field(
        description="A regular expression (valid in JavaScript too) the value matches once "
        "trimmed and `strip` characters are removed"
    )
    strip: str = Field(description="Characters removed before the pattern and checksum apply")
    checksum: str | None = Field(
        description="The check digit the value must pass, by its standard (e.g. citizen IDs: "
        "GB 11643-1999, ISO 7064 MOD 11-2; bank cards: Luhn)"
    )
    max_length: int | None = Field(description="At most this many characters")


class FactPublic(BaseModel):
    key: str = Field(description="The answer's key")
    label: str
    label_en: str
    type: str
    help: str
    help_en: str
    options: list[OptionPublic] = Field(description="The allowed values (enum; bool: true/false)")
    validation: Validation
    required: bool = Field(description="Must be answered, given the answers so far")
    required_if: str | None = Field(
        description="The condition under which it is required, as its source text (null: "
        "required unless `optional`)"
    )
    optional: bool
    condition: str | None = Field(
        description="The condition under which the form asks it, as its source text over the "
        "facts' keys (null: always)"
    )
    value: Any = Field(description="The value so far: from a registry, or as answered")
    readonly: bool = Field(
        description="Supplied by a registry: shown for checking, not the applicant's to change "
        "(an answer for it is ignored)"
    )
    provenance: Provenance | None = Field(description="The registry record (readonly facts)")
    items: list[str] = Field(description="The codes of the items that use it")
    error: FieldMessage | None = Field(description="What is wrong with the answer given, if any")


class SectionPublic(BaseModel):
    code: str
    title: str
    title_en: str
    facts: list[FactPublic]


class CatalogItemRef(BaseModel):
    """An item as the catalog names it, with its department and statutory time limit."""

    code: str
    name: str
    name_en: str
    department: str
    department_name: str
    department_name_en: str
    time_limit_days: int = Field(description="The statutory time limit, in working days")


class ItemApplicability(CatalogItemRef):
    in_person: bool = Field(description="Needs the applicant present even when applied online")
    applies: bool = Field(description="Part of this application, given the answers so far")
    condition: str | None = Field(
        description="When the item applies, as its source text over the facts' keys (null: always)"
    )


class MaterialRef(BaseModel):
    code: str
    name: str
    name_en: str


class ChecklistMaterial(MaterialRef):
    """One material of the one-time checklist (一次告知)."""

    items: list[str] = Field(description="The codes of the items that need it")
    status: Literal["upload", "exempt"] = Field(
        description="upload: send it (POST /api/v1/uploads, then its token); exempt: fetched "
        "from a registry (an own copy may still be uploaded instead)"
    )
    reason: str
    reason_en: str
    registry: str | None = Field(description="The registry that may supply it")
    condition: str | None = Field(description="When it is needed, as source text (null: always)")
    accepted_types: list[str] = Field(description="Media types accepted, recognised by content")
    max_bytes: int = Field(description="The largest file accepted, in bytes")


class ConditionalMaterial(MaterialRef):
    items: list[str]
    condition: str | None = Field(description="When it is needed, as source text")


class UploadRules(BaseModel):
    url: str = Field(description="Where files are sent: multipart `matter`, `material`, `file`")
    accepted_types: list[str] = Field(description="Media types accepted, recognised by content")
    max_bytes: int = Field(description="The largest file accepted, in bytes")


class FormPublic(BaseModel):
    """A matter's combined form as data: what the application form page shows."""

    matter: str
    name: str
    name_en: str
    prefilled: bool = Field(
        description="Facts were filled in from the registries (the applicant authorized the "
        "lookups)"
    )
    notices: list[FieldMessage] = Field(description="E.g. a registry that could not answer")
    sections: list[SectionPublic] = Field(description="The facts asked now, by subject")
    conditional_facts: list[FactPublic] = Field(
        description="Facts not asked with the answers so far, each with the `condition` that "
        "would ask it: send the answers to `POST /api/v1/matters/{code}/form` to re-evaluate"
    )
    items: list[ItemApplicability] = Field(description="Every item, applying or not")
    checklist: list[ChecklistMaterial] = Field(description="The materials, given the answers")
    conditional_materials: list[ConditionalMaterial] = Field(
        description="Materials not needed with the answers so far, with their condition"
    )
    upload: UploadRules
    errors: dict[str, FieldMessage] = Field(
        description="Answers given that are not valid, by fact key (the missing ones are named "
        "only when the application is submitted)"
    )
    ignored_answers: list[str] = Field(
        description="Keys answered for facts the registries supplied: ignored"
    )


class FormAnswers(BaseModel):
    """Answers so far, for the form they make."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"answers": {"property_co_owned": True}},
                {"answers": {"deceased_death_cause": "unnatural"}, "manual": True},
            ]
        }
    )

    answers: dict[FactKey, Any] = Field(default_factory=dict, description=_ANSWERS)
    manual: bool = Field(
        default=False,
        description="Fill in everything: no registry facts even when lookups are authorized",
    )


class MatterItemRef(BaseModel):
    code: str
    name: str
    name_en: str
    department: str


class DepartmentRef(BaseModel):
    code: str
    name: str
    name_en: str


class MatterPublic(BaseModel):
    code: str
    name: str
    name_en: str
    summary: str
    summary_en: str
    items: list[MatterItemRef]
    departments: list[DepartmentRef] = Field(description="The departments involved, once each")
    form_url: str = Field(description="The combined form as data (for a signed-in citizen)")


class LookupFact(BaseModel):
    key: str
    label: str
    label_en: str


class RegistryLookup(BaseModel):
    registry: str
    name: str
    name_en: str
    facts: list[LookupFact] = Field(
        description="What it would supply (empty: certificates and proofs)"
    )


class ConsentPublic(BaseModel):
    """What the applicant is asked to authorize before any lookup, and whether they did."""

    matter: str
    name: str
    name_en: str
    text: FieldMessage = Field(description="What the consent page says")
    lookups: list[RegistryLookup] = Field(description="The registries read, and for what")
    hours: int = Field(description="How long an authorization lasts")
    granted: bool = Field(description="A current authorization exists")
    granted_at: datetime | None
    expires_at: datetime | None


class UploadPublic(BaseModel):
    token: str = Field(description="Name the file by it in `materials` when submitting")
    matter: str
    material: str
    filename: str
    size: int
    content_type: str = Field(description="The type recognised from the file's content")
    expires_at: datetime = Field(description="The file is kept for its uploader until then")


class CorrectionCreate(BaseModel):
    """What a department asked to correct: the facts again, and the materials as upload tokens."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"answers": {}, "materials": {"marriage_certificate": "q3VbXk2s9oQ0WmJ1zL4tYc8a"}},
                {"answers": {"child_name": "张小满"}},
            ]
        }
    )

    answers: dict[FactKey, Any] = Field(
        default_factory=dict,
        description="The facts asked for, by key; any other key is refused (422, named)",
    )
    materials: dict[MaterialCode, UploadToken] = Field(
        default_factory=dict,
        description="The materials asked for: tokens from `POST /api/v1/uploads`; any other "
        "material is refused",
    )
    note: str = Field(
        default="",
        max_length=500,
        pattern=NO_NUL,
        description="A word to the department's clerk about the correction (optional), shown "
        "with what changed",
    )


class DataAccessPublic(BaseModel):
    """One read of the citizen's records: a registry lookup, or someone opening their case."""

    at: datetime
    registry: str
    registry_name: str
    registry_name_en: str
    actor: str = Field(description="Who read it (系统 for the system)")
    record_id: str
    purpose: str
    case_number: str | None


class CertificateCheck(BaseModel):
    """A certificate as its public check shows it (masked facts only)."""

    valid: bool = Field(description="Genuine, not revoked (and the file, if one was sent, is it)")
    genuine: bool = Field(description="Our signature holds over the certificate as issued")
    revoked: bool
    number: str
    item: str = Field(description="What it certifies: the item's name")
    holder: str = Field(description="The holder's name, masked")
    holder_id_number: str = Field(description="The holder's ID number, masked")
    issuer: str
    issued_on: date
    key_id: str = Field(description="The signing key's id")
    verify_url: str


class FileVerification(BaseModel):
    """What a certificate file is."""

    verdict: Literal["genuine", "altered", "unknown"] = Field(
        description="genuine: the very file issued, signature valid; altered: it names one of "
        "our certificates but differs from it; unknown: it names none of them"
    )
    certificate: CertificateCheck | None = Field(
        description="The certificate the file is (or claims to be); null when unknown"
    )


class ResultValuePublic(BaseModel):
    """One piece of result data a department recorded, as the document shows it (dates in
    Chinese, amounts in yuan, citizen IDs masked)."""

    key: str
    label: str
    label_en: str
    value: str


class CertificateRef(BaseModel):
    """An approved item's electronic certificate (电子证照), as an app can check it."""

    public_id: str = Field(description="The certificate's public id (in its QR code)")
    number: str = Field(description="The certificate's number (the item's result number)")
    document_type: str = Field(
        description="The document it is (出生医学证明, 户口登记结果, 营业执照…; an item that names "
        "none: the item's name)"
    )
    document_type_en: str
    result_data: list[ResultValuePublic] = Field(
        default_factory=list,
        description="The result data the department recorded and the document prints (the "
        "newborn's citizen ID masked, the household number...), in the document's order",
    )
    issued_at: datetime
    verify_url: str = Field(
        description="The public verification page printed as the QR code (absolute)"
    )
    verification_url: str = Field(
        description="The same check as JSON: `GET /api/v1/certificates/{public_id}/verification`"
    )
    download_url: str = Field(description="The signed PDF (application/pdf), for the applicant")


class CorrectionRequest(BaseModel):
    """What a department sent back for correction (补正): send it with
    `POST /api/v1/cases/{case_id}/items/{item_id}/correction`."""

    note: str = Field(description="The department's note to the applicant")
    facts: list[FactPublic] = Field(description="The facts to answer again (current values)")
    materials: list[MaterialRef] = Field(description="The materials to upload again")


class ItemStatus(BaseModel):
    id: int | None
    item: str
    name: str
    department: str
    status: str
    status_label: str
    due_date: date | None
    decided_at: datetime | None
    comment: str | None
    result_number: str | None
    auto: bool = Field(default=False, description="Decided by an automatic check (秒批)")
    finding: str | None = Field(default=None, description="The automatic check's finding")
    incident: str | None = Field(default=None, description="A department system's last failure")
    name_en: str | None = None
    department_name: str | None = None
    status_label_en: str | None = None
    certificate: CertificateRef | None = Field(
        default=None, description="The approved item's certificate (the applicant's view only)"
    )
    correction: CorrectionRequest | None = Field(
        default=None,
        description="While the item awaits correction: what to send (the applicant's view only)",
    )


class CasePublic(BaseModel):
    id: int
    number: str | None
    matter: str
    status: str
    outcome: str | None
    created_at: datetime
    completed_at: datetime | None
    items: list[ItemStatus] = []


class ApplicationFact(BaseModel):
    key: str
    label: str
    label_en: str
    value: Any = Field(description="As the case page shows it: ID and bank card numbers masked")
    shown: str = Field(description="The value as the page prints it (an option's label, 是/否)")
    source: Provenance | None = Field(
        description="The registry record it came from; null: typed by the applicant"
    )
    corrected_at: datetime | None = Field(
        default=None,
        description="The applicant typed it in a correction (补正), at this time (`source` is "
        "then null)",
    )


class ChecklistEntryPublic(BaseModel):
    code: str
    name: str
    name_en: str = ""
    status: str = Field(description="upload, or exempt (fetched from a registry)")
    reason: str
    reason_en: str = ""
    corrected_at: datetime | None = Field(
        default=None,
        description="The applicant uploaded it in a correction (补正), at this time: `upload_id` "
        "is that file",
    )
    upload_id: int | None = Field(default=None, description="The file sent in the correction")


class UploadRef(BaseModel):
    id: int
    material: str
    filename: str
    content_type: str
    size: int
    uploaded_at: datetime
    url: str = Field(description="The file, with its media type: GET /api/v1/uploads/{id}")


class EventPublic(BaseModel):
    at: datetime
    actor: str
    kind: str
    message: str


class DeliveryPublic(BaseModel):
    status: str = Field(description="preparing, shipped or delivered")
    status_label: str
    status_label_en: str
    tracking_number: str | None
    address: str


class EvaluationState(BaseModel):
    """好差评: whether the case can be rated now, and the rating once given."""

    open: bool = Field(description="The case is completed and not rated yet: it can be rated")
    level: int | None = Field(description="5 very satisfied … 1 very dissatisfied; null: none")
    reasons: list[str] = []
    comment: str | None = None
    created_at: datetime | None = None


class PathFact(BaseModel):
    """A fact a not-needed item's rule read, as the applicant gave it (numbers masked)."""

    key: str
    label: str
    label_en: str
    shown: str
    shown_en: str


class PathStepPublic(BaseModel):
    """One item of the case's matter in the case's path (services/cases/path.py)."""

    position: int = Field(description="1-based, in the order the process takes the items")
    item: str
    name: str
    name_en: str
    department: str
    department_name: str
    department_name_en: str
    state: str = Field(description="done | in_progress | correction | waiting | not_needed")
    state_label: str
    state_label_en: str
    status: str | None = Field(
        default=None, description="The routed item's status (approved, rejected, …); null if not"
    )
    waits_for: list[str] = Field(
        default=[], description="Waiting: the codes of the earlier items it waits for"
    )
    rule: str | None = Field(default=None, description="Not needed: the rule that decided it")
    rule_en: str | None = None
    facts: list[PathFact] = Field(
        default=[], description="Not needed: the facts the rule read (the applicant's view only)"
    )


class CaseDetail(CasePublic):
    """A case: its applicant sees it whole (as the case page shows it); the clerks and systems
    of the departments it was routed to see the progress only (the other fields null)."""

    matter_name: str
    matter_name_en: str
    status_label: str
    status_label_en: str
    application: list[ApplicationFact] | None = None
    checklist: list[ChecklistEntryPublic] | None = None
    uploads: list[UploadRef] | None = None
    history: list[EventPublic] | None = Field(
        default=None,
        description="The applicant's history of the case, oldest first (the departments' "
        "internal moves, such as claiming a task, are not in it)",
    )
    delivery: DeliveryPublic | None = None
    evaluation: EvaluationState | None = None
    results_url: str | None = Field(
        default=None, description="Every certificate in one ZIP (application/zip)"
    )
    path: list[PathStepPublic] = Field(
        default=[],
        description="Every item of the matter in process order with its state, what it waits "
        "for, or why it is not needed (the whole case in view)",
    )


class TaskPublic(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    matter: str
    item: str
    name: str
    applicant: str = Field(description="Masked citizen ID of the applicant")
    due_date: date
    created_at: datetime
    corrected: bool = Field(
        default=False,
        description="已补正: back from the applicant's correction, waiting for a decision again",
    )
