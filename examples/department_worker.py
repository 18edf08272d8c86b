"""A department's own system working its OneThing tasks over the external-task API.

Run against a OneThing server (the demo accounts include one system account per department):

    python examples/department_worker.py --base-url http://127.0.0.1:8000 \\
        --username police-system --password onething123 --once

It fetches and locks a batch of its department's tasks, checks each one the way the
department's own system would (here: every fact the item needs is present), completes it with
result data (the numbers, dates and places the item's `results` ask for: a demo system makes
up plausible ones), or reports a failure with a retry count; after the last retry OneThing
raises an incident that the department's clerks see.
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time
from datetime import date, timedelta

import httpx


def check(task: dict) -> tuple[bool, str]:
    """The department's own rule: every fact is present. Returns (ok, reason)."""
    missing = [key for key, value in task["facts"].items() if value in (None, "")]
    if missing:
        return False, f"missing facts: {', '.join(missing)}"
    return True, "all facts present"


REGION = "310104"  # the demo city's district code (a real one, so the numbers check out)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
NAMED = {  # texts a department's system would fill from its own records
    "vaccination_clinic": "示范市中心区社区卫生服务中心预防接种门诊",
    "tax_office": "国家税务总局示范市中心区税务局第一税务所",
    "account_bank_branch": "示范市中心区支行营业部",
    "school_name": "示范市实验小学",
    "archive_keeper": "示范市人才服务中心",
    "training_institution": "示范市职业技能培训中心",
    "new_property_cert_number": "示（2026）示范市不动产权第0012345号",
    "tax_notice_number": "示税通〔2026〕1024号",
}
PLACES = ("中心区和平路12号", "中心区人民路88号", "东城区建设大街5号", "西城区滨江路101号")


def citizen_id(born: date, rng: random.Random) -> str:
    """A citizen ID (GB 11643) for someone born on `born` in the demo district."""
    body = f"{REGION}{born:%Y%m%d}{rng.randint(1, 999):03d}"
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body))
    return body + "10X98765432"[total % 11]


def credit_code(rng: random.Random) -> str:
    """A unified social credit code (GB 32100) of an enterprise registered in the district."""
    organization = "".join(rng.choice("0123456789") for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(organization, weights, strict=True)) % 11
    body = f"91{REGION}{organization}" + {10: "X", 11: "0"}.get(check, str(check))
    weights = [pow(3, i, 31) for i in range(17)]
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, weights, strict=True))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def made_up_date(key: str, rng: random.Random, today: date) -> date:
    """A result date: what is done on approving is done today (registered, insured from,
    established); a date the holder is told to come (a card ready, a school report) lies some
    days ahead; a licence is valid five years."""
    if key.endswith("_until"):
        return today + timedelta(days=5 * 365)
    if "ready" in key or "report" in key:
        return today + timedelta(days=rng.randint(5, 20))
    return today


def made_up_results(task: dict, rng: random.Random, today: date) -> dict[str, str]:
    """What a department's own system would record for the task's `results`: a demo makes up
    plausible values by type (a born-today citizen ID keeps the child's birth date)."""
    born = task["facts"].get("child_birth_date") or today.isoformat()
    values: dict[str, str] = {}
    for field in task.get("results", []):
        kind, key = field["type"], field["key"]
        if kind == "citizen_id":
            value = citizen_id(date.fromisoformat(born), rng)
        elif kind == "uscc":
            value = credit_code(rng)
        elif kind == "date":
            value = made_up_date(key, rng, today).isoformat()
        elif kind == "number":
            value = f"{REGION}{rng.randint(10**5, 10**6 - 1)}"[: field["max_length"]]
        elif kind == "amount":
            value = f"{rng.randint(800, 6000)}.{rng.randint(0, 99):02d}"
        elif kind == "integer":
            value = str(rng.randint(1, 24))
        elif key in NAMED:
            value = NAMED[key]
        elif "address" in key or "place" in key:
            value = f"示范市{rng.choice(PLACES)}"
        else:
            value = f"示范市{task['name'][:8]}承办机构"
        values[key] = value[: field["max_length"]]
    return values


def run(client: httpx.Client, *, worker_id: str, max_tasks: int, once: bool, idle: float) -> int:
    """Work batches until none is left (with `once`) or forever; returns tasks completed."""
    done = 0
    rng = random.Random(worker_id)
    while True:
        response = client.post(
            "/api/v1/external-tasks/fetch-and-lock",
            json={"worker_id": worker_id, "max_tasks": max_tasks, "lock_seconds": 120},
        )
        response.raise_for_status()
        tasks = response.json()
        for task in tasks:
            ok, reason = check(task)
            if ok:
                body = {
                    "worker_id": worker_id,
                    "decision": "approved",
                    "comment": "部门业务系统自动核验通过",
                    "result": {
                        "checked_by": worker_id,
                        "reason": reason,
                        **made_up_results(task, rng, date.today()),
                    },
                }
                client.post(f"/api/v1/external-tasks/{task['id']}/complete", json=body)
                done += 1
                print(f"completed {task['case_number']} {task['item']}", flush=True)
            else:
                retries = (task["retries"] if task["retries"] is not None else 3) - 1
                body = {
                    "worker_id": worker_id,
                    "error_message": reason,
                    "retries": max(retries, 0),
                    "retry_seconds": 30,
                }
                client.post(f"/api/v1/external-tasks/{task['id']}/failure", json=body)
                print(f"failed {task['case_number']} {task['item']}: {reason}", flush=True)
        if not tasks:
            if once:
                return done
            time.sleep(idle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True, help="a department system account")
    parser.add_argument("--password", required=True)
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-worker")
    parser.add_argument("--max-tasks", type=int, default=10)
    parser.add_argument("--once", action="store_true", help="stop when no task is left")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds between empty polls")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.base_url, timeout=10) as client:
        login = client.post(
            "/api/v1/login", json={"username": args.username, "password": args.password}
        )
        if login.status_code != 200:
            print(f"sign-in failed: {login.json().get('detail_en')}", file=sys.stderr)
            return 2
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        done = run(
            client,
            worker_id=args.worker_id,
            max_tasks=args.max_tasks,
            once=args.once,
            idle=args.idle,
        )
    print(f"{done} task(s) completed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
