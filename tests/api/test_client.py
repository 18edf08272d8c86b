"""The example client (examples/onething_client.py) proves the API: every operation it calls is
in the OpenAPI document with the shapes it sends and reads, and through it alone a demo citizen
applies for each of the ten matters (consent, the form re-evaluated, uploads), answers a
correction, and downloads and verifies every certificate, while each department's clerk claims
and decides its tasks."""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from types import SimpleNamespace
from typing import Any, Literal, TypedDict, cast

import httpx
import pytest

from demo.seed import DEMO_PASSWORD
from examples.onething_client import (
    JSON,
    CaseCreate,
    Fact,
    Form,
    OneThingClient,
    Operation,
    Problem,
    ProblemError,
    TaskDetail,
    asked_facts,
    uploads_needed,
)
from services.runtime import Runtime
from tests.forms.test_matters import (
    APPLICATIONS,
    FIRST_ROUTED,
    INSTANT,
    LOGINS,
    PDF,
    SAMPLES,
    common_for,
)
from web.app import create_app

# --- the client against the document -------------------------------------------------------------


@functools.cache
def document() -> dict:
    """The OpenAPI document (of an app made for it alone: no database)."""
    return create_app(cast(Runtime, SimpleNamespace())).openapi()


def _resolve(schema: dict, doc: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _arms(schema: dict, doc: dict) -> list[dict]:
    """The alternatives a schema allows (its anyOf/oneOf), each resolved."""
    schema = _resolve(schema, doc)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [arm for part in schema[keyword] for arm in _arms(part, doc)]
    if len(schema.get("allOf", ())) == 1:
        return _arms(schema["allOf"][0], doc)
    return [schema]


PRIMITIVES: dict[Any, tuple[str, ...]] = {
    str: ("string",),
    bytes: ("string",),  # a file in a multipart body
    int: ("integer",),
    float: ("number", "integer"),
    bool: ("boolean",),
    type(None): ("null",),
}
SHAPED = ("type", "properties", "items", "enum", "const")


def mismatches(annotation: Any, schema: dict, doc: dict, where: str) -> list[str]:
    """What of `annotation` (a type the client sends or reads) the schema does not allow."""
    if annotation is Any:
        return []
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [
            found
            for arm in typing.get_args(annotation)
            for found in mismatches(arm, schema, doc, where)
        ]
    arms = _arms(schema, doc)
    if any(not any(keyword in arm for keyword in SHAPED) for arm in arms):
        return []  # the schema allows any value
    tried = [_fits(annotation, arm, doc, where) for arm in arms]
    return [] if [] in tried else min(tried, key=len)


def _fits(annotation: Any, schema: dict, doc: dict, where: str) -> list[str]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    kind = schema.get("type")
    if typing.is_typeddict(annotation):
        if kind != "object" and "properties" not in schema:
            return [f"{where}: the document has no object here"]
        properties = schema.get("properties", {})
        found = []
        for key, hint in typing.get_type_hints(annotation).items():
            if key not in properties:
                found.append(f"{where}.{key}: not in the document")
            else:
                found += mismatches(hint, properties[key], doc, f"{where}.{key}")
        return found
    if origin is list:
        if kind != "array":
            return [f"{where}: the document has no array here"]
        return mismatches(args[0], schema.get("items", {}), doc, f"{where}[]")
    if origin is dict:
        if kind != "object":
            return [f"{where}: the document has no object here"]
        values = schema.get("additionalProperties", True)
        return [] if values is True else mismatches(args[1], values, doc, f"{where}{{}}")
    if origin is Literal:
        allowed = schema.get("enum", [schema["const"]] if "const" in schema else None)
        if allowed is not None:
            extra = set(args) - set(allowed)
            return [f"{where}: {sorted(extra)} not among {allowed}"] if extra else []
        return [
            found
            for value in args
            for found in _fits(type(value), schema, doc, f"{where}={value!r}")
        ]
    if annotation in PRIMITIVES:
        if kind in PRIMITIVES[annotation]:
            return []
        return [f"{where}: {annotation.__name__} where the document has {kind}"]
    return [f"{where}: the check does not know {annotation!r}"]


def operation_mismatches(name: str, operation: Operation, doc: dict) -> list[str]:
    """Where the client's idea of an operation differs from the document's."""
    where = f"{name} ({operation.method} {operation.path})"
    documented = doc["paths"].get(operation.path, {}).get(operation.method.lower())
    if documented is None:
        return [f"{where}: no such operation"]
    found = []
    parameters = {(p["in"], p["name"]) for p in documented.get("parameters", [])}
    found += [
        f"{where}: no query parameter {query}"
        for query in operation.query
        if ("query", query) not in parameters
    ]
    body = documented.get("requestBody") or {}
    if operation.request is None:
        if body.get("required"):
            found.append(f"{where}: the operation takes a body the client does not send")
    elif operation.content not in body.get("content", {}):
        found.append(f"{where}: the operation takes no {operation.content} body")
    else:
        schema = _resolve(body["content"][operation.content]["schema"], doc)
        found += mismatches(operation.request, schema, doc, f"{where} request")
        missing = set(schema.get("required", ())) - operation.request.__required_keys__
        found += [f"{where} request.{key}: required, and not always sent" for key in missing]
    answer = documented["responses"].get(str(operation.status))
    if answer is None:
        return [*found, f"{where}: no {operation.status} answer"]
    content = answer.get("content", {})
    if set(content) != set(operation.returns):
        found.append(f"{where}: answers {sorted(content)}, not {list(operation.returns)}")
    elif operation.response not in (None, bytes):
        schema = content[JSON]["schema"]
        found += mismatches(operation.response, schema, doc, f"{where} answer")
    return found


def test_every_operation_of_the_client_is_documented_with_the_shapes_it_uses():
    doc = document()
    for name, operation in OneThingClient.OPERATIONS.items():
        assert operation_mismatches(name, operation, doc) == []
    # And the errors: every 4xx the client reads is the document's problem details.
    problem = doc["components"]["schemas"]["InvalidInputPublic"]
    assert mismatches(Problem, problem, doc, "problem") == []


class _Misspelled(TypedDict):
    matter: str
    answer: dict[str, Any]  # the document says `answers`


class _BadSection(TypedDict):
    code: int  # a string in the document
    facts: list[_Misspelled]


class _BadForm(TypedDict):
    sections: list[_BadSection]
    checklist: list[dict[str, Any]]
    upload: str  # an object in the document


class _NoMatter(TypedDict, total=False):
    answers: dict[str, Any]


class _WrongDecision(TypedDict):
    decision: Literal["approved", "granted"]


def test_the_check_finds_what_the_document_does_not_say():
    doc = document()
    submit, matters = OneThingClient.OPERATIONS["submit"], OneThingClient.OPERATIONS["matters"]
    wrong = {  # an operation the client might get wrong, and what the check then says
        "unknown path": (Operation("GET", "/api/v1/nowhere"), "no such operation"),
        "wrong method": (Operation("DELETE", "/api/v1/cases"), "no such operation"),
        "misspelled key": (
            Operation("POST", "/api/v1/cases", _Misspelled, status=201),
            "request.answer: not in the document",
        ),
        "required key not sent": (
            Operation("POST", "/api/v1/cases", _NoMatter, status=201),
            "request.matter: required",
        ),
        "not a documented choice": (
            Operation("POST", "/api/v1/tasks/{task_id}/complete", _WrongDecision),
            "['granted'] not among",
        ),
        "a list read as one": (
            Operation("GET", "/api/v1/matters", response=Form),
            "answer: the document has no object here",
        ),
        "wrong status": (Operation("POST", "/api/v1/cases", CaseCreate), "no 200 answer"),
        "json instead of a file": (
            Operation("GET", "/api/v1/cases/{case_id}/items/{item_id}/certificate", response=Form),
            "answers ['application/pdf']",
        ),
        "json body instead of multipart": (
            Operation("POST", "/api/v1/uploads", _Misspelled, status=201),
            "takes no application/json body",
        ),
        "unknown query parameter": (
            Operation("GET", "/api/v1/matters", response=matters.response, query=("page",)),
            "no query parameter page",
        ),
        "body not sent": (
            Operation(submit.method, submit.path, status=201),
            "takes a body the client does not send",
        ),
    }
    for case, (operation, said) in wrong.items():
        found = operation_mismatches(case, operation, doc)
        assert any(said in message for message in found), (case, found)
    nested = operation_mismatches(
        "nested", Operation("GET", "/api/v1/matters/{code}/form", response=_BadForm), doc
    )
    assert any(".sections[].code: int where the document has string" in m for m in nested)
    assert any(".sections[].facts[].answer: not in the document" in m for m in nested)
    assert any(".upload: str where the document has object" in m for m in nested)


def _placeholder(annotation: Any) -> Any:
    if typing.get_origin(annotation) is Literal:
        return typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation) or annotation
    return {str: "x", int: 7, bytes: b"%PDF-1.4\n", dict: {}}[origin]


def test_each_method_calls_the_operation_it_is_tagged_with():
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"token": "t"})

    http = httpx.Client(base_url="http://onething.test", transport=httpx.MockTransport(answer))
    client = OneThingClient(http, token="t")
    methods = {
        name
        for name, _ in inspect.getmembers(OneThingClient, inspect.isfunction)
        if not name.startswith("_") and name != "close"
    }
    assert methods == set(OneThingClient.OPERATIONS)
    for name, operation in OneThingClient.OPERATIONS.items():
        method = getattr(client, name)
        arguments = [
            _placeholder(parameter.annotation)
            for parameter in inspect.signature(method).parameters.values()
            if parameter.default is inspect.Parameter.empty
            and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
        ]
        sent.clear()
        client.token = "t"  # (signing out forgets it)
        method(*arguments)
        [request] = sent
        template = re.sub(r"\{\w+\}", "[^/]+", operation.path)
        assert (request.method, bool(re.fullmatch(template, request.url.path))) == (
            operation.method,
            True,
        ), name
        assert request.headers["Authorization"] == "Bearer t"
        assert ("Idempotency-Key" in request.headers) is (operation.method == "POST"), name
        if operation.content != JSON:
            assert request.headers["Content-Type"].startswith(operation.content), name


def test_a_retry_after_a_network_error_is_the_same_request_under_the_same_key():
    sent: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            raise httpx.ConnectError("the line dropped", request=request)
        return httpx.Response(201, json={"token": "k"})

    http = httpx.Client(base_url="http://onething.test", transport=httpx.MockTransport(flaky))
    OneThingClient(http, token="t").upload("newborn", "marriage_certificate", "a.pdf", b"%PDF")
    first, second = sent
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.content == second.content  # the same multipart boundary: the same fingerprint


def test_an_error_answer_raises_its_problem_details():
    problem = {
        "type": "urn:onething:problem:invalid_input",
        "title": "输入有误",
        "status": 422,
        "code": "invalid_input",
        "detail": "请上传材料",
        "detail_en": "Upload the material",
        "fields": {"material_labor_contract": {"zh": "请上传", "en": "Upload it"}},
    }

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            422, json=problem, headers={"Content-Type": "application/problem+json"}
        )

    http = httpx.Client(base_url="http://onething.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(ProblemError) as refused:
        OneThingClient(http, token="t").submit("employment", {})
    error = refused.value
    assert (error.status, error.code, error.title, error.detail) == (
        422,
        "invalid_input",
        "输入有误",
        "请上传材料",
    )
    assert error.fields["material_labor_contract"]["en"] == "Upload it"
    assert "Upload the material" in str(error)


# --- every matter through the client ---------------------------------------------------------

ONE_PER_MATTER = [
    application
    for index, application in enumerate(APPLICATIONS)
    if application[0] not in {earlier[0] for earlier in APPLICATIONS[:index]}
]
CORRECTED = b"%PDF-1.4\n% the corrected copy\n"


def signed_in(http: httpx.Client, username: str) -> OneThingClient:
    client = OneThingClient(http)
    client.login(username, DEMO_PASSWORD)
    return client


def sample(fact: Fact) -> Any:
    """A valid answer of the fact's type: the first option of a choice."""
    if fact["type"] == "enum":
        return fact["options"][0]["value"]
    return SAMPLES[fact["type"]]


def fill_in(citizen: OneThingClient, code: str, answers: dict[str, Any]) -> tuple[dict, Form]:
    """The demo answers completed as a person fills in the form, the server re-evaluating it
    after each round for what the answers switched on."""
    for _round in range(4):
        form = citizen.evaluate_form(code, answers)
        assert form["errors"] == {} and form["ignored_answers"] == []
        missing = {
            key: sample(fact)
            for key, fact in asked_facts(form).items()
            if not fact["readonly"] and key not in answers
        }
        if not missing:
            return answers, form
        answers = {**answers, **missing}
    raise AssertionError(f"the form of {code} keeps asking more")


def reopen_of(view: TaskDetail) -> list[str]:
    """What a clerk sends back: a fact the applicant typed and a material, where the item has
    them."""
    correctable = [entry["key"] for entry in view["correctable"]]
    typed = [
        fact["key"]
        for fact in view["facts"]
        if fact["source"] is None and not fact["masked"] and fact["key"] in correctable
    ]
    materials = [key for key in correctable if key.startswith("material_")]
    return typed[:1] + materials[:1]


def correction_round(
    citizen: OneThingClient, clerk: OneThingClient, code: str, case_id: int, task_id: int
) -> None:
    """The clerk sends the task back; the applicant answers through the client; it resumes."""
    reopen = reopen_of(clerk.task(task_id))
    assert reopen
    note = "请核对并重新上传"
    sent_back = clerk.complete(task_id, "correction", comment=note, reopen=reopen)
    assert sent_back["status"] == "correction"
    [item] = [item for item in citizen.case(case_id)["items"] if item["id"] == task_id]
    asked = item["correction"]
    assert item["status"] == "correction" and asked is not None and asked["note"] == note
    named = [fact["key"] for fact in asked["facts"]]
    assert named + [f"material_{m['code']}" for m in asked["materials"]] == reopen
    with pytest.raises(ProblemError) as empty:
        citizen.correct(case_id, task_id)
    assert empty.value.code == "invalid_input" and set(empty.value.fields) == set(reopen)
    tokens = {
        m["code"]: citizen.upload(code, m["code"], f"{m['code']}-corrected.pdf", CORRECTED)["token"]
        for m in asked["materials"]
    }
    answers = {fact["key"]: fact["value"] for fact in asked["facts"]}
    resumed = citizen.correct(case_id, task_id, answers, tokens)
    assert resumed["status"] == "processing"
    uploads = clerk.task(task_id)["uploads"]
    for material in tokens:
        [new] = [u for u in uploads if u["filename"] == f"{material}-corrected.pdf"]
        assert clerk.material(new["id"]) == CORRECTED


@pytest.mark.parametrize(
    ("code", "role", "answers", "expected"),
    [pytest.param(*application, id=application[0]) for application in ONE_PER_MATTER],
)
def test_a_matter_runs_end_to_end_through_the_client(api, code, role, answers, expected):
    person = next(p for p in LOGINS if p.matter == code and p.role == role)
    citizen = signed_in(api, person.id_number)
    [matter] = [m for m in citizen.matters() if m["code"] == code]
    assert not citizen.form(code)["prefilled"]  # nothing read before the consent
    assert citizen.consent(code)["granted"]
    answers, form = fill_in(citizen, code, {**common_for(code), **answers})
    assert form["prefilled"]
    needed = [entry["code"] for entry in uploads_needed(form)]
    if needed:
        with pytest.raises(ProblemError) as refused:
            citizen.submit(code, answers)
        assert refused.value.status == 422
        assert {f"material_{c}" for c in needed} <= set(refused.value.fields)
    tokens = {c: citizen.upload(code, c, f"{c}.pdf", PDF)["token"] for c in needed}
    key = f"apply-{code}"
    case = citizen.submit(code, answers, tokens, idempotency_key=key)
    case_id = case["id"]
    assert citizen.submit(code, answers, tokens, idempotency_key=key)["id"] == case_id  # a retry
    assert {item["item"] for item in case["items"] if item["id"]} == FIRST_ROUTED.get(
        code, expected
    )
    assert {item["item"] for item in case["items"] if item["auto"]} == INSTANT.get(code, set())
    assert case_id in [mine["id"] for mine in citizen.cases()]

    clerks = {d["code"]: signed_in(api, f"{d['code']}01") for d in matter["departments"]}
    corrected = False
    for _round in range(10):
        waiting = [i for i in citizen.case(case_id)["items"] if i["status"] == "processing"]
        if not waiting:
            break
        for department in dict.fromkeys(item["department"] for item in waiting):
            clerk = clerks[department]
            for task in clerk.tasks():
                if task["case_id"] != case_id:
                    continue
                assert clerk.claim(task["id"])["claimed_by_name"]
                if not corrected:
                    correction_round(citizen, clerk, code, case_id, task["id"])
                    corrected = True
                decided = clerk.complete(task["id"], "approved")
                assert decided["status"] == "approved" and decided["result_number"]

    case = citizen.case(case_id)
    assert (case["status"], case["outcome"]) == ("completed", "approved")
    assert "corrected" in [event["kind"] for event in case["history"] or []]
    approved = [item for item in case["items"] if item["status"] == "approved"]
    assert {item["item"] for item in approved} == expected
    anyone = OneThingClient(api)  # checking a certificate needs no sign-in
    for item in approved:
        certificate = item["certificate"]
        assert certificate is not None and certificate["number"] == item["result_number"]
        assert certificate["download_url"] == (
            f"/api/v1/cases/{case_id}/items/{item['id']}/certificate"
        )
        pdf = citizen.certificate(case_id, item["id"])
        assert pdf.startswith(b"%PDF")
        checked = anyone.verify(pdf)
        assert checked["verdict"] == "genuine" and checked["certificate"] is not None
        assert checked["certificate"]["number"] == certificate["number"]
    assert anyone.verify(CORRECTED)["verdict"] == "unknown"
    token = citizen.token
    citizen.logout()
    with pytest.raises(ProblemError) as signed_out:
        OneThingClient(api, token=token).cases()
    assert (signed_out.value.status, signed_out.value.code) == (401, "not_signed_in")
