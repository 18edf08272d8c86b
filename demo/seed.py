"""Demo data: the synthetic registries and the demo accounts (citizens, one clerk per department, admin)."""

from __future__ import annotations

from datetime import date
from functools import cache

from sqlmodel import Session, select

from demo.people import DEMO_PEOPLE
from demo.registry import generate_dataset
from services.accounts.models import User
from services.accounts.service import create_user, hash_password
from services.config import Settings
from services.runtime import Runtime

DEMO_PASSWORD = "onething123"


def ensure_registry(settings: Settings, *, today: date | None = None) -> bool:
    """Generate the embedded registry dataset if it is missing; True when it was generated."""
    path = settings.registry_path
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_dataset(path, people=settings.registry_people, today=today or date.today())
    return True


def demo_accounts(rt: Runtime) -> list[dict[str, str]]:
    """The demo accounts to create: (username, display name, role, department)."""
    accounts = [
        {
            "username": p.id_number,
            "name": p.name,
            "role": "citizen",
            "department": "",
            "note": p.situation_zh,
        }
        for p in DEMO_PEOPLE
        if p.login
    ]
    for code, department in rt.catalog.departments.items():
        accounts.append(
            {
                "username": f"{code}01",
                "name": f"{department.name}窗口",
                "role": "clerk",
                "department": code,
                "note": department.name_en,
            }
        )
        accounts.append(
            {
                "username": f"{code}02",
                "name": f"{department.name}窗口二",
                "role": "clerk",
                "department": code,
                "note": f"{department.name_en}, a second clerk",
            }
        )
        accounts.append(
            {
                "username": f"{code}-lead",
                "name": f"{department.name}科长",
                "role": "clerk",
                "department": code,
                "supervisor": True,
                "note": f"{department.name_en}: supervisor (reassigns, gets escalations)",
            }
        )
        accounts.append(
            {
                "username": f"{code}-system",
                "name": f"{department.name}业务系统",
                "role": "system",
                "department": code,
                "note": f"{department.name_en}: its own system, over the external-task API",
            }
        )
    accounts.append(
        {
            "username": "admin",
            "name": "系统管理员",
            "role": "admin",
            "department": "",
            "note": "Administrator",
        }
    )
    accounts.append(
        {
            "username": "operator",
            "name": "运维值班员",
            "role": "operator",
            "department": "",
            "note": "Operator: incidents in bulk, case repair, migration of running cases",
        }
    )
    return accounts


@cache
def _demo_password_hash() -> str:
    """One argon2 hash of the shared demo password (hashing is slow by design; do it once)."""
    return hash_password(DEMO_PASSWORD)


def seed_demo(rt: Runtime) -> list[dict[str, str]]:
    """Create the demo accounts that do not exist yet; returns all demo accounts."""
    accounts = demo_accounts(rt)
    password_hash = _demo_password_hash()
    with Session(rt.db) as session:
        existing = set(session.exec(select(User.username)).all())
        for account in accounts:
            if account["username"] in existing:
                continue
            create_user(
                session,
                username=account["username"],
                display_name=account["name"],
                role=account["role"],
                password=DEMO_PASSWORD,
                department=account["department"] or None,
                id_number=account["username"] if account["role"] == "citizen" else None,
                password_hash=password_hash,
                supervisor=bool(account.get("supervisor")),
            )
        session.commit()
    return accounts
