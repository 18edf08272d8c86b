"""Administrators edit the service catalog: data-dictionary facts, service items and matters,
saved as numbered versions with diff, rollback and export (JSON twins: web/api/admin_catalog.py).

The forms work without script. Lists are one entry per line; an entry with several parts
(a material, a result field, an option) writes them in a line separated by `|`, in the order
the field's hint names. A problem names its field (and line), and what was typed is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from forms.catalog import FACT_TYPES, RESULT_TYPES
from forms.sources import REGISTRIES
from services.configuration import catalog as editing
from services.errors import InvalidInput
from services.runtime import Runtime
from web.api.admin_catalog import (
    ENTRY_LIMIT,
    Kind,
    VersionNumber,
    catalog_public,
    diff_public,
    export_response,
    replay_all,
    versions_public,
)
from web.api.routing import twin
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit
from web.openapi import answers
from web.rendering import render

router = APIRouter(prefix="/admin/catalog", tags=["pages: admin"])
REPLAY_CASES = 20  # the newest cases of each matter a change is replayed on from the page

KIND_TITLES = {
    "fact": ("数据项", "Fact"),
    "item": ("事项", "Item"),
    "matter": ("一件事", "Matter"),
}
# Each kind's fields on the page: (name, kind of control, Chinese label, English label, hint)
_TEXT, _AREA, _LINES, _ROWS, _BOOL, _NUMBER, _CHOICE = (
    "text",
    "area",
    "lines",
    "rows",
    "bool",
    "number",
    "choice",
)
FIELDS: dict[str, list[tuple[str, str, str, str, str]]] = {
    "fact": [
        ("subject", _CHOICE, "所属对象（表单分组）", "Subject (form section)", ""),
        ("label", _TEXT, "名称", "Label", ""),
        ("label_en", _TEXT, "英文名称", "English label", ""),
        ("type", _CHOICE, "类型（决定校验方式）", "Type (decides the check)", ""),
        ("source", _CHOICE, "提供数据的共享库", "Registry that supplies it", ""),
        ("options", _ROWS, "选项（选择题）", "Options (for a choice)", "值 | 名称 | 英文名称"),
        ("help", _AREA, "填写说明", "Help", ""),
        ("help_en", _AREA, "英文填写说明", "English help", ""),
        ("required_if", _TEXT, "必填条件（留空：总是必填）", "Required when (empty: always)", ""),
        ("optional", _BOOL, "可不填", "Optional", ""),
    ],
    "item": [
        ("name", _TEXT, "事项名称", "Name", ""),
        ("name_en", _TEXT, "英文名称", "English name", ""),
        ("department", _CHOICE, "办理部门", "Department", ""),
        ("legal_basis", _AREA, "设定依据", "Legal basis", ""),
        ("legal_basis_en", _AREA, "设定依据（英文）", "Legal basis (English)", ""),
        ("time_limit_days", _NUMBER, "承诺时限（工作日）", "Time limit (working days)", ""),
        ("fee", _TEXT, "收费", "Fee", ""),
        ("steps", _LINES, "办理步骤（每行一步）", "Steps (one per line)", ""),
        ("facts", _LINES, "表单数据项（每行一个编码）", "Facts asked (one code per line)", ""),
        (
            "facts_if",
            _ROWS,
            "按条件询问的数据项",
            "Facts asked when",
            "条件 | 数据项编码（空格分隔）",
        ),
        (
            "materials",
            _ROWS,
            "申请材料",
            "Materials",
            "编码 | 名称 | 英文名称 | 电子证照来源库（留空为上传） | 证照依据数据项（空格分隔） | 需要条件",
        ),
        ("when", _TEXT, "适用条件（留空：总是适用）", "Applies when (empty: always)", ""),
        ("in_person", _BOOL, "须本人到场", "In person", ""),
        (
            "reject_reasons",
            _LINES,
            "不予办理理由（每行一条；留空用通用理由）",
            "Reject reasons",
            "",
        ),
        ("document", _TEXT, "出具的证照或文书", "Document issued", ""),
        ("document_en", _TEXT, "证照英文名称", "Document (English)", ""),
        (
            "holder",
            _ROWS,
            "持证对象（第一行：称谓 | 英文称谓 | 姓名数据项；其后每行一个证件号）",
            "Holder (first line: label | English | name fact; then one ID per line)",
            "数据项编码 | 证件名称 | 英文名称",
        ),
        (
            "results",
            _ROWS,
            "办结时登记的结果数据",
            "Result data recorded on approval",
            "编码 | 名称 | 英文名称 | 类型 | 必填(是/否) | 最多字符 | 出生日期数据项",
        ),
    ],
    "matter": [
        ("name", _TEXT, "名称", "Name", ""),
        ("name_en", _TEXT, "英文名称", "English name", ""),
        ("summary", _AREA, "简介", "Summary", ""),
        ("summary_en", _AREA, "英文简介", "English summary", ""),
        ("items", _LINES, "包含的事项（每行一个编码）", "Items (one code per line)", ""),
        ("subjects", _LINES, "预填对象（每行一个）", "Prefill subjects (one per line)", ""),
        (
            "subject_key",
            _LINES,
            "办件对象的标识数据项（同一对象只能有一件在办）",
            "Facts naming what a case is about",
            "",
        ),
        ("published", _BOOL, "对外办理（发布）", "Published", ""),
    ],
}


# What a new entry's form starts with
NEW_ENTRY: dict[str, dict[str, Any]] = {
    "fact": {"subject": "applicant", "type": "text"},
    "item": {"fee": "免费"},
    "matter": {"subjects": ["applicant"], "published": False},
}


def _split(line: str) -> list[str]:
    return [part.strip() for part in line.split("|")]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]


def form_to_data(kind: str, form: dict[str, str]) -> dict[str, Any]:
    """The page's fields as the draft's data (see services/configuration/catalog.py)."""
    data: dict[str, Any] = {}
    for name, control, *_ in FIELDS[kind]:
        value = form.get(name, "")
        if control == _BOOL:
            data[name] = value in ("1", "on", "true")
        elif control == _NUMBER:
            data[name] = int(value) if value.strip().lstrip("-").isdigit() else value
        elif control == _LINES:
            data[name] = [
                part for line in _lines(value) for part in line.split(",") if part.strip()
            ]
            data[name] = [part.strip() for part in data[name]]
        elif control == _ROWS:
            rows = [_split(line) for line in _lines(value)]
            parsed = _rows(name, rows)
            if parsed is not None:
                data[name] = parsed
        elif value.strip():  # empty: the draft's default, or "required" named by field
            data[name] = value
    return data


def _at(parts: list[str], index: int) -> str:
    return parts[index] if index < len(parts) else ""


def _rows(name: str, rows: list[list[str]]) -> Any:
    if name == "options":
        return [{"value": r[0], "label": _at(r, 1), "label_en": _at(r, 2)} for r in rows]
    if name == "facts_if":
        return [{"when": r[0], "facts": _at(r, 1).split()} for r in rows]
    if name == "materials":
        return [
            {
                "code": r[0],
                "name": _at(r, 1),
                "name_en": _at(r, 2),
                "source": _at(r, 3),
                "evidence": _at(r, 4).split(),
                "when": _at(r, 5),
            }
            for r in rows
        ]
    if name == "results":
        return [
            {
                "key": r[0],
                "label": _at(r, 1),
                "label_en": _at(r, 2),
                "type": _at(r, 3) or "text",
                "required": _at(r, 4) in ("是", "yes", "true", "1", "必填"),
                **({"max_length": int(_at(r, 5))} if _at(r, 5).isdigit() else {}),
                "born": _at(r, 6),
            }
            for r in rows
        ]
    if name == "holder":
        if not rows:
            return None
        head, ids = rows[0], rows[1:]
        return {
            "label": head[0],
            "label_en": _at(head, 1),
            "name": _at(head, 2),
            "id": [r[0] for r in ids],
            "id_label": [_at(r, 1) for r in ids],
            "id_label_en": [_at(r, 2) for r in ids],
        }
    raise ValueError(name)


def data_to_form(kind: str, data: dict[str, Any]) -> dict[str, str]:
    """A saved entry as the page's fields."""
    form: dict[str, str] = {}
    for name, control, *_ in FIELDS[kind]:
        value = data.get(name)
        if control == _BOOL:
            form[name] = "1" if value or (name == "published" and value is None) else ""
        elif control == _LINES:
            form[name] = "\n".join(value or [])
        elif control == _ROWS:
            form[name] = "\n".join(" | ".join(row) for row in _rows_of(name, value))
        else:
            form[name] = "" if value is None else str(value)
    return form


def _rows_of(name: str, value: Any) -> list[list[str]]:
    if not value:
        return []
    if name == "options":
        return [[o["value"], o.get("label", ""), o.get("label_en", "")] for o in value]
    if name == "facts_if":
        return [[g["when"], " ".join(g["facts"])] for g in value]
    if name == "materials":
        return [
            [
                m["code"],
                m.get("name", ""),
                m.get("name_en", ""),
                m.get("source", ""),
                " ".join(m.get("evidence", [])),
                m.get("when", ""),
            ]
            for m in value
        ]
    if name == "results":
        return [
            [
                r["key"],
                r.get("label", ""),
                r.get("label_en", ""),
                r.get("type", "text"),
                "是" if r.get("required") else "否",
                str(r.get("max_length", "")),
                r.get("born", ""),
            ]
            for r in value
        ]
    if name == "holder":
        ids = value.get("id", [])
        ids = [ids] if isinstance(ids, str) else ids
        labels = value.get("id_label", [])
        labels = [labels] if isinstance(labels, str) else labels
        labels_en = value.get("id_label_en", []) or labels
        labels_en = [labels_en] if isinstance(labels_en, str) else labels_en
        head = [value.get("label", ""), value.get("label_en", ""), value.get("name", "")]
        return [head, *([k, a, b] for k, a, b in zip(ids, labels, labels_en, strict=False))]
    return []


def _choices(rt: Runtime, kind: str) -> dict[str, list[tuple[str, str, str]]]:
    """The options of the page's drop-downs: (value, Chinese, English)."""
    catalog = rt.catalog
    return {
        "subject": [(s.code, s.label, s.label_en) for s in catalog.subjects.values()],
        "type": [(t, t, t) for t in sorted(FACT_TYPES)],
        "source": [("", "（无：由申请人填写）", "(none: the applicant fills it)")]
        + [(code, zh, en) for code, (zh, en) in REGISTRIES.items()],
        "department": [(d.code, d.name, d.name_en) for d in catalog.departments.values()],
        "result_types": [(t, t, t) for t in sorted(RESULT_TYPES)],
    }


def _entry_page(
    request: Request,
    session,
    rt: Runtime,
    kind: Kind,
    code: str | None,
    *,
    form: dict[str, str] | None = None,
    base: int | None = None,
    comment: str = "",
    error: InvalidInput | None = None,
    status: int = 200,
    previews=None,
):
    if form is None:
        saved = editing.entry(session, kind, code) if code else NEW_ENTRY[kind]
        form = data_to_form(kind, saved)
    return render(
        request,
        "admin/catalog_entry.html",
        status_code=status,
        kind=kind,
        code=code,
        title=KIND_TITLES[kind],
        fields=FIELDS[kind],
        form=form,
        choices=_choices(rt, kind),
        base=editing.current_number(session) if base is None else base,
        comment=comment,
        error=error,
        error_field=(next(iter(error.fields), "") if error else "").split(".")[0],
        previews=previews,
    )


@router.get("", response_class=HTMLResponse)
@twin("GET /api/v1/admin/catalog")
def catalog_page(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    return render(request, "admin/catalog.html", listing=catalog_public(session, rt))


@router.get("/versions", response_class=HTMLResponse)
@twin("GET /api/v1/admin/catalog/versions")
def versions_page(request: Request, user: AdminUser, session: SessionDep):
    return render(
        request,
        "admin/catalog_versions.html",
        versions=versions_public(session),
        current=editing.current_number(session),
    )


@router.get("/versions/{number}", response_class=HTMLResponse)
@twin("GET /api/v1/admin/catalog/versions/{number}")
def version_page(request: Request, number: VersionNumber, user: AdminUser, session: SessionDep):
    return render(
        request,
        "admin/catalog_diff.html",
        diff=diff_public(session, number),
        current=editing.current_number(session),
        titles=KIND_TITLES,
    )


@router.post("/versions/{number}/rollback", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/catalog/versions/{number}/rollback")
@answers(409, 422)
async def rollback_page(
    request: Request, number: VersionNumber, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    form = await request.form()
    comment = str(form.get("comment", ""))[:500]

    def work():
        try:
            saved = editing.rollback(session, rt, user=user, number=number, comment=comment)
        except InvalidInput as exc:
            session.rollback()
            return render(
                request,
                "admin/catalog_diff.html",
                status_code=422,
                diff=diff_public(session, number),
                current=editing.current_number(session),
                titles=KIND_TITLES,
                error=exc,
            )
        return RedirectResponse(f"/admin/catalog/versions/{saved.number}?saved=1", status_code=303)

    return await run_in_threadpool(work)


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The catalog files"}},
)
@twin("GET /api/v1/admin/catalog/export")
def export_page(user: AdminUser, session: SessionDep):
    return export_response(session)


@router.get("/{kind}/new", response_class=HTMLResponse)
@twin("POST /api/v1/admin/catalog/{kind}")
def new_page(request: Request, kind: Kind, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    return _entry_page(request, session, rt, kind, None)


@router.get("/{kind}/{code}", response_class=HTMLResponse)
@twin("GET /api/v1/admin/catalog/{kind}/{code}")
def entry_page(
    request: Request, kind: Kind, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    return _entry_page(request, session, rt, kind, code)


async def _save(request: Request, session, rt, user, kind: str, code: str | None):
    posted = await request.form()
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}

    def work():
        new = code is None
        target = form.get("code", "").strip() if new else code
        base = int(form["base"]) if form.get("base", "").isdigit() else None
        comment = form.get("comment", "")[:500]
        kept = {"form": form, "base": base, "comment": comment}
        if form.get("action") == "replay":
            try:
                previews = replay_all(
                    session, rt, user, kind, target, form_to_data(kind, form), new, REPLAY_CASES
                )
            except InvalidInput as exc:
                session.rollback()
                return _entry_page(request, session, rt, kind, code, **kept, error=exc, status=422)
            return _entry_page(request, session, rt, kind, code, **kept, previews=previews)
        try:
            saved = editing.save(
                session,
                rt,
                user=user,
                kind=kind,
                code=target,
                data=form_to_data(kind, form),
                comment=comment,
                new=new,
                base=base,
            )
        except InvalidInput as exc:
            session.rollback()
            return _entry_page(
                request,
                session,
                rt,
                kind,
                None if new else code,
                form=form,
                base=base,
                comment=comment,
                error=exc,
                status=422,
            )
        return RedirectResponse(
            f"/admin/catalog/{kind}/{saved.code}?saved={saved.number}", status_code=303
        )

    return await run_in_threadpool(work)


@router.post("/{kind}/new", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/catalog/{kind}")
@body_limit(ENTRY_LIMIT)
@answers(409, 422)
async def create(
    request: Request, kind: Kind, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    return await _save(request, session, rt, user, kind, None)


@router.post("/{kind}/{code}", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("PUT /api/v1/admin/catalog/{kind}/{code}")
@body_limit(ENTRY_LIMIT)
@answers(409, 422)
async def update(
    request: Request, kind: Kind, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    return await _save(request, session, rt, user, kind, code)
