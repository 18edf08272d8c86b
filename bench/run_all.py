"""Run every benchmark in one go and print all their figures, then a table of targets against
what was measured.

  bench/newborn_lifecycle.py  the engine floor and the newborn lifecycle over HTTP
  bench/queue_search.py       the department queue and case search at 1,000,000 cases
  bench/burst.py              200 clients submitting school enrollments for 60 s, each
                              applicant once (a child has one open or granted case)
  bench/long_case.py          step cost against case size, 200 steps of one case
  bench/open_loop.py          applications arriving at a fixed rate, at 80 % and 150 % of the
                              measured capacity (shedding, goodput, nothing lost)

Each benchmark runs as a subprocess (its output is passed through as it comes); the figures of
the summary are read from the JSON each benchmark writes with `--summary-json` (the newborn
benchmark's from its printed summary). A benchmark that fails is reported and the others still
run.

Each benchmark starts once the load left by what ran before (the previous benchmark) has fallen
(`--settle-load`: a one-minute load average of 1.0, waiting at most two minutes).

Run: `.venv/bin/python bench/run_all.py` (full size: about 35-45 minutes on 2 cores, mostly
the 1M-case load), or `--quick` (about 8 minutes: smaller sizes, fewer samples).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# Each benchmark starts once the one-minute load average has fallen to this, or after SETTLE_MAX
# seconds: the one before leaves its servers' load behind (2.5-3.3 after the bursts), and the
# short ones (the long case runs for seconds) measured that load rather than themselves.
SETTLE_LOAD = 1.0
SETTLE_MAX = 120.0


def settle(target: float, longest: float = SETTLE_MAX) -> str:
    """Wait until the one-minute load average is at most `target` (at most `longest` s); says
    how long it waited."""
    started = time.monotonic()
    while os.getloadavg()[0] > target and time.monotonic() - started < longest:
        time.sleep(1.0)
    waited = time.monotonic() - started
    reached = "" if os.getloadavg()[0] <= target else f", still above {target:.1f}"
    return f"waited {waited:.0f} s for the load average to fall to {target:.1f}{reached}"


def run(name: str, argv: list[str], summary: Path | None) -> tuple[int, str, float, str]:
    """Run a benchmark, echoing its output; returns (exit code, output, seconds, load after)."""
    print(f"\n{'=' * 100}\n{name}: {' '.join(argv)}\n  load average before: {load()}\n{'=' * 100}")
    sys.stdout.flush()
    command = [sys.executable, str(BENCH / argv[0]), *argv[1:]]
    if summary is not None:
        command += ["--summary-json", str(summary)]
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line)
        code = process.wait()
    seconds = time.perf_counter() - started
    if code:
        print(f"!! {name} exited with {code}")
    return code, "".join(lines), seconds, load()


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def newborn_rows(output: str) -> list[tuple[str, str, str, str]]:
    """The newborn benchmark's targets, from its printed verdicts and its summary line."""
    rows = []
    line = re.search(r"^summary: (server_floor_ms=.*)$", output, re.M)
    figures = dict(pair.split("=", 1) for pair in line[1].split()) if line else {}
    if figures:
        rows.append(
            (
                "newborn lifecycle, engine floors",
                "(the yardstick)",
                f"server path {figures['server_floor_ms']} ms, stock serializer "
                f"{figures['stock_floor_ms']} ms per case",
                "-",
            )
        )
    for config, ms, share, by_rate, target, verdict in re.findall(
        r"^\s+(uvicorn \+ \w+)\s+sequential client:\s+([\d.]+) ms per case, share ([\d.]+) "
        r"by median, ([\d.]+) by throughput \(target >= ([\d.]+)\): (meets|misses)",
        output,
        re.M,
    ):
        rows.append(
            (
                f"newborn lifecycle, {config}, one worker, sequential client",
                f"floor/stack >= {target}",
                f"{ms} ms per case: {share} by median, {by_rate} by throughput",
                verdict,
            )
        )
    for config, clients, rate, share, target, verdict in re.findall(
        r"^\s+(uvicorn \+ \w+)\s+(\d+) clients, throughput\s+([\d.]+) cases/s = ([\d.]+) of the "
        r"floor's \(target >= ([\d.]+)\): (meets|misses)",
        output,
        re.M,
    ):
        rows.append(
            (
                f"newborn lifecycle, {config}, one worker, {clients} clients",
                f">= {target} of the floor's throughput",
                f"{rate} cases/s = {share}",
                verdict,
            )
        )
    scaling = re.search(
        r"2 workers:\s+([\d.]+) cases/s against\s+([\d.]+) with 1 = ([\d.]+)x .*?: (meets|misses)",
        output,
    )
    if scaling:
        rows.append(
            (
                "newborn lifecycle, PostgreSQL, 2 workers against 1 (same clients)",
                ">= 1.6x",
                f"{scaling[1]} against {scaling[2]} cases/s = {scaling[3]}x",
                scaling[4],
            )
        )
    bare = re.search(
        r"^\s+bare FastAPI \+ uvicorn, no work\s+median\s+([\d.]+) ms.*?nothing else above "
        r"this: ([\d.]+) ms per case, share ([\d.]+) at most",
        output,
        re.M | re.S,
    )
    if bare:
        rows.append(
            (
                "newborn lifecycle, the framework alone (FastAPI + uvicorn, the same ten requests, "
                "no work)",
                "(the ceiling of a share)",
                f"{bare[1]} ms per case; the floor plus this: {bare[2]} ms, a share of {bare[3]} "
                "at most",
                "-",
            )
        )
    if line:
        rows.append(("newborn lifecycle, summary line", "-", line[0], "-"))
    return rows


def open_loop_rows(results: list[dict]) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in results:
        low_ok = r["p95_at_80"] < 300 and r["errors_at_80"] == 0
        rows.append(
            (
                f"open-loop arrivals at 80% of capacity, {r['config']}, one worker",
                "p95 < 300 ms, 0 errors",
                f"capacity {r['capacity']}/s; p95 {r['p95_at_80']} ms, {r['errors_at_80']} errors",
                "meets" if low_ok else "misses",
            )
        )
        high_ok = r["shed_at_150"] > 0 and r["lost"] == 0 and r["goodput_share_at_150"] >= 0.8
        rows.append(
            (
                f"open-loop arrivals at 150% of capacity, {r['config']}, one worker",
                "excess shed (503), goodput near capacity, nothing lost",
                f"goodput {r['goodput_at_150']}/s = {r['goodput_share_at_150']} of capacity; "
                f"{r['shed_at_150']} answers 503; {r['lost']} lost; {r['orphans']} cases for "
                f"clients that gave up",
                "meets" if high_ok else "misses",
            )
        )
    return rows


def queue_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    target = summary["target_ms"]
    for label, results in summary["rounds"].items():
        missed = [r for r in results if r["worst_p95"] >= target]
        worst = max(results, key=lambda r: r["worst_p95"])
        rows.append(
            (
                f"queue and search, {summary['backend']}, {summary['cases']:,} cases ({label})",
                f"p95 < {target:.0f} ms, every scenario",
                f"{len(results) - len(missed)}/{len(results)} scenarios meet; worst p95 "
                f"{worst['worst_p95']:.0f} ms ({worst['scenario']})",
                "meets" if not missed else "misses",
            )
        )
        for r in missed:
            rows.append(
                (
                    f"  - {r['scenario']}",
                    "",
                    f"p95 {r['worst_p95']:.0f} ms (service {r['service_p95']:.0f} ms)",
                    "misses",
                )
            )
    return rows


def burst_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in summary["results"]:
        rows.append(
            (
                f"enrollment burst, {r['config']}, {summary['clients']} clients "
                f"{summary['seconds']:.0f} s",
                "zero errors",
                f"{r['requests']} requests, {r['throughput']:.1f} cases/s, p50/p95/p99 "
                f"{r['p50']:.0f}/{r['p95']:.0f}/{r['p99']:.0f} ms, {r['errors']} errors; "
                f"{r.get('applicants_used', '?')} applicants, each once"
                + (" (the list ran out: clients stopped early)" if r.get("ran_out") else ""),
                "meets" if r["errors"] == 0 else "misses",
            )
        )
    by_config = {r["config"]: r for r in summary["results"]}
    one, two = by_config.get("PostgreSQL, 1 worker"), by_config.get("PostgreSQL, 2 workers")
    if one and two and one["throughput"] > 0:
        ratio = two["throughput"] / one["throughput"]
        rows.append(
            (
                "enrollment burst, PostgreSQL, 2 workers against 1",
                ">= 1.6x",
                f"{two['throughput']:.1f} against {one['throughput']:.1f} cases/s = {ratio:.2f}x",
                "meets" if ratio >= 1.6 else "misses",
            )
        )
    return rows


def long_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    steps = summary["steps"]
    for mode in ("warm", "cold"):
        figures = summary.get(mode)
        if not figures:
            continue
        ratio = figures["growth, worse kind, smoothed wall"]
        cpu = figures["growth, worse kind, smoothed CPU"]
        first, last, kind = figures["first_step"], figures["last_step"], figures["worse kind"]
        rows.append(
            (
                f"long case, {summary['backend']}, {mode} ({steps} steps)",
                f"a late step <= {summary['target_ratio']}x an early one of its kind",
                f"{kind} step {first} {figures['first_ms']:.1f} ms, step {last} "
                f"{figures['last_ms']:.1f} ms: {ratio:.2f}x (CPU {cpu:.2f}x)",
                "meets" if ratio <= summary["target_ratio"] else "misses",
            )
        )
    sizes = summary.get("state_bytes", {})
    if sizes:
        text = ", ".join(f"{k} {v:,} B" for k, v in sizes.items())
        rows.append(("long case, serialized state", "-", text, "-"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--cases", type=int, help="queue_search size (default 1M; quick 100k)")
    parser.add_argument("--sqlite-queue", action="store_true", help="queue_search on SQLite too")
    parser.add_argument(
        "--skip", default="", help="comma-separated: newborn, queue, burst, long, open"
    )
    parser.add_argument(
        "--settle-load",
        type=float,
        default=SETTLE_LOAD,
        help="start each benchmark once the 1-minute load average is at most "
        f"this (waiting at most {SETTLE_MAX:.0f} s; 0: do not wait)",
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    quick = args.quick
    cases = args.cases or (100_000 if quick else 1_000_000)

    plans = []
    if "newborn" not in skip:
        argv = ["newborn_lifecycle.py"]
        quick_args = ["--cases", "20", "--warmup", "2", "--profile-cases", "10"]
        quick_args += ["--load-seconds", "8", "--top", "5"]
        argv += quick_args if quick else []
        plans.append(("newborn", argv, False))
    if "queue" not in skip:
        argv = ["queue_search.py", "--cases", str(cases)]
        argv += ["--samples", "30", "--budget", "8"] if quick else []
        plans.append(("queue", argv, True))
        if args.sqlite_queue:
            plans.append(("queue-sqlite", [*argv, "--sqlite"], True))
    if "burst" not in skip:
        argv = ["burst.py"]
        if quick:
            argv += [
                "--seconds",
                "10",
                "--clients",
                "50",
                "--people",
                "60000",
            ]
        plans.append(("burst", argv, True))
    if "long" not in skip:
        argv = ["long_case.py"]
        argv += ["--repeat", "1", "--no-profile"] if quick else []
        plans.append(("long", argv, True))
    if "open" not in skip:
        argv = ["open_loop.py"]
        # The capacity is measured over open_loop's full 15 s even when quick: over 6 s a
        # PostgreSQL server's closed-loop figure came out above what it sustained, so "80 %"
        # of it was past capacity and its queue grew (p95 1.5 s).
        argv += ["--seconds", "10", "--people", "30000"] if quick else []
        plans.append(("open", argv, True))

    started = time.perf_counter()
    print(f"run_all: {'quick' if quick else 'full size'}; load average {load()}")
    table: list[tuple[str, str, str, str]] = []
    notes = []
    with tempfile.TemporaryDirectory(prefix="onething-run-all-") as tmp:
        for key, argv, has_json in plans:
            if args.settle_load > 0:
                print(f"\n{key}: {settle(args.settle_load)}")
            summary = Path(tmp) / f"{key}.json" if has_json else None
            code, output, seconds, after = run(key, argv, summary)
            notes.append(f"{key}: {seconds:.0f} s, exit {code}, load average after {after}")
            data = read_json(summary) if summary else None
            if key == "newborn":
                rows = newborn_rows(output)
            elif data is None:
                rows = []
            elif key.startswith("queue"):
                rows = queue_rows(data)
            elif key == "burst":
                rows = burst_rows(data)
            elif key == "open":
                rows = open_loop_rows(data)
            else:
                rows = long_rows(data)
            if not rows:
                rows = [(key, "-", f"no figures (exit {code})", "failed")]
            table += rows

    print(f"\n{'=' * 100}\nsummary: targets against measured ({'quick' if quick else 'full size'})")
    width = max(len(r[0]) for r in table)
    target_width = max(len(r[1]) for r in table)
    for name, target, measured, verdict in table:
        print(f"  {name:{width}}  {target:{target_width}}  {verdict:7}  {measured}")
    print("\nruns:")
    for note in notes:
        print(f"  {note}")
    print(f"total {time.perf_counter() - started:.0f} s; load average {load()}")


if __name__ == "__main__":
    main()
