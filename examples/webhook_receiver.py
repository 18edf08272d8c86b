"""A department's receiver of OneThing's webhooks, verifying each push before trusting it.

OneThing POSTs a JSON event (see the OpenAPI document's `webhooks`, e.g. `task.created`) signed
with the department's shared secret:

    X-OneThing-Timestamp: <unix seconds>
    X-OneThing-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

Run it (standard library only), and set `ONETHING_WEBHOOKS` on the server to point at it:

    python examples/webhook_receiver.py --port 9000 --secret police-webhook-secret
    ONETHING_WEBHOOKS='{"police": {"url": "http://127.0.0.1:9000/hook", "secret": "police-webhook-secret"}}'

A verified `task.created` event names a task: the department's system then fetches and locks it
through the external-task API (examples/department_worker.py).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AGE = 300  # seconds a signature stays acceptable (refuses replays of old pushes)


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> bool:
    """Whether `body` was signed by OneThing with `secret` within MAX_AGE seconds. Compare the
    raw bytes received, before parsing them."""
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get("x-onething-timestamp", "")
    sent = lowered.get("x-onething-signature", "")
    if not stamp.isdigit() or not sent.startswith("sha256="):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_AGE:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), sent)


def handler(
    secret: str, on_event: Callable[[dict], None], clock: Callable[[], float] = time.time
) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that answers 204 to a verified event (after `on_event`), 401 otherwise.
    Duplicates (a retried delivery: the same `id`) are dropped."""
    seen: set[int] = set()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 64 * 1024))
            if not verify(secret, dict(self.headers), body, now=clock()):
                self.send_response(401)
                self.end_headers()
                return
            event = json.loads(body)
            if event["id"] not in seen:
                seen.add(event["id"])
                on_event(event)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the library's name
            return

    return Receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)

    def show(event: dict) -> None:
        print(f"{event['event']}: task {event.get('task_id')} of case {event.get('case_number')}")

    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.secret, show))
    print(f"listening on http://127.0.0.1:{args.port}/hook")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
