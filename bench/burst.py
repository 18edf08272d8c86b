"""Benchmark: a school-enrollment opening burst. 200 applicants submit `school_enrollment`
applications at once, back to back, for 60 seconds, against `onething serve` on loopback.

Preparation (once, shared by every configuration):
  - the embedded registry: `onething registry generate --people N` (synthetic people);
  - the applicants: parents in that registry whose child starts school at the next intake and
    whose application the registries prefill entirely (the form then asks only for a phone
    number and the delivery method, and no upload: what the JSON API can submit), found with
    the real prefill and form compiler (`services.registries.prefill`, `forms.compiler`), one
    parent per child: a matter takes one open or granted case per subject (here the child), so
    every applicant applies once, for a child of their own. When the registry has fewer such
    families than the burst could use (`--max-rate` submissions per second for `--seconds`, or
    `--applicants`), their families are cloned under new ID and record numbers
    (bench/applicants.py), a sample of the clones checked to prefill entirely too;
Per configuration (a fresh data directory and database each):
  - the schema and demo accounts (`fresh_runtime`), then one citizen account per applicant,
    inserted in bulk with one precomputed argon2 hash of the demo password, and one login
    session each (rows as `open_session` writes them: the applicants signed in before the
    opening, so argon2 logins are not part of the burst);
  - `onething serve --workers N` as a subprocess (environment ONETHING_DATA_DIR and
    ONETHING_DATABASE_URL, as an operator would run it) on a free loopback port;
  - the burst: `--clients` asyncio tasks sharing one httpx.AsyncClient (a connection each),
    each submitting `POST /api/v1/cases {"matter": "school_enrollment", "consent": true, ...}`
    as the next applicant, back to back, until `--seconds` have passed (requests in flight then
    are awaited and counted); no applicant applies twice (a client stops if the list runs out,
    which is reported); an application the server sheds (503 with Retry-After: web/admission.py)
    is sent again after the seconds its Retry-After asks for, as a well-behaved client does (after
    the burst's end too, for up to a minute: it is still in flight), and counted as shed;
  - checks: every 201 is a case in the database with its items routed and a subject of its own;
    every other response or transport error is an error: status/body samples are printed, with
    the tracebacks from the server's log.

Configurations: PostgreSQL with 1 and 2 workers, SQLite with 1 worker (`--configs`).

Run: `.venv/bin/python bench/burst.py [--seconds 60] [--clients 200]` (see --help).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import text
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from applicants import Applicant, add_citizens, clone_families  # noqa: E402
from newborn_lifecycle import (  # noqa: E402 - the shared benchmark helpers
    PG_BASE,
    fresh_runtime,
    load_average,
    machine,
    postgres_cpu,
    postgres_database,
    proc_cpu,
)

from forms.compiler import compile_form  # noqa: E402
from services.calendar import local_date  # noqa: E402
from services.registries.embedded import EmbeddedRegistry  # noqa: E402
from services.registries.prefill import prefill  # noqa: E402
from services.runtime import build_runtime  # noqa: E402

MATTER = "school_enrollment"
ANSWERS = {"applicant_phone": "13912345678", "delivery_method": "online"}
SHED_RETRY_SECONDS = 1.0  # when a 503 has no Retry-After (web/admission.py always sends one)
PATIENCE_SECONDS = 60.0  # a shed application is sent again until this long after the burst
ONETHING = Path(sys.executable).with_name("onething")


def percentile(samples: list[float], p: int) -> float:
    if not samples:
        return float("nan")
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


# --- preparation -------------------------------------------------------------------------------


def generate_registry(path: Path, people: int) -> float:
    t0 = time.perf_counter()
    today = local_date(datetime.now(UTC)).isoformat()
    subprocess.run(
        [
            str(ONETHING),
            "registry",
            "generate",
            "--people",
            str(people),
            "--path",
            str(path),
            "--today",
            today,
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def find_applicants(
    registry_path: Path, wanted: int, seed: int = 11
) -> tuple[list[Applicant], int]:
    """Parents whose school_enrollment form the registries prefill entirely (no uploads), one
    per child (the matter's subject)."""
    matter = _matter()
    today = local_date(datetime.now(UTC))
    intake = today.year + (1 if (today.month, today.day) >= (9, 1) else 0)
    # children who start school at this intake or the one before (as the prefill resolver says)
    low, high = f"{intake - 8}-09-01", f"{intake - 6}-08-31"
    with sqlite3.connect(f"file:{registry_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT p.id_number, p.name FROM birth b JOIN person p "
            "ON p.id_number IN (b.mother_id_number, b.father_id_number) "
            "WHERE b.birth_date BETWEEN ? AND ? AND p.alive = 1",
            (low, high),
        ).fetchall()
    rng = random.Random(seed)
    rng.shuffle(rows)
    registry = EmbeddedRegistry(registry_path)
    found, children, checked = [], set(), 0
    for id_number, name in rows:
        if len(found) >= wanted:
            break
        checked += 1
        child = _prefilled_child(registry, matter, id_number)
        if child is None or child in children:  # the other parent applies for this child
            continue
        children.add(child)
        found.append(Applicant(id_number, name))
    registry.close()
    return found, checked


def _matter():
    from forms.catalog import default_catalog

    return default_catalog().matters[MATTER]


def _prefilled_child(registry: EmbeddedRegistry, matter, id_number: str) -> str | None:
    """The ID number of the child whose school_enrollment form the registries prefill entirely
    for this parent (the form asks only ANSWERS, no upload); None if there is no such child."""
    from forms.catalog import default_catalog

    lookup = prefill(registry, id_number, matter.subjects)
    form = compile_form(default_catalog(), matter, lookup.facts, ANSWERS, validate=True)
    if form.errors or form.uploads:
        return None
    if any(f.known is None and f.required and f.key not in ANSWERS for f in form.fields):
        return None
    child = lookup.facts.get("school_child_id_number")
    return child.value if child is not None else None


def enough_applicants(
    registry_path: Path, found: list[Applicant], wanted: int, sample: int = 20
) -> list[Applicant]:
    """`found`, then clones of their families until there are `wanted` applicants (a sample of
    the clones checked: each prefills entirely, for a child of their own)."""
    if len(found) >= wanted or not found:
        return found[:wanted]
    copies = math.ceil((wanted - len(found)) / len(found))
    clones = clone_families(registry_path, found, copies)
    registry = EmbeddedRegistry(registry_path)
    matter = _matter()
    try:
        children = {_prefilled_child(registry, matter, a.id_number) for a in clones[:sample]}
    finally:
        registry.close()
    if None in children or len(children) < min(sample, len(clones)):
        raise RuntimeError("cloned families do not prefill entirely, each for a child of its own")
    return (found + clones)[:wanted]


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`onething serve --workers N` in a subprocess, its output in a log file."""

    def __init__(self, folder: Path, database_url: str, workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "serve.log"
        env = {
            **os.environ,
            "ONETHING_DATA_DIR": str(folder),
            "ONETHING_DATABASE_URL": database_url,
        }
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(ONETHING), "serve", "--port", str(self.port), "--workers", str(workers)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the workers stop with it
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"onething serve exited:\n{self.log()[-3000:]}")
            try:
                httpx.get(f"{self.base}/api/v1/tasks", timeout=1.0, trust_env=False)
                if workers == 1 or self._workers_ready(workers):
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"onething serve did not answer:\n{self.log()[-3000:]}")

    def _workers_ready(self, workers: int) -> bool:
        return self.log().count("Application startup complete") >= workers

    def pids(self) -> list[int]:
        """The server process and its worker processes."""
        found = [self.process.pid]
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) in found:  # ppid: a child of the server (uvicorn's workers)
                found.append(int(pid))
        return found

    def cpu(self) -> float:
        return sum(proc_cpu(pid) for pid in self.pids())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


# --- the burst ---------------------------------------------------------------------------------


@dataclass
class Burst:
    latencies: list[float] = field(default_factory=list)  # ms, successful requests
    statuses: Counter = field(default_factory=Counter)
    errors: list[tuple[float, str, str]] = field(default_factory=list)  # (at s, status, body)
    case_ids: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    used: int = 0  # applicants who applied (each once)
    ran_out: bool = False  # the list ran out before the end: clients stopped early
    per_second: Counter = field(default_factory=Counter)
    shed: int = 0  # answered 503 with Retry-After (the server at capacity), then sent again


async def burst(
    base: str, tokens: list[str], clients: int, seconds: float, *, as_arrivals: bool = False
) -> Burst:
    """`clients` applicants at once, each on its own keep-alive connection (loadgen: httpx cost
    the client more CPU per request than the server's work), submitting back to back. With
    `as_arrivals` each application is sent as bench/open_loop.py's arrivals send theirs: on a
    connection of its own, with an Idempotency-Key (so that a capacity measured this way is the
    capacity for those applications)."""
    result = Burst()
    host, port = urlsplit(base).hostname, urlsplit(base).port
    next_applicant = iter(range(10**9))
    body = json.dumps({"matter": MATTER, "answers": ANSWERS, "consent": True}).encode()
    start = time.perf_counter()
    stop_at = start + seconds

    async def applicant_loop() -> None:
        connection = loadgen.Connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                n = next(next_applicant)
                if n >= len(tokens):  # a second application for a child would be refused
                    result.ran_out = True
                    break
                result.used = max(result.used, n + 1)
                headers = {
                    "Authorization": f"Bearer {tokens[n]}",
                    "Content-Type": "application/json",
                }
                if as_arrivals:
                    await connection.close()  # the next request opens a connection of its own
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                while True:  # a shed application (503, Retry-After) is sent again after it
                    t0 = time.perf_counter()
                    try:
                        status, answer = await asyncio.wait_for(
                            connection.request("POST", "/api/v1/cases", headers, body), 300
                        )
                    except (OSError, ConnectionError, TimeoutError) as exc:
                        status, answer = type(exc).__name__, str(exc).encode()
                        break
                    # A shed application is still the citizen's: sent again after the seconds
                    # the server asks for, after the burst's end too (it is in flight), until
                    # PATIENCE_SECONDS after the burst.
                    wait = connection.retry_after or SHED_RETRY_SECONDS
                    if status != 503 or time.perf_counter() + wait > stop_at + PATIENCE_SECONDS:
                        break
                    result.shed += 1
                    await asyncio.sleep(wait)
                if isinstance(status, str):  # a transport error
                    result.statuses[status] += 1
                    result.errors.append((t0 - start, status, answer[:300].decode()))
                    continue
                done = time.perf_counter()
                result.statuses[str(status)] += 1
                if status == 201:
                    result.latencies.append((done - t0) * 1000)
                    result.case_ids.append(json.loads(answer)["id"])
                    result.per_second[int(done - start)] += 1
                else:
                    result.errors.append(
                        (t0 - start, str(status), answer[:300].decode("utf-8", "replace"))
                    )
        finally:
            await connection.close()

    await asyncio.gather(*(applicant_loop() for _ in range(clients)))
    result.elapsed = time.perf_counter() - start
    return result


TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t].*\n|\n)*?\S.*", re.M)


def report(
    name: str, run: Burst, seconds: float, cpu: dict[str, float], server: Server, applicants: int
) -> dict:
    ok = len(run.latencies)
    total = sum(run.statuses.values())
    errors = total - ok
    throughput = ok / run.elapsed
    steady = [run.per_second[s] for s in range(2, int(seconds) - 1)] or [0]
    print(
        f"  {name}: {total} requests in {run.elapsed:.1f} s ({seconds:.0f} s of arrivals + the "
        f"requests in flight), {ok} cases created, {errors} errors"
    )
    print(
        f"    throughput {throughput:.1f} cases/s (per second in the steady part: median "
        f"{statistics.median(steady):.0f}, min {min(steady)}, max {max(steady)})"
    )
    print(
        f"    latency p50 {percentile(run.latencies, 50):7.0f} ms  p95 "
        f"{percentile(run.latencies, 95):7.0f} ms  p99 {percentile(run.latencies, 99):7.0f} ms  "
        f"max {max(run.latencies, default=float('nan')):7.0f} ms"
    )
    cpu_text = ", ".join(f"{k} {v * 1000 / max(ok, 1):.1f} ms" for k, v in cpu.items())
    print(f"    CPU per created case: {cpu_text}")
    print(
        f"    statuses: {dict(run.statuses)}; applicants: {run.used} of {applicants} "
        f"applied, each once (reused: 0); shed with 503 and sent again after its "
        f"Retry-After: {run.shed}"
    )
    if run.ran_out:
        print(
            "    !! the applicants ran out before the end: clients stopped early "
            "(raise --max-rate or --applicants)"
        )
    if errors:
        print("    error samples (time into the burst, status, body):")
        seen = Counter()
        for at, status, text_ in run.errors:
            seen[status] += 1
            if seen[status] <= 3:
                print(f"      {at:6.1f} s  {status}  {text_}")
        tracebacks = TRACEBACK.findall(server.log())
        print(f"    server log {server.log_path}: {len(tracebacks)} tracebacks")
        distinct = Counter(tb.strip().splitlines()[-1] for tb in tracebacks)
        for last_line, count in distinct.most_common(5):
            print(f"      x{count}: {last_line[:300]}")
        notes = [
            line
            for line in server.log().splitlines()
            if "INFO:" not in line and "HTTP/1.1" not in line and line.strip()
        ]
        if notes:  # the server's own messages (a worker restarted, a warning), not its access log
            print(f"    server messages (first 10 of {len(notes)}):")
            for line in notes[:10]:
                print(f"      {line[:200]}")
        if tracebacks or errors:
            kept = Path(tempfile.mkdtemp(prefix="onething-burst-log-")) / "serve.log"
            kept.write_text(server.log())
            print(f"    whole server log kept in {kept}")
        if tracebacks:
            print("    the first traceback, the project's frames:")
            lines = tracebacks[0].splitlines()
            for n, line in enumerate(lines):
                frame = line.strip().startswith("File ")
                if frame and "site-packages" not in line and "<" not in line:
                    print(f"      {line.strip()}")
                    if n + 1 < len(lines):
                        print(f"          {lines[n + 1].strip()}")
            print(f"      {lines[-1].strip()}")
    return {
        "config": name,
        "requests": total,
        "created": ok,
        "errors": errors,
        "throughput": throughput,
        "p50": percentile(run.latencies, 50),
        "p95": percentile(run.latencies, 95),
        "p99": percentile(run.latencies, 99),
        "statuses": dict(run.statuses),
        "shed": run.shed,
        "applicants_used": run.used,
        "ran_out": run.ran_out,
    }


def verify(rt, run: Burst, warmup: Burst) -> str:
    """The database holds exactly the cases the server acknowledged (the burst's and the
    warm-up's), each with its number, routed items and a subject (child) of its own."""
    with Session(rt.db) as session:
        cases, subjects = session.execute(
            text("SELECT count(*), count(DISTINCT subject_key) FROM case_file WHERE matter = :m"),
            {"m": MATTER},
        ).one()
        without_items = session.execute(
            text(
                "SELECT count(*) FROM case_file c WHERE c.matter = :m AND NOT EXISTS "
                "(SELECT 1 FROM case_item i WHERE i.case_id = c.id)"
            ),
            {"m": MATTER},
        ).scalar()
        numbers = session.execute(
            text("SELECT count(DISTINCT number) FROM case_file WHERE matter = :m"), {"m": MATTER}
        ).scalar()
    acknowledged = run.case_ids + warmup.case_ids
    ok = (
        cases == len(acknowledged) == len(set(acknowledged)) == numbers == subjects
        and not without_items
    )
    return (
        f"{'ok' if ok else 'MISMATCH'}: {cases} cases in the database ({numbers} distinct "
        f"numbers, {subjects} distinct subjects, {without_items} without items) for "
        f"{len(run.case_ids)} responses 201 (+ {len(warmup.case_ids)} in the warm-up)"
    )


# --- main --------------------------------------------------------------------------------------


def run_config(
    name: str,
    folder: Path,
    registry_path: Path,
    database_url: str | None,
    workers: int,
    applicants: list[Applicant],
    args: argparse.Namespace,
) -> dict:
    folder.mkdir(parents=True)
    (folder / "registry.sqlite").symlink_to(registry_path)
    rt = fresh_runtime(folder, registry_path, database_url)
    url = rt.settings.db_url
    t0 = time.perf_counter()
    tokens = add_citizens(rt, applicants)
    print(
        f"\n{name}: {len(tokens)} citizen accounts and sessions inserted in "
        f"{time.perf_counter() - t0:.1f} s; starting onething serve --workers {workers}"
    )
    rt.db.dispose()
    server = Server(folder, url, workers)
    try:
        pg_probe = postgres_cpu(url) if database_url else None
        # a few requests first: imports, caches, connection pools (not counted)
        warmup = loadgen.run(lambda: burst(server.base, tokens[-10:], 5, 0.5))
        tokens = tokens[:-10]
        cpu0 = server.cpu()
        pg0 = pg_probe() if pg_probe else {}
        client0 = time.process_time()
        print(
            f"  burst: {args.clients} clients, {args.seconds:.0f} s; load average {load_average()}"
        )
        run = loadgen.run(lambda: burst(server.base, tokens, args.clients, args.seconds))
        cpu = {"server": server.cpu() - cpu0, "this client": time.process_time() - client0}
        if pg_probe:
            pg1 = pg_probe()
            cpu["PostgreSQL"] = sum(v - pg0.get(pid, 0.0) for pid, v in pg1.items())
        print(f"  load average after: {load_average()}")
        figures = report(name, run, args.seconds, cpu, server, len(tokens))
        figures["load_average"] = load_average()
    finally:
        server.stop()
    rt = build_runtime(rt.settings, registry=EmbeddedRegistry(registry_path))
    try:
        print(f"    database check: {verify(rt, run, warmup)}")
    finally:
        rt.db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--people", type=int, default=300_000, help="registry size")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=300.0,
        help="submissions per second a configuration could reach: sizes the applicants",
    )
    parser.add_argument(
        "--applicants",
        type=int,
        help="distinct applicants (default: --max-rate x --seconds, plus 10 for the warm-up)",
    )
    parser.add_argument(
        "--configs",
        default="pg1,pg2,sqlite1",
        help="comma-separated: pg1, pg2 (PostgreSQL, 1 or 2 workers), sqlite1",
    )
    parser.add_argument("--pg-url", default=PG_BASE)
    parser.add_argument("--summary-json", help="write the summary figures to this file")
    args = parser.parse_args()

    print(machine())
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="onething-burst-") as tmp:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        seconds = generate_registry(registry_path, args.people)
        print(f"\nregistry: {args.people:,} synthetic people generated in {seconds:.0f} s")
        t0 = time.perf_counter()
        wanted = args.applicants or math.ceil(args.max_rate * args.seconds) + 10
        found, checked = find_applicants(registry_path, wanted)
        print(
            f"applicants: {len(found)} parents whose school-enrollment form the registries "
            f"prefill entirely, one per child (checked {checked} parents of school-age children) "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        t0 = time.perf_counter()
        applicants = enough_applicants(registry_path, found, wanted)
        if len(applicants) > len(found):
            print(
                f"  + {len(applicants) - len(found)} clones of their families (new ID and record "
                f"numbers, each for a child of their own): {len(applicants)} applicants for up "
                f"to {args.max_rate:.0f} submissions/s, written in {time.perf_counter() - t0:.0f} s"
            )
        for config in [c.strip() for c in args.configs.split(",") if c.strip()]:
            workers = int(config[-1])
            if config.startswith("pg"):
                with postgres_database(args.pg_url) as url:
                    if url is None:
                        continue
                    name = f"PostgreSQL, {workers} worker{'s' if workers > 1 else ''}"
                    results.append(
                        run_config(
                            name, root / config, registry_path, url, workers, applicants, args
                        )
                    )
            else:
                results.append(
                    run_config(
                        "SQLite, 1 worker",
                        root / config,
                        registry_path,
                        None,
                        workers,
                        applicants,
                        args,
                    )
                )
    print(f"\nsummary: {args.clients} clients, {args.seconds:.0f} s; requirement: zero errors")
    for r in results:
        verdict = "meets" if r["errors"] == 0 else "MISSES"
        print(
            f"  {r['config']:24} {r['requests']:6} requests  {r['throughput']:6.1f} cases/s  "
            f"p50 {r['p50']:7.0f} ms  p95 {r['p95']:7.0f} ms  p99 {r['p99']:7.0f} ms  "
            f"errors {r['errors']}: {verdict}"
        )
    if args.summary_json:
        Path(args.summary_json).write_text(
            json.dumps({"clients": args.clients, "seconds": args.seconds, "results": results})
        )
    print(f"total bench time {time.perf_counter() - started:.0f} s, load average {load_average()}")


if __name__ == "__main__":
    main()
