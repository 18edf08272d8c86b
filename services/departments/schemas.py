"""What OneThing pushes to a department's own system (webhooks): the body of each event. The
OpenAPI document publishes them (`webhooks`), with the headers that sign them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class TaskCreated(BaseModel):
    """A task (待办) was routed to the department: fetch and lock it through the external-task
    API (`POST /api/v1/external-tasks/fetch-and-lock`). No personal data travels in the push."""

    task_id: int = Field(description="The task's id in the API (`/api/v1/tasks/{task_id}`)")
    case_number: str = Field(description="The case's number (办件编号)")
    matter: str = Field(description="The matter's code, e.g. newborn")
    item: str = Field(description="The catalog item's code, e.g. police_birth_registration")
    due_date: date = Field(description="The statutory due date (working days counted)")


class TaskCreatedEvent(TaskCreated):
    """The body POSTed for a `task.created` event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "event": "task.created",
                    "task_id": 3,
                    "case_number": "YJS20261123000001",
                    "matter": "newborn",
                    "item": "police_birth_registration",
                    "due_date": "2026-11-30",
                }
            ]
        }
    )

    id: int = Field(
        description="The delivery's id (also in X-OneThing-Delivery); a retry of "
        "the same delivery repeats it, so a receiver can drop duplicates"
    )
    event: str = Field(description="The event's name (also in X-OneThing-Event)")
