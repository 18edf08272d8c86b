"""Benchmark: applications arriving at a fixed rate (open loop), below and above capacity.

A closed-loop benchmark (bench/burst.py) slows its clients down when the server slows: it never
offers more than the server takes. Citizens do not wait for each other. Here applications
(`school_enrollment`, prefilled entirely, as in bench/burst.py) arrive at a fixed rate whatever
the server does, each a new applicant on its own connection, and each behaves as a well-made
client does:

- it waits at most `--client-timeout` seconds for an answer, then gives up (the citizen closes
  the page);
- an answer 503 with `Retry-After` (the server shedding load: web/admission.py) is followed,
  after the seconds it asks for, by the same application with the same `Idempotency-Key`, until
  `--patience` seconds after its arrival.

Per configuration (`onething serve`, one worker, on SQLite and on PostgreSQL): the capacity is
measured first (`--clients` closed-loop clients for `--capacity-seconds`, each application sent
as an arrival sends it: a connection of its own and an Idempotency-Key; with keep-alive
connections and no key the figure came out up to a quarter higher than the server sustains for
arrivals, and "80 %" of it was past capacity), then arrivals at 80 %
and at 150 % of it for `--seconds` each. Reported for each rate: applications accepted (201)
per second (goodput), latency from arrival to acceptance (p50/p95/p99), answers shed, clients
that gave up, other errors; and from the database afterwards: every accepted application is a
case (none lost), and how many cases were made for clients that had given up (work carried on
blindly: the citizen never hears of it, and a retry would duplicate it).

Targets (issue 23): at 80 %, p95 < 300 ms and no error; at 150 %, the excess shed with 503 and
Retry-After, goodput near capacity, no accepted application lost.

It ends with one line per configuration:
  summary: config=… capacity=… p95_at_80=… errors_at_80=… goodput_at_150=… shed_at_150=…
  lost=… orphans=…

Run: `.venv/bin/python bench/open_loop.py` (see --help; about 4 minutes per configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from applicants import add_citizens  # noqa: E402
from burst import (  # noqa: E402 - the school-enrollment applicants and the served app
    ANSWERS,
    MATTER,
    Server,
    burst,
    enough_applicants,
    find_applicants,
    generate_registry,
    percentile,
)
from newborn_lifecycle import PG_BASE, fresh_runtime, load_average, machine  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from services.registries.embedded import EmbeddedRegistry  # noqa: E402
from services.runtime import build_runtime  # noqa: E402

RETRY_SECONDS = 1.0  # when a 503 has no Retry-After (the server always sends one)
RATES = (0.8, 1.5)  # of the measured capacity
TARGET_P95_MS = 300.0
BODY = json.dumps({"matter": MATTER, "answers": ANSWERS, "consent": True}).encode()


@dataclass
class Window:
    """One rate's arrivals and what became of them."""

    rate: float  # arrivals per second offered
    seconds: float
    latencies: list[float] = field(default_factory=list)  # ms, arrival to 201
    accepted: int = 0
    accepted_in_window: int = 0  # accepted before the arrivals stopped (for goodput)
    shed: int = 0  # 503 answers (each followed by a retry while patience lasts)
    retried_then_accepted: int = 0
    gave_up: int = 0  # the client's timeout passed without an answer
    out_of_patience: int = 0  # shed until patience ran out
    errors: dict[str, int] = field(default_factory=dict)
    case_ids: list[int] = field(default_factory=list)

    @property
    def goodput(self) -> float:
        return self.accepted_in_window / self.seconds


async def arrivals(
    base: str, tokens: list[str], rate: float, seconds: float, timeout: float, patience: float
) -> Window:
    """`rate` applications per second for `seconds`, each on its own connection (see module)."""
    window = Window(rate, seconds)
    host, port = urlsplit(base).hostname, urlsplit(base).port
    start = time.perf_counter()
    stop_at = start + seconds

    async def apply(token: str) -> None:
        arrived = time.perf_counter()
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        connection = loadgen.Connection(host, port)
        attempts = 0
        try:
            while True:
                attempts += 1
                try:
                    status, answer = await asyncio.wait_for(
                        connection.request("POST", "/api/v1/cases", headers, BODY), timeout
                    )
                except TimeoutError:
                    window.gave_up += 1
                    return
                except (OSError, ConnectionError) as exc:
                    name = type(exc).__name__
                    window.errors[name] = window.errors.get(name, 0) + 1
                    return
                if status == 503:
                    window.shed += 1
                    wait = connection.retry_after or RETRY_SECONDS  # as the server asked
                    if time.perf_counter() + wait - arrived > patience:
                        window.out_of_patience += 1
                        return
                    await asyncio.sleep(wait)
                    continue
                if status == 201:
                    done = time.perf_counter()
                    window.accepted += 1
                    window.accepted_in_window += done <= stop_at
                    window.retried_then_accepted += attempts > 1
                    window.latencies.append((done - arrived) * 1000)
                    window.case_ids.append(json.loads(answer)["id"])
                else:
                    window.errors[str(status)] = window.errors.get(str(status), 0) + 1
                return
        finally:
            await connection.close()

    tasks = []
    interval = 1 / rate
    for n, token in enumerate(tokens):
        due = start + n * interval
        if due >= stop_at:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(apply(token)))
    else:
        raise RuntimeError("the applicants ran out: raise --max-rate")
    await asyncio.gather(*tasks)
    return window


def describe(window: Window, capacity: float) -> str:
    errors = sum(window.errors.values())
    return (
        f"  {window.rate:6.1f} arrivals/s ({window.rate / capacity:.0%} of capacity) for "
        f"{window.seconds:.0f} s: goodput {window.goodput:5.1f} accepted/s "
        f"({window.goodput / capacity:.0%} of capacity); latency p50 "
        f"{percentile(window.latencies, 50):6.0f} ms p95 {percentile(window.latencies, 95):6.0f} "
        f"ms p99 {percentile(window.latencies, 99):6.0f} ms; {window.accepted} accepted "
        f"({window.retried_then_accepted} after being shed), {window.shed} answers 503, "
        f"{window.out_of_patience} out of patience, {window.gave_up} gave up, {errors} errors "
        f"{window.errors or ''}"
    )


def cases_in(rt) -> set[int]:
    with Session(rt.db) as session:
        return set(
            session.execute(text("SELECT id FROM case_file WHERE matter = :m"), {"m": MATTER})
            .scalars()
            .all()
        )


def run_config(name, folder, registry_path, database_url, applicants, args) -> dict:
    folder.mkdir(parents=True)
    (folder / "registry.sqlite").symlink_to(registry_path)
    rt = fresh_runtime(folder, registry_path, database_url)
    url = rt.settings.db_url
    tokens = add_citizens(rt, applicants)
    rt.db.dispose()
    print(f"\n{name}: {len(tokens)} applicants signed in; onething serve (one worker)")
    server = Server(folder, url, 1)
    windows: list[Window] = []
    try:
        warmup = loadgen.run(lambda: burst(server.base, tokens[:10], 5, 0.5))
        tokens = tokens[10:]
        measured = loadgen.run(
            lambda: burst(
                server.base, tokens, args.clients, args.capacity_seconds, as_arrivals=True
            )
        )
        tokens = tokens[measured.used :]
        capacity = len(measured.latencies) / measured.elapsed
        print(
            f"  capacity: {capacity:.1f} applications/s ({args.clients} closed-loop clients, "
            f"{args.capacity_seconds:.0f} s, {measured.shed} shed); load average {load_average()}"
        )
        for share in RATES:
            rate = share * capacity
            window = loadgen.run(
                lambda rate=rate, tokens=tokens: arrivals(
                    server.base, tokens, rate, args.seconds, args.client_timeout, args.patience
                )
            )
            tokens = tokens[math.ceil(rate * args.seconds) :]
            windows.append(window)
            print(describe(window, capacity))
            time.sleep(args.client_timeout)  # what the server still works on ends
    finally:
        server.stop()
    rt = build_runtime(rt.settings, registry=EmbeddedRegistry(registry_path))
    try:
        stored = cases_in(rt)
    finally:
        rt.db.dispose()
    acknowledged = set(measured.case_ids) | set(warmup.case_ids)
    for window in windows:
        acknowledged |= set(window.case_ids)
    lost = len(acknowledged - stored)
    orphans = len(stored - acknowledged)
    print(
        f"  database: {len(stored)} cases; accepted but missing: {lost}; made for clients that "
        f"had given up: {orphans}"
    )
    low, high = windows
    return {
        "config": name,
        "capacity": round(capacity, 1),
        "p95_at_80": round(percentile(low.latencies, 95), 1),
        "errors_at_80": sum(low.errors.values()) + low.gave_up,
        "goodput_at_150": round(high.goodput, 1),
        "goodput_share_at_150": round(high.goodput / capacity, 2),
        "shed_at_150": high.shed,
        "lost": lost,
        "orphans": orphans,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="arrivals per rate")
    parser.add_argument("--capacity-seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16, help="closed-loop, for the capacity")
    parser.add_argument("--client-timeout", type=float, default=10.0)
    parser.add_argument("--patience", type=float, default=30.0, help="retries after 503 until")
    parser.add_argument("--people", type=int, default=100_000, help="registry size")
    parser.add_argument("--max-rate", type=float, default=150.0, help="sizes the applicants")
    parser.add_argument("--configs", default="sqlite,pg", help="comma-separated: sqlite, pg")
    parser.add_argument("--pg-url", default=PG_BASE)
    parser.add_argument("--summary-json", help="write the summary figures to this file")
    args = parser.parse_args()

    from newborn_lifecycle import postgres_database

    print(machine())
    results = []
    with tempfile.TemporaryDirectory(prefix="onething-open-loop-") as tmp:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        generate_registry(registry_path, args.people)
        wanted = 10 + math.ceil(args.max_rate * (args.capacity_seconds + sum(RATES) * args.seconds))
        found, _checked = find_applicants(registry_path, wanted)
        applicants = enough_applicants(registry_path, found, wanted)
        print(f"applicants: {len(applicants)} (each applies once, for a child of their own)")
        for config in [c.strip() for c in args.configs.split(",") if c.strip()]:
            if config == "pg":
                with postgres_database(args.pg_url) as url:
                    if url is not None:
                        results.append(
                            run_config(
                                "PostgreSQL", root / config, registry_path, url, applicants, args
                            )
                        )
            else:
                results.append(
                    run_config("SQLite", root / config, registry_path, None, applicants, args)
                )
    print(
        f"\ntargets: at 80 % p95 < {TARGET_P95_MS:.0f} ms and no error; at 150 % the excess shed "
        f"(503, Retry-After), goodput near capacity, nothing accepted lost"
    )
    for r in results:
        print("summary: " + " ".join(f"{key}={value}" for key, value in r.items()))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
