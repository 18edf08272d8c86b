"""A department's own system working its OneThing tasks over the external-task API.

Run against a OneThing server (the demo accounts include one system account per department):

    python examples/department_worker.py --base-url http://127.0.0.1:8000 \\
        --username police-system --password onething123 --once

It fetches and locks a batch of its department's tasks, checks each one the way the
department's own system would (here: every fact the item needs is present), completes it with
result data, or reports a failure with a retry count; after the last retry OneThing raises an
incident that the department's clerks see.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

import httpx


def check(task: dict) -> tuple[bool, str]:
    """The department's own rule: every fact is present. Returns (ok, reason)."""
    missing = [key for key, value in task["facts"].items() if value in (None, "")]
    if missing:
        return False, f"missing facts: {', '.join(missing)}"
    return True, "all facts present"


def run(client: httpx.Client, *, worker_id: str, max_tasks: int, once: bool, idle: float) -> int:
    """Work batches until none is left (with `once`) or forever; returns tasks completed."""
    done = 0
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
                    "result": {"checked_by": worker_id, "reason": reason},
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
