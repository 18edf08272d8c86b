"""A small typed client of OneThing's JSON API (`/api/v1`), as a city app or a department's
integrator would write it: the citizen's path from sign-in to a verified certificate, and the
clerk's from the queue to a decision.

    from examples.onething_client import OneThingClient, ProblemError, uploads_needed

    with OneThingClient("http://127.0.0.1:8000") as citizen:
        citizen.login("31010519940908028X", "onething123")      # a bearer token, kept
        citizen.consent("newborn")                  # registry lookups: the form is prefilled
        form = citizen.evaluate_form("newborn", answers)        # what the answers switch on
        tokens = {m["code"]: citizen.upload("newborn", m["code"], "scan.pdf", scan)["token"]
                  for m in uploads_needed(form)}
        case = citizen.submit("newborn", answers, tokens)       # ProblemError 422 names gaps
        with OneThingClient(citizen.http) as clerk:     # each department's clerk decides
            clerk.login("police01", "onething123")
            for task in clerk.tasks():
                clerk.claim(task["id"])
                clerk.complete(task["id"], "approved")          # or "rejected", "correction"
        for item in citizen.case(case["id"])["items"]:
            if item["certificate"]:
                pdf = citizen.certificate(case["id"], item["id"])
                assert citizen.verify(pdf)["verdict"] == "genuine"

Each method calls one operation of the OpenAPI document, named in `OneThingClient.OPERATIONS`
with the shapes it sends and reads (TypedDicts); tests/api/test_client.py checks them against
the document and drives every matter through this client. Every POST carries an
`Idempotency-Key` (yours, or a fresh one per call) and is retried with it on a network error,
so a retry never applies twice. An error answer raises `ProblemError`, carrying the RFC 9457
problem details (`code`, `title`, `detail`, `fields`). Needs only httpx (a dependency of
OneThing itself); pass your own `httpx.Client` (e.g. FastAPI's TestClient) or a base URL.
"""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Required, TypedDict
from urllib.parse import quote

import httpx

JSON = "application/json"
MULTIPART = "multipart/form-data"
PDF = "application/pdf"
MATERIAL_TYPES = (PDF, "image/jpeg", "image/png")


# --- what the client sends ----------------------------------------------------------------------


class LoginRequest(TypedDict):
    username: str  # a citizen's ID number, or a staff login name
    password: str


class FormAnswers(TypedDict, total=False):
    answers: dict[str, Any]
    manual: bool


class CaseCreate(TypedDict, total=False):
    matter: Required[str]
    answers: dict[str, Any]
    materials: dict[str, str]  # material code -> upload token
    consent: bool | None


class CorrectionCreate(TypedDict, total=False):
    answers: dict[str, Any]
    materials: dict[str, str]


class TaskDecision(TypedDict, total=False):
    decision: Required[Literal["approved", "rejected", "correction"]]
    reason: str  # a rejection's reason, from the task's `reject_reasons`
    comment: str
    reopen: list[str]  # a correction's facts and `material_<code>`s, from `correctable`
    result_data: dict[str, str]  # an approval's result data, by the task's `results` keys


class UploadForm(TypedDict):  # multipart
    matter: str
    material: str
    file: bytes


class VerifyForm(TypedDict, total=False):  # multipart
    file: Required[bytes]
    public_id: str


# --- what the client reads (the fields it uses; the answers carry more) ------------------------


class Message(TypedDict):
    zh: str
    en: str


class LoginResult(TypedDict):
    token: str
    role: str
    department: str | None
    display_name: str


class DepartmentRef(TypedDict):
    code: str
    name: str
    name_en: str


class MatterItemRef(TypedDict):
    code: str
    name: str
    name_en: str
    department: str


class Matter(TypedDict):
    code: str
    name: str
    name_en: str
    items: list[MatterItemRef]
    departments: list[DepartmentRef]
    form_url: str


class Consent(TypedDict):
    matter: str
    text: Message
    hours: int
    granted: bool
    expires_at: str | None


class Option(TypedDict):
    value: str | bool
    label: str
    label_en: str


class Provenance(TypedDict):
    registry: str
    registry_name: str
    record_id: str
    retrieved_at: str


class Fact(TypedDict):
    key: str
    label: str
    label_en: str
    type: str
    options: list[Option]
    required: bool
    condition: str | None
    value: Any
    readonly: bool  # supplied by a registry: not the applicant's to answer
    provenance: Provenance | None
    error: Message | None


class Section(TypedDict):
    code: str
    title: str
    facts: list[Fact]


class ItemApplicability(TypedDict):
    code: str
    name: str
    department: str
    applies: bool
    condition: str | None


class ChecklistMaterial(TypedDict):
    code: str
    name: str
    items: list[str]
    status: Literal["upload", "exempt"]
    accepted_types: list[str]
    max_bytes: int


class UploadRules(TypedDict):
    url: str
    accepted_types: list[str]
    max_bytes: int


class Form(TypedDict):
    matter: str
    prefilled: bool
    sections: list[Section]
    conditional_facts: list[Fact]
    items: list[ItemApplicability]
    checklist: list[ChecklistMaterial]
    upload: UploadRules
    errors: dict[str, Message]
    ignored_answers: list[str]


class Upload(TypedDict):
    token: str
    matter: str
    material: str
    filename: str
    size: int
    content_type: str
    expires_at: str


class ResultValue(TypedDict):
    key: str
    label: str
    label_en: str
    value: str


class CertificateRef(TypedDict):
    public_id: str
    number: str
    document_type: str  # 出生医学证明, 户口登记结果, 营业执照…
    result_data: list[ResultValue]  # what the department recorded (citizen IDs masked)
    issued_at: str
    verify_url: str
    verification_url: str
    download_url: str


class MaterialRef(TypedDict):
    code: str
    name: str
    name_en: str


class CorrectionRequest(TypedDict):
    note: str
    facts: list[Fact]
    materials: list[MaterialRef]


class ItemStatus(TypedDict):
    id: int | None  # null until the process routes the item
    item: str
    name: str
    department: str
    status: str  # processing, correction, approved, rejected, not_applicable...
    comment: str | None
    result_number: str | None
    auto: bool
    certificate: CertificateRef | None  # the applicant's view only
    correction: CorrectionRequest | None  # the applicant's view only


class Case(TypedDict):
    id: int
    number: str | None
    matter: str
    status: str  # processing, correction, completed...
    outcome: str | None
    items: list[ItemStatus]


class NextStep(TypedDict):
    kind: str  # instant, in_person, wait, waiting, correction, delivery, track, inbox
    text: str
    text_en: str


class CaseSubmitted(Case):
    """The answer to a submission: the case, and what happens next (the confirmation's list)."""

    next_steps: list[NextStep]
    case_url: str


class DraftFile(TypedDict):
    material: str
    filename: str
    size: int
    token: str  # name it in the submission's `materials`
    expires_at: str


class Draft(TypedDict):
    """A saved, unfinished application (保存草稿), the citizen's alone until it expires."""

    matter: str
    answers: dict[str, Any]
    manual: bool
    saved_at: str
    expires_at: str
    files: list[DraftFile]


class UploadRef(TypedDict):
    id: int
    material: str
    filename: str
    content_type: str
    size: int
    url: str


class Event(TypedDict):
    at: str
    kind: str
    message: str


class PathFact(TypedDict):
    key: str
    label: str
    shown: str  # as the applicant gave it, ID and bank card numbers masked


class PathStep(TypedDict):
    position: int  # 1-based, in the order the process takes the items
    item: str
    name: str
    department: str
    department_name: str
    state: str  # done, in_progress, correction, waiting, not_needed
    state_label: str
    waits_for: list[str]  # waiting: the earlier items' codes
    rule: str | None  # not needed: the rule that decided it
    facts: list[PathFact]  # not needed: the facts the rule read (the applicant's view only)


class CaseDetail(Case):
    status_label: str
    uploads: list[UploadRef] | None  # null for a department's clerk
    history: list[Event] | None
    results_url: str | None
    path: list[PathStep]  # every item of the matter, in process order


class CertificateCheck(TypedDict):
    valid: bool
    genuine: bool
    revoked: bool
    number: str
    item: str
    holder: str  # masked
    issuer: str
    issued_on: str
    verify_url: str


class FileVerification(TypedDict):
    verdict: Literal["genuine", "altered", "unknown"]
    certificate: CertificateCheck | None


class Task(TypedDict):
    id: int
    case_id: int  # the case the task is an item of
    item: str
    name: str
    due_date: str


class Claim(TypedDict):
    id: int
    status: str
    claimed_by: int | None
    claimed_by_name: str | None


class Correctable(TypedDict):
    key: str  # a fact's key, or material_<code>
    label: str


class TaskFact(TypedDict):
    key: str
    type: str
    value: Any  # masked when `masked`
    masked: bool
    source: dict[str, Any] | None  # null: typed by the applicant


class ResultField(TypedDict):
    key: str
    label: str
    label_en: str
    type: str  # text, date, citizen_id, uscc, number, amount, integer
    required: bool
    max_length: int


class TaskDetail(TypedDict):
    id: int
    case_id: int
    status: str
    claimed_by: int | None
    correction: dict[str, Any] | None
    reject_reasons: list[str]
    results: list[ResultField]  # what an approval records (`result_data`)
    result_data: list[ResultValue]  # what was recorded (citizen IDs masked)
    correctable: list[Correctable]
    facts: list[TaskFact]
    uploads: list[UploadRef]


class Problem(TypedDict, total=False):
    """RFC 9457 problem details, as every error answer of the API carries them."""

    type: str
    title: str
    title_en: str
    status: int
    code: str  # stable: invalid_input, not_found, conflict, duplicate_application...
    detail: str
    detail_en: str
    fields: dict[str, Message]  # invalid_input: what is wrong, per fact or material_<code>
    link: str | None  # what the error is about, e.g. the case an application repeats
    reference: str | None  # a 500's reference, for the operators


class ProblemError(Exception):
    """An error answer of the API, with its problem details."""

    def __init__(self, status: int, problem: Problem) -> None:
        self.status = status
        self.problem = problem
        text = problem.get("detail_en") or problem.get("detail") or problem.get("title", "")
        super().__init__(f"HTTP {status} {self.code}: {text}")

    @property
    def code(self) -> str:
        return self.problem.get("code", f"http_{self.status}")

    @property
    def title(self) -> str:
        return self.problem.get("title", "")

    @property
    def detail(self) -> str:
        return self.problem.get("detail", "")

    @property
    def fields(self) -> dict[str, Message]:
        return self.problem.get("fields", {})

    @classmethod
    def of(cls, response: httpx.Response) -> "ProblemError":
        try:
            problem = response.json()
        except ValueError:  # not JSON: a proxy's page, say
            problem = {"status": response.status_code, "detail": response.text[:200]}
        if not isinstance(problem, dict):
            problem = {"status": response.status_code}
        return cls(response.status_code, problem)


# --- the operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI document, as the client calls it."""

    method: str
    path: str  # the document's template: "/api/v1/cases/{case_id}"
    request: Any = None  # the body's TypedDict
    response: Any = None  # the 2xx answer's type: a TypedDict, list[...], bytes, or None
    status: int = 200
    content: str = JSON  # the body's media type
    returns: tuple[str, ...] = (JSON,)  # the 2xx answer's media types
    query: tuple[str, ...] = ()  # the query parameters the method may send


def asked_facts(form: Form) -> dict[str, Fact]:
    """The facts a form asks now, by key (its sections', in order)."""
    return {fact["key"]: fact for section in form["sections"] for fact in section["facts"]}


def uploads_needed(form: Form) -> list[ChecklistMaterial]:
    """The materials the applicant must upload (the others come from the registries)."""
    return [entry for entry in form["checklist"] if entry["status"] == "upload"]


class OneThingClient:
    """The API as methods, one per operation; sign in with `login` (a bearer token), or use a
    client signed in already (`token`)."""

    OPERATIONS: ClassVar[dict[str, Operation]] = {
        "login": Operation("POST", "/api/v1/login", LoginRequest, LoginResult),
        "logout": Operation("POST", "/api/v1/logout", status=204, returns=()),
        "matters": Operation("GET", "/api/v1/matters", response=list[Matter]),
        "consent": Operation("POST", "/api/v1/matters/{code}/consent", response=Consent),
        "form": Operation("GET", "/api/v1/matters/{code}/form", response=Form, query=("manual",)),
        "evaluate_form": Operation("POST", "/api/v1/matters/{code}/form", FormAnswers, Form),
        "upload": Operation(
            "POST", "/api/v1/uploads", UploadForm, Upload, status=201, content=MULTIPART
        ),
        "submit": Operation("POST", "/api/v1/cases", CaseCreate, CaseSubmitted, status=201),
        "draft": Operation("GET", "/api/v1/matters/{code}/draft", response=Draft),
        "save_draft": Operation("PUT", "/api/v1/matters/{code}/draft", FormAnswers, Draft),
        "discard_draft": Operation(
            "DELETE", "/api/v1/matters/{code}/draft", status=204, returns=()
        ),
        "cases": Operation("GET", "/api/v1/cases", response=list[Case], query=("limit", "offset")),
        "case": Operation("GET", "/api/v1/cases/{case_id}", response=CaseDetail),
        "correct": Operation(
            "POST",
            "/api/v1/cases/{case_id}/items/{item_id}/correction",
            CorrectionCreate,
            ItemStatus,
        ),
        "certificate": Operation(
            "GET",
            "/api/v1/cases/{case_id}/items/{item_id}/certificate",
            response=bytes,
            returns=(PDF,),
        ),
        "material": Operation(
            "GET", "/api/v1/uploads/{upload_id}", response=bytes, returns=MATERIAL_TYPES
        ),
        "verify": Operation(
            "POST", "/api/v1/verify", VerifyForm, FileVerification, content=MULTIPART
        ),
        "tasks": Operation("GET", "/api/v1/tasks", response=list[Task], query=("limit", "offset")),
        "task": Operation("GET", "/api/v1/tasks/{task_id}", response=TaskDetail),
        "claim": Operation("POST", "/api/v1/tasks/{task_id}/claim", response=Claim),
        "complete": Operation("POST", "/api/v1/tasks/{task_id}/complete", TaskDecision, ItemStatus),
    }

    def __init__(
        self,
        http: httpx.Client | str,
        *,
        token: str | None = None,
        retries: int = 2,
        timeout: float = 30.0,
    ) -> None:
        self._own = isinstance(http, str)
        self.http = httpx.Client(base_url=http, timeout=timeout) if isinstance(http, str) else http
        self.token = token
        self.retries = retries

    def __enter__(self) -> "OneThingClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self.http.close()

    # --- everyone

    def login(self, username: str, password: str) -> LoginResult:
        """Sign in: the bearer token is kept for the calls that follow."""
        body: LoginRequest = {"username": username, "password": password}
        result: LoginResult = self._call("login", json=body)
        self.token = result["token"]
        return result

    def logout(self) -> None:
        self._call("logout")
        self.token = None

    def matters(self) -> list[Matter]:
        return self._call("matters")

    def verify(self, pdf: bytes, *, public_id: str | None = None) -> FileVerification:
        """Is this certificate file genuine, altered or unknown? (No sign-in needed.)"""
        form: VerifyForm = {"file": pdf}
        if public_id is not None:
            form["public_id"] = public_id
        return self._call("verify", form=form, filename="certificate.pdf")

    # --- the citizen

    def consent(self, code: str) -> Consent:
        """Authorize the matter's registry lookups: the form is then prefilled."""
        return self._call("consent", code=code)

    def form(self, code: str, *, manual: bool = False) -> Form:
        return self._call("form", code=code, params={"manual": "true"} if manual else None)

    def evaluate_form(self, code: str, answers: dict[str, Any], *, manual: bool = False) -> Form:
        """The form for the answers so far: what their conditions switch on, what is invalid."""
        body: FormAnswers = {"answers": answers, "manual": manual}
        return self._call("evaluate_form", code=code, json=body)

    def upload(self, matter: str, material: str, filename: str, content: bytes) -> Upload:
        """Keep one material's file for an application or a correction: name it by `token`."""
        form: UploadForm = {"matter": matter, "material": material, "file": content}
        return self._call("upload", form=form, filename=filename)

    def submit(
        self,
        matter: str,
        answers: dict[str, Any],
        materials: dict[str, str] | None = None,
        *,
        consent: bool | None = None,
        idempotency_key: str | None = None,
    ) -> CaseSubmitted:
        """Apply: the answers, and the materials by their upload tokens. The answer says what
        happens next (`next_steps`)."""
        body: CaseCreate = {"matter": matter, "answers": answers, "materials": materials or {}}
        if consent is not None:
            body["consent"] = consent
        return self._call("submit", json=body, key=idempotency_key)

    def draft(self, code: str) -> Draft:
        """The saved draft of the matter's application (ProblemError 404 when there is none)."""
        return self._call("draft", code=code)

    def save_draft(self, code: str, answers: dict[str, Any], *, manual: bool = False) -> Draft:
        """Save the application unfinished, to resume later (from any sign-in)."""
        body: FormAnswers = {"answers": answers, "manual": manual}
        return self._call("save_draft", code=code, json=body)

    def discard_draft(self, code: str) -> None:
        self._call("discard_draft", code=code)

    def cases(self, *, limit: int = 50, offset: int = 0) -> list[Case]:
        return self._call("cases", params={"limit": limit, "offset": offset})

    def case(self, case_id: int) -> CaseDetail:
        return self._call("case", case_id=case_id)

    def correct(
        self,
        case_id: int,
        item_id: int,
        answers: dict[str, Any] | None = None,
        materials: dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ItemStatus:
        """Send what a department asked to correct (the item's `correction`)."""
        body: CorrectionCreate = {"answers": answers or {}, "materials": materials or {}}
        return self._call(
            "correct", case_id=case_id, item_id=item_id, json=body, key=idempotency_key
        )

    def certificate(self, case_id: int, item_id: int) -> bytes:
        """An approved item's signed certificate (PDF)."""
        return self._call("certificate", case_id=case_id, item_id=item_id)

    def material(self, upload_id: int) -> bytes:
        """An uploaded material of a case (the applicant's, or a clerk's whose item needs it)."""
        return self._call("material", upload_id=upload_id)

    # --- the clerk

    def tasks(self, *, limit: int = 50, offset: int = 0) -> list[Task]:
        """The ready tasks of the clerk's department, oldest due first."""
        return self._call("tasks", params={"limit": limit, "offset": offset})

    def task(self, task_id: int) -> TaskDetail:
        return self._call("task", task_id=task_id)

    def claim(self, task_id: int) -> Claim:
        return self._call("claim", task_id=task_id)

    def complete(
        self,
        task_id: int,
        decision: Literal["approved", "rejected", "correction"],
        *,
        reason: str = "",
        comment: str = "",
        reopen: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> ItemStatus:
        """Approve, reject (with a `reason` from the task's list) or send back for correction
        (`reopen` naming what, `comment` saying why)."""
        body: TaskDecision = {"decision": decision}
        if reason:
            body["reason"] = reason
        if comment:
            body["comment"] = comment
        if reopen:
            body["reopen"] = list(reopen)
        return self._call("complete", task_id=task_id, json=body, key=idempotency_key)

    # --- the wire

    def _call(
        self,
        name: str,
        *,
        json: Any = None,
        form: Any = None,
        filename: str = "upload",
        params: dict[str, Any] | None = None,
        key: str | None = None,
        **path: Any,
    ) -> Any:
        operation = self.OPERATIONS[name]
        url = operation.path.format(**{k: quote(str(v), safe="") for k, v in path.items()})
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if operation.method == "POST":
            headers["Idempotency-Key"] = key or uuid.uuid4().hex
        body: dict[str, Any] = {}
        if form is not None:
            body["data"] = {k: v for k, v in form.items() if not isinstance(v, bytes)}
            body["files"] = {
                k: (filename, v, "application/octet-stream")
                for k, v in form.items()
                if isinstance(v, bytes)
            }
        elif json is not None:
            body["json"] = json
        request = self.http.build_request(
            operation.method, url, params=params, headers=headers, **body
        )
        request.read()  # the same bytes on a retry: the key's request, unchanged
        response = self._send(request)
        if not response.is_success:
            raise ProblemError.of(response)
        if operation.response is bytes:
            return response.content
        if operation.response is None:
            return None
        return response.json()

    def _send(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return self.http.send(request)
            except httpx.TransportError:  # no answer: send it again, with the same key
                if attempt >= self.retries:
                    raise
                attempt += 1
