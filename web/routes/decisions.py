"""Decision tables (DMN) in the browser: dmn-js editor pages and their test cases (JSON twins:
web/api/admin_decisions.py).

The page is one form that works without script: the DMN as text, the test cases as rows (one
blank row to add a case, a "remove" box per row), and three buttons: save the cases, check
(run the cases on the table as posted) and deploy. With script, the dmn-js modeler shows the
table and writes its XML into the form before it is sent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services import decisions
from services.decision_tests import MAX_CASES
from services.decisions import MAX_DMN_BYTES
from services.errors import InvalidInput
from web.api.admin_decisions import DecisionId
from web.api.routing import PREFIX, twin
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.i18n import language
from web.limits import FORM_SLACK, body_limit
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: admin"])
API = f"{PREFIX}/admin/decisions"
# dmn-js, served by the app itself like bpmn-js (web/routes/processes.py): in an installed
# wheel, the copy the build put into the package (setup.py); in a checkout, node_modules.
_PACKAGED_DMN_JS = Path(__file__).parent.parent / "static" / "vendor" / "dmn-js"
_CHECKOUT_DMN_JS = Path(__file__).parent.parent.parent / "node_modules" / "dmn-js" / "dist"
VENDOR_DMN_JS = _PACKAGED_DMN_JS if _PACKAGED_DMN_JS.is_dir() else _CHECKOUT_DMN_JS
MODELER = "dmn-modeler.production.min.js"
_FIELD = re.compile(r"^case_(\d{1,4})_(name|remove|in|out)(?:_(.+))?$")
ACTIONS = ("save", "run", "deploy")


def dmn_assets_ready() -> bool:
    """The page can load the dmn-js modeler (else it shows the table as XML text only)."""
    return (VENDOR_DMN_JS / MODELER).is_file()


def typed(text: str) -> Any:
    """A value as typed in a form: JSON when it reads as JSON (180, true, "180", {...}), else
    the text itself (mother)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def shown(value: Any) -> str:
    """A value as a form field shows it: text as itself unless it would read back otherwise."""
    if isinstance(value, str) and typed(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


async def posted_cases(request: Request) -> list[dict]:
    """The test cases of the page's form (`case_<n>_name`, `case_<n>_in_<variable>`,
    `case_<n>_out_<output>`, `case_<n>_remove`), in row order: rows left blank or marked for
    removal are left out (read from the body the form parameters parse: I/O only)."""
    rows: dict[int, dict] = {}
    for key, value in (await request.form()).multi_items():
        found = _FIELD.match(key)
        if found is None or not isinstance(value, str):
            continue
        row = rows.setdefault(int(found[1]), {"name": "", "inputs": {}, "expected": {}})
        kind, name, value = found[2], found[3], value.strip()
        if kind == "remove":
            row["remove"] = True
        elif kind == "name":
            row["name"] = value
        elif name and value:
            row["inputs" if kind == "in" else "expected"][name] = typed(value)
    cases = [
        {k: v for k, v in row.items() if k != "remove"}
        for _n, row in sorted(rows.items())
        if not row.get("remove") and (row["name"] or row["inputs"] or row["expected"])
    ]
    if len(cases) > MAX_CASES:
        raise InvalidInput(
            "cases", f"测试用例最多 {MAX_CASES} 个", f"at most {MAX_CASES} test cases"
        )
    return cases


def _page(
    request, session, rt, matter_code: str, decision_id: str, *, xml=None, cases=None, **shown_
):
    current = decisions.get(session, rt, matter_code=matter_code, decision_id=decision_id)
    error = shown_.get("error")
    config = {
        "matter": current.matter,
        "decision": decision_id,
        "lang": language(request),
    }
    return render(
        request,
        "admin/decision.html",
        status_code=422 if error else 200,
        current=current,
        xml=current.xml if xml is None else xml,
        cases=current.cases if cases is None else cases,
        shown=shown,
        assets_ready=dmn_assets_ready(),
        decision_config=config,
        error=error,
        results=shown_.get("results"),
        saved=shown_.get("saved", False),
    )


@router.get("/admin/processes/{matter_code}/decisions/{decision_id}", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/{{decision_id}}")
def decision_page(
    request: Request,
    matter_code: Code,
    decision_id: DecisionId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    return _page(request, session, rt, matter_code, decision_id)


@router.post(
    "/admin/processes/{matter_code}/decisions/{decision_id}",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
@twin(
    f"PUT {API}/{{matter_code}}/{{decision_id}}/cases",
    f"POST {API}/{{matter_code}}/{{decision_id}}/run",
    f"POST {API}/{{matter_code}}/{{decision_id}}/deploy",
)
@body_limit(2 * MAX_DMN_BYTES + FORM_SLACK)
@answers(409)
def decision_post(
    request: Request,
    matter_code: Code,
    decision_id: DecisionId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    cases: Annotated[list[dict], Depends(posted_cases)],
    action: Annotated[str, Form(pattern="^(save|run|deploy)$", examples=["run"])],
    xml: Annotated[str, Form(max_length=MAX_DMN_BYTES, examples=["<definitions …/>"])] = "",
    comment: Annotated[str, Form(max_length=500, examples=["秒批条件增加随父落户"])] = "",
):
    """Save the test cases, run them on the posted table, or save them and deploy the table
    as a new version of the matter's process."""
    posted = xml or None
    try:
        if action == "run":
            results = decisions.run(
                session,
                rt,
                matter_code=matter_code,
                decision_id=decision_id,
                xml=posted,
                cases=cases,
            )
            return _page(
                request,
                session,
                rt,
                matter_code,
                decision_id,
                xml=posted,
                cases=cases,
                results=results,
            )
        decisions.save_cases(
            session,
            rt,
            matter_code=matter_code,
            decision_id=decision_id,
            cases=cases,
            author=user,
        )
        if action == "save":
            return _page(request, session, rt, matter_code, decision_id, xml=posted, saved=True)
        version = decisions.deploy(
            session,
            rt,
            matter_code=matter_code,
            decision_id=decision_id,
            xml=posted
            or decisions.get(session, rt, matter_code=matter_code, decision_id=decision_id).xml,
            author=user,
            comment=comment,
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(
            request, session, rt, matter_code, decision_id, xml=posted, cases=cases, error=exc
        )
    return RedirectResponse(
        f"/admin/processes/{version.matter}/decisions/{decision_id}?deployed={version.version}",
        status_code=303,
    )
