"""What the applicant is told once an application is submitted: each item of the matter with
its department, time limit and due date (or what it waits for, or why it is not needed), what
they must do next, and where to follow the case. One answer for the confirmation shown after
submitting, the front desk's receipt and the API's answers to a submission.

Pure over the case and its path (`services.cases.path.case_path`): no query of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from services.cases.models import Case
from services.cases.path import PathStep
from services.cases.schemas import CasePublic
from services.runtime import Runtime

CASES_URL = "/cases"
INBOX_URL = "/inbox"


@dataclass(frozen=True)
class NextStep:
    """One thing the applicant should know or do after submitting, in both languages."""

    kind: str  # instant, in_person, wait, waiting, correction, delivery, track, inbox
    text: str
    text_en: str


def _names(steps: Sequence[PathStep]) -> tuple[str, str]:
    return (
        "、".join(f"「{s.item.name}」" for s in steps),
        ", ".join(s.item.name_en for s in steps),
    )


_DELIVERY = {
    "online": (
        "全部办结后，可在办件页下载每项结果（电子证照），也可一次下载全部。",
        "Once everything is done, download each result (electronic licence) from the case "
        "page, or all of them at once.",
    ),
    "post": (
        "办理结果将邮寄到您填写的地址，寄出后可在办件页查看快递单号。",
        "The results are posted to the address you gave; the case page shows the tracking "
        "number once sent.",
    ),
    "window": (
        "全部办结后，请携带本人身份证件到政务服务中心窗口领取纸质结果。",
        "Once everything is done, collect the paper results at the service centre's window "
        "with your identity card.",
    ),
}


def next_steps(rt: Runtime, case: Case, path: Sequence[PathStep]) -> list[NextStep]:
    """What the applicant of `case` does next, from its path: the items done at once, those
    needing them in person, the wait (until the latest due date), the items that start later,
    how the results reach them, and where they follow the case."""
    found: list[NextStep] = []
    instant = [s for s in path if s.state == "done" and s.row and s.row.status == "approved"]
    if instant:
        zh, en = _names(instant)
        found.append(
            NextStep(
                "instant",
                f"已即时办结（秒批）：{zh}，结果可在办件页下载。",
                f"Done at once (instant approval): {en}; the results are on the case page.",
            )
        )
    open_steps = [s for s in path if s.state in ("in_progress", "correction")]
    for step in open_steps:
        if step.item.in_person:
            found.append(
                NextStep(
                    "in_person",
                    f"「{step.item.name}」需要您本人到{step.department_name}办理，请携带身份证件"
                    "原件；部门会与您联系约定时间。",
                    f"{step.item.name_en} needs you in person at {step.department_name_en}: "
                    "bring your identity card; the department will contact you for a time.",
                )
            )
    if open_steps:
        dues = [s.row.due_date for s in open_steps if s.row and s.row.due_date]
        latest = f"{max(dues):%Y-%m-%d}" if dues else ""
        zh = f"，最晚于{latest}前办结" if latest else ""
        en = f", by {latest} at the latest" if latest else ""
        found.append(
            NextStep(
                "wait",
                f"各部门将在承诺时限内办理{zh}；您现在无需再做什么。",
                f"The departments handle the items within their time limits{en}; there is "
                "nothing more for you to do now.",
            )
        )
    waiting = [s for s in path if s.state == "waiting"]
    if waiting:
        zh, en = _names(waiting)
        found.append(
            NextStep(
                "waiting",
                f"{zh}将在前序事项办结后自动开始办理，无需再次申请。",
                f"{en} start by themselves once the earlier items are done: no need to apply "
                "again.",
            )
        )
    if open_steps or waiting:
        found.append(
            NextStep(
                "correction",
                "如需补正材料，我们会通过短信和站内消息通知您，届时在办件页补正即可。",
                "If a department needs more, you are told by text message and in your inbox, "
                "and correct it on the case page.",
            )
        )
    delivery = _DELIVERY.get(str(case.data.get("delivery_method") or ""))
    if delivery and (open_steps or waiting):
        found.append(NextStep("delivery", *delivery))
    found.append(
        NextStep(
            "track",
            "可随时在“我的办件”查看进度，每项办结都会通知您。",
            "Follow the case under My cases at any time; you are told as each item is done.",
        )
    )
    found.append(
        NextStep(
            "inbox",
            "受理通知已发送到您的站内消息。",
            "The acceptance notice was sent to your inbox.",
        )
    )
    return found


class NextStepPublic(BaseModel):
    kind: str = Field(
        description="instant, in_person, wait, waiting, correction, delivery, track or inbox"
    )
    text: str
    text_en: str


class CaseSubmitted(CasePublic):
    """The answer to a submission: the case with every item of its matter, and what the
    applicant is told next (the confirmation page's list)."""

    next_steps: list[NextStepPublic] = Field(
        default=[], description="What happens next, as the confirmation after submitting says"
    )
    case_url: str = Field(default="", description="The case's page, to follow it")


def next_steps_public(steps: Sequence[NextStep]) -> list[NextStepPublic]:
    return [NextStepPublic(kind=s.kind, text=s.text, text_en=s.text_en) for s in steps]
