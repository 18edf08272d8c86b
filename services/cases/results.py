"""Result documents (办理结果) of approved items: a simple, self-contained HTML document for now."""

from __future__ import annotations

from html import escape

from sqlmodel import Session

from services.calendar import local_date
from services.cases.models import Case, CaseItem
from services.errors import NotFound
from services.runtime import Runtime


def result_document(session: Session, rt: Runtime, *, case: Case, item_id: int) -> tuple[str, str]:
    """(file name, HTML) of the result of an approved item of `case`."""
    row = session.get(CaseItem, item_id)
    if row is None or row.case_id != case.id or row.status != "approved":
        raise NotFound("该事项尚无办理结果", "This item has no result yet")
    item = rt.catalog.items[row.item_code]
    department = rt.catalog.departments[row.department]
    facts = rt.catalog.facts
    lines = "".join(
        f"<tr><th>{escape(facts[key].label)}</th><td>{escape(facts[key].option_label(value))}</td></tr>"
        for key, value in case.data.items()
        if key in item.facts and value not in (None, "") and not key.endswith("bank_card_number")
    )
    decided = f"{local_date(row.decided_at):%Y年%m月%d日}" if row.decided_at else ""
    html = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(item.name)} {row.result_number}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}th{{text-align:left;padding-right:1em}}</style>
</head><body>
<h1>{escape(item.name)}</h1>
<p>结果编号 Result number: <strong>{escape(row.result_number or "")}</strong></p>
<p>办件编号 Case number: {escape(case.number or "")}</p>
<p>办理部门 Department: {escape(department.name)} ({escape(department.name_en)})</p>
<p>申请人 Applicant: {escape(case.applicant_name)}</p>
<table>{lines}</table>
<p>办理结论：准予办理。{escape(row.comment or "")}</p>
<p>{escape(department.name)}　{decided}</p>
<p><small>依据：{escape(item.legal_basis)}</small></p>
</body></html>
"""
    return f"{row.result_number}.html", html
