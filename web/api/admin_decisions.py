"""Decision tables (DMN) over the API: read, check, run their test cases (the pages:
web/routes/decisions.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from services import decisions, processes
from services.decision_tests import MAX_CASES, MAX_NAME, CaseResult
from services.decisions import MAX_DMN_BYTES, MatterDecision
from services.runtime import Runtime
from web.api.admin import too_large
from web.api.admin_processes import REFUSED, VersionPublic, _deployed, _refused
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit

router = api_router(prefix="/admin/decisions", tags=["api: processes"])

DecisionId = Annotated[
    str, Path(max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$", examples=["x_check"])
]
BODY_LIMIT = 2 * MAX_DMN_BYTES


# ---------------------------------------------------------------- shapes


class ColumnPublic(BaseModel):
    id: str
    label: str
    text: str = Field(description="An input's expression, or an output's name")
    type_ref: str


class TestCase(BaseModel):
    """A test case: the variables the table reads, and the outputs it must give."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "证照已核验、随母落户：秒批",
                    "inputs": {"household_parent": "mother"},
                    "expected": {"check_decision": "approved"},
                }
            ]
        }
    )

    name: str = Field(default="", max_length=MAX_NAME)
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Variable -> value (absent: null, as in a case)"
    )
    expected: dict[str, Any] = Field(description="Output name -> the value it must have")


class DecisionPublic(BaseModel):
    """A decision of a matter's process: its DMN file and its test cases."""

    matter: str
    decision_id: str
    name: str
    filename: str
    xml: str = Field(description="The DMN file's XML (the deployed version's, else bpmn/'s)")
    inputs: list[ColumnPublic]
    outputs: list[ColumnPublic]
    variables: list[str] = Field(description="Every name the table reads: a case's inputs")
    cases: list[TestCase]
    deployed_version: int | None = Field(description="null: the built-in file in bpmn/")


class DecisionRowPublic(BaseModel):
    decision_id: str
    name: str
    rules: int


class CasesIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cases": [
                        {
                            "name": "出生医学证明未核验：人工审核",
                            "inputs": {"prefilled": {}, "household_parent": "mother"},
                            "expected": {"check_decision": "review"},
                        }
                    ]
                }
            ]
        }
    )

    cases: list[TestCase] = Field(max_length=MAX_CASES)


class RunIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"xml": None, "cases": None}]})

    xml: str | None = Field(
        default=None, max_length=MAX_DMN_BYTES, description="A candidate DMN (null: current)"
    )
    cases: list[TestCase] | None = Field(
        default=None, max_length=MAX_CASES, description="Cases to run (null: those saved)"
    )


class ResultPublic(BaseModel):
    name: str
    passed: bool
    inputs: dict[str, Any]
    expected: dict[str, Any]
    actual: dict[str, Any] = Field(description="The outputs the table gave ({}: no rule hit)")
    mismatches: list[str] = Field(description="Outputs that differ from the expected")
    error: str | None = Field(description="Why the table could not be evaluated")
    error_en: str | None


class RunPublic(BaseModel):
    ok: bool = Field(description="Every case passed")
    results: list[ResultPublic]


class DeployDecisionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"xml": '<?xml version="1.0"?><definitions …/>'}]}
    )

    xml: str = Field(max_length=MAX_DMN_BYTES, description="The DMN file's new XML")
    comment: str = Field(default="", max_length=500, description="Why this version")


# ---------------------------------------------------------------- shared with the pages


def decision_public(found: MatterDecision) -> DecisionPublic:
    def columns(found_columns) -> list[ColumnPublic]:
        return [
            ColumnPublic(id=c.id, label=c.label, text=c.text, type_ref=c.type_ref)
            for c in found_columns
        ]

    return DecisionPublic(
        matter=found.matter,
        decision_id=found.table.id,
        name=found.table.name,
        filename=found.filename,
        xml=found.xml,
        inputs=columns(found.table.inputs),
        outputs=columns(found.table.outputs),
        variables=list(found.table.variables),
        cases=[TestCase(**case) for case in found.cases],
        deployed_version=found.deployed.version if found.deployed else None,
    )


def run_public(results: list[CaseResult]) -> RunPublic:
    return RunPublic(
        ok=all(r.passed for r in results),
        results=[
            ResultPublic(
                name=r.name,
                passed=r.passed,
                inputs=r.inputs,
                expected=r.expected,
                actual=r.actual,
                mismatches=r.mismatches,
                error=r.error[0] if r.error else None,
                error_en=r.error[1] if r.error else None,
            )
            for r in results
        ],
    )


def _plain(cases: list[TestCase] | None) -> list[dict] | None:
    return None if cases is None else [case.model_dump() for case in cases]


def decision_rows(session: Session, rt: Runtime, matter_code: str) -> list[DecisionRowPublic]:
    return [
        DecisionRowPublic(decision_id=t.id, name=t.name, rules=t.rules)
        for t in decisions.matter_tables(session, rt, matter_code=matter_code)
    ]


# ---------------------------------------------------------------- operations


@router.get("/{matter_code}", response_model=list[DecisionRowPublic])
def decision_list(matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """The decision tables the matter's process may call now."""
    matter = processes.matter_of(rt, matter_code)
    return decision_rows(session, rt, matter.code)


@router.get("/{matter_code}/{decision_id}", response_model=DecisionPublic)
def decision(
    matter_code: Code, decision_id: DecisionId, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """The decision's DMN (the deployed version's, else the file in bpmn/) and test cases."""
    return decision_public(
        decisions.get(session, rt, matter_code=matter_code, decision_id=decision_id)
    )


@router.put(
    "/{matter_code}/{decision_id}/cases",
    response_model=list[TestCase],
    dependencies=[CsrfChecked],
    responses=too_large(BODY_LIMIT),
)
@body_limit(BODY_LIMIT)
def save_cases(
    body: CasesIn,
    matter_code: Code,
    decision_id: DecisionId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Replace the decision's test cases (checked: inputs the table reads, outputs it has);
    they count from the next deploy on. An empty list refuses every deploy until cases are
    added."""
    saved = decisions.save_cases(
        session,
        rt,
        matter_code=matter_code,
        decision_id=decision_id,
        cases=_plain(body.cases),
        author=user,
    )
    return [TestCase(**case) for case in saved]


@router.post(
    "/{matter_code}/{decision_id}/run",
    response_model=RunPublic,
    dependencies=[CsrfChecked],
    responses=too_large(BODY_LIMIT),
)
@body_limit(BODY_LIMIT)
def run(
    body: RunIn,
    matter_code: Code,
    decision_id: DecisionId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Run test cases (given, else saved) on a candidate table (given, else the current one),
    as a business-rule task would; nothing is stored."""
    results = decisions.run(
        session,
        rt,
        matter_code=matter_code,
        decision_id=decision_id,
        xml=body.xml,
        cases=_plain(body.cases),
    )
    return run_public(results)


@router.post(
    "/{matter_code}/{decision_id}/deploy",
    response_model=VersionPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={**REFUSED, **too_large(BODY_LIMIT)},
)
@body_limit(BODY_LIMIT)
def deploy(
    body: DeployDecisionIn,
    matter_code: Code,
    decision_id: DecisionId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Deploy the table as a new version of the matter's process (same BPMN, this DMN file
    replaced). 422 when it is refused: a failing test case names the decision and the case."""
    try:
        version = decisions.deploy(
            session,
            rt,
            matter_code=matter_code,
            decision_id=decision_id,
            xml=body.xml,
            author=user,
            comment=body.comment,
        )
    except processes.Refused as exc:
        return _refused(exc)
    return _deployed(session, version)
