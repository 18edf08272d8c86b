"""Benchmark: the cost of a step against the size of its case, with one case run for 200 steps.

The father's newborn application (as bench/newborn_lifecycle.py submits it: each case another
clone of the demo father's family, with a child of its own, since a child has one open or
granted case at most) goes into a correction loop (补正) on its police item, through the service layer in process: the police
clerk sends the item back for correction (`decide(..., "correction", reopen=[fact])`), the
applicant corrects that fact (`submit_correction`), and again, ~100 times: 200 steps. Every
step is timed (wall and CPU), with the size of the serialized workflow state after it and the
number of tasks in the workflow's tree.

Each step runs twice over, in two modes, on two identical cases, alternately:
  warm  as one worker serves it: the live workflow this process saved last is reused
        (engine.store.LiveWorkflows), so no JSON restore;
  cold  as a second worker (or a restarted one) serves it: the state is restored from JSON.
`--repeat N` runs N such pairs of cases (steps are then the median across cases).

The target (issue 23): a late step at most 1.2x an early one, kind by kind. The steps alternate
a decision and a correction, and a correction costs more than a decision at any length, so each
kind's last step is set against its first (smoothed: the median of the 5 nearest of its kind);
the headline is the worse kind, wall time (CPU beside it). The 200th step (a correction) against
the 1st (a decision) is printed too, marked as mixing kind and length.

Then a profile (cProfile) of the first steps against the last ones (`--profile-steps` of each
kind, on a fresh pair of cases), by function: where the extra time goes.

Run: `.venv/bin/python bench/long_case.py [--steps 200] [--postgres]` (see --help).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import json
import pstats
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from applicants import Applicant, add_citizens, clone_families  # noqa: E402
from newborn_lifecycle import (  # noqa: E402 - the shared benchmark helpers
    ANSWERS,
    FAMILY,
    PG_BASE,
    fresh_runtime,
    load_average,
    machine,
    postgres_database,
)

import engine.store as store  # noqa: E402
from demo.registry import generate_dataset  # noqa: E402
from engine import cases as runner  # noqa: E402
from engine.store import ProcessInstance  # noqa: E402
from services.accounts.models import User  # noqa: E402
from services.calendar import local_date  # noqa: E402
from services.cases import corrections, decisions, submission
from services.cases.models import Case, CaseItem  # noqa: E402
from services.runtime import Runtime  # noqa: E402

TARGET_RATIO = 1.2  # a late step at most 1.2x an early one of its kind (issue 23)
ITEM = "police_birth_registration"
CLERK = "police01"
CHECKPOINTS = (1, 2, 10, 11, 50, 51, 100, 101, 150, 151, 199, 200)
PHASES = [  # (module, attribute, label): timed inside each step
    (runner, "restore", "restore (JSON -> workflow)"),
    (runner, "dump", "dump (workflow -> JSON)"),
    (runner, "complete", "SpiffWorkflow complete + engine steps"),
    (runner, "ready_tasks", "ready_tasks (tree walk)"),
    (runner, "observe", "observe (tree walk: tasks, checks, timers)"),
]


@dataclass
class Step:
    number: int
    kind: str  # decide | correct
    ms: float
    cpu_ms: float
    state_bytes: int
    tasks: int
    statements: int
    phases: dict[str, float] = field(default_factory=dict)


class Phases:
    """Exclusive-enough timers: each wrapped engine function's own inclusive time per step, and
    the SQL statements and their time."""

    def __init__(self, db) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.statements = 0
        self.db = db
        self.originals: list[tuple[Any, str, Any]] = []
        self._sql_start = 0.0
        self._gc_start = 0.0

    def reset(self) -> None:
        self.totals.clear()
        self.statements = 0

    def _wrap(self, label: str, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.totals[label] += (time.perf_counter() - t0) * 1000

        return wrapper

    def _gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.totals["GC pauses (cyclic collector)"] += (
                time.perf_counter() - self._gc_start
            ) * 1000

    def _before(self, *_args) -> None:
        self.statements += 1
        self._sql_start = time.perf_counter()

    def _after(self, *_args) -> None:
        self.totals["SQL statements (driver)"] += (time.perf_counter() - self._sql_start) * 1000

    def __enter__(self) -> Phases:
        for owner, name, label in PHASES:
            original = getattr(owner, name)
            self.originals.append((owner, name, original))
            setattr(owner, name, self._wrap(label, original))
        original = store._sync_tasks
        self.originals.append((store, "_sync_tasks", original))
        store._sync_tasks = self._wrap(
            "_sync_tasks (read model + timers, incl. tree walks)", original
        )
        event.listen(self.db, "before_cursor_execute", self._before)
        event.listen(self.db, "after_cursor_execute", self._after)
        gc.callbacks.append(self._gc)
        return self

    def __exit__(self, *_exc) -> None:
        gc.callbacks.remove(self._gc)
        event.remove(self.db, "before_cursor_execute", self._before)
        event.remove(self.db, "after_cursor_execute", self._after)
        for owner, name, original in reversed(self.originals):
            setattr(owner, name, original)
        self.originals.clear()


class LongCase:
    """One newborn case whose police item goes round the correction loop; its applicant is the
    next of `applicants` (each applies once: the case stays open)."""

    def __init__(self, rt: Runtime, fact: str, cold: bool, applicants: Iterator[Applicant]) -> None:
        self.rt = rt
        self.fact = fact
        self.cold = cold
        self.step_number = 0
        self.values = ("13812345678", "13912345678") if fact == "applicant_phone" else None
        username = next(applicants).id_number
        with Session(rt.db, expire_on_commit=False) as session:
            self.citizen = session.exec(select(User).where(User.username == username)).one()
            self.clerk = session.exec(select(User).where(User.username == CLERK)).one()
            case = submission.submit_application(
                session,
                rt,
                user=self.citizen,
                matter_code="newborn",
                answers=ANSWERS,
                consented=True,
            )
            self.case_id, self.instance_id = case.id, case.instance_id
            self.original = case.data.get(fact)
            item = session.exec(
                select(CaseItem).where(CaseItem.case_id == case.id, CaseItem.item_code == ITEM)
            ).one()
            self.item_id = item.id

    def _value(self) -> Any:
        if self.values:
            return self.values[self.step_number // 2 % 2]
        return f"{self.original}{self.step_number // 2 % 2}" if self.original else "张小满"

    def step(self) -> str:
        """The next step: a correction request (odd steps) or the applicant's correction."""
        self.step_number += 1
        if self.cold:  # as another worker would: the state is restored from JSON
            store._LIVE._entries.pop((id(self.rt.db), self.instance_id), None)
        with Session(self.rt.db, expire_on_commit=False) as session:
            if self.step_number % 2:
                decisions.decide(
                    session,
                    self.rt,
                    user=self.clerk,
                    item_id=self.item_id,
                    decision="correction",
                    comment="请核对并更正",
                    reopen=[self.fact],
                )
                return "decide"
            corrections.submit_correction(
                session,
                self.rt,
                user=self.citizen,
                case_id=self.case_id,
                item_id=self.item_id,
                answers={self.fact: self._value()},
            )
            return "correct"

    def state(self) -> tuple[int, int, str]:
        with Session(self.rt.db) as session:
            instance = session.get(ProcessInstance, self.instance_id)
            state = instance.state
        return len(state.encode()), len(json.loads(state).get("tasks", {})), state

    def spec(self):
        with Session(self.rt.db) as session:
            instance = session.get(ProcessInstance, self.instance_id)
            return store.spec_for(session, self.rt.specs, instance)


def run_case(case: LongCase, steps: int, phases: Phases) -> list[Step]:
    out = []
    for _ in range(steps):
        phases.reset()
        cpu0, t0 = time.thread_time(), time.perf_counter()
        kind = case.step()
        ms = (time.perf_counter() - t0) * 1000
        cpu = (time.thread_time() - cpu0) * 1000
        size, tasks, _state = case.state()
        out.append(
            Step(
                case.step_number, kind, ms, cpu, size, tasks, phases.statements, dict(phases.totals)
            )
        )
    return out


def interleaved(
    rt: Runtime, fact: str, steps: int, repeat: int, applicants: Iterator[Applicant]
) -> dict[str, list[list[Step]]]:
    """`repeat` pairs of cases (warm, cold), stepped alternately so both see the same load."""
    runs: dict[str, list[list[Step]]] = {"warm": [], "cold": []}
    with Phases(rt.db) as phases:
        for _ in range(repeat):
            pair = {mode: LongCase(rt, fact, mode == "cold", applicants) for mode in runs}
            series: dict[str, list[Step]] = {mode: [] for mode in runs}
            for _ in range(steps):
                for mode, case in pair.items():
                    series[mode] += run_case(case, 1, phases)
            for mode in runs:
                runs[mode].append(series[mode])
    return runs


def median_steps(series: list[list[Step]]) -> list[Step]:
    """Per step number, the median across cases (phases too)."""
    merged = []
    for steps in zip(*series, strict=True):
        phases = defaultdict(list)
        for s in steps:
            for label, ms in s.phases.items():
                phases[label].append(ms)
        merged.append(
            Step(
                steps[0].number,
                steps[0].kind,
                statistics.median(s.ms for s in steps),
                statistics.median(s.cpu_ms for s in steps),
                steps[0].state_bytes,
                steps[0].tasks,
                steps[0].statements,
                {label: statistics.median(v) for label, v in phases.items()},
            )
        )
    return merged


def window(steps: list[Step], number: int, cpu: bool = False, width: int = 5) -> float:
    """Median over the `width` steps of the same kind nearest to `number` (noise-resistant)."""
    kind = steps[number - 1].kind
    near = sorted((s for s in steps if s.kind == kind), key=lambda s: abs(s.number - number))
    return statistics.median(s.cpu_ms if cpu else s.ms for s in near[:width])


def print_series(mode: str, steps: list[Step]) -> dict[str, Any]:
    print(
        f"\n  {mode}: step  kind     ms    (CPU)   smoothed* (CPU)  state bytes  tasks  SQL  "
        "dump restore  spiff sync_tasks    GC"
    )
    for number in CHECKPOINTS:
        if number > len(steps):
            continue
        s = steps[number - 1]
        p = s.phases
        print(
            f"  {'':6}{s.number:4}  {s.kind:7} {s.ms:6.1f} ({s.cpu_ms:6.1f})  "
            f"{window(steps, number):6.1f} ({window(steps, number, cpu=True):6.1f})"
            f"  {s.state_bytes:10,} {s.tasks:6}  {s.statements:3} "
            f"{p.get('dump (workflow -> JSON)', 0):5.1f} {p.get('restore (JSON -> workflow)', 0):6.1f} "
            f"{p.get('SpiffWorkflow complete + engine steps', 0):6.1f} "
            f"{p.get('_sync_tasks (read model + timers, incl. tree walks)', 0):9.1f} "
            f"{p.get('GC pauses (cyclic collector)', 0):6.1f}"
        )
    # A step's cost against the case's length, kind by kind: the steps alternate a decision and
    # a correction, and a correction costs more than a decision whatever the length, so the
    # 200th step (a correction) against the 1st (a decision) would measure the kind, not the
    # length. Each kind's last step against its first; the headline is the worse kind.
    ratios: dict[str, Any] = {}
    worst: tuple[float, float, str, int, int] | None = None
    for kind in dict.fromkeys(s.kind for s in steps):
        numbers = [s.number for s in steps if s.kind == kind]
        first, last = numbers[0], numbers[-1]
        wall = window(steps, last) / window(steps, first)
        cpu = window(steps, last, cpu=True) / window(steps, first, cpu=True)
        ratios[f"{kind}: step {last} / step {first}, smoothed wall"] = wall
        ratios[f"{kind}: step {last} / step {first}, smoothed CPU"] = cpu
        if worst is None or wall > worst[0]:
            worst = (wall, cpu, kind, first, last)
    assert worst is not None
    ratios["growth, worse kind, smoothed wall"] = worst[0]
    ratios["growth, worse kind, smoothed CPU"] = worst[1]
    ratios["worse kind"] = worst[2]
    ratios["first_step"], ratios["last_step"] = worst[3], worst[4]
    ratios["first_ms"] = window(steps, worst[3])
    ratios["last_ms"] = window(steps, worst[4])
    mixed = f"mixed: step {len(steps)} / step 1 (different kinds), smoothed wall"
    ratios[mixed] = window(steps, len(steps)) / window(steps, 1)
    for label, value in ratios.items():
        if not isinstance(value, float) or label in ("first_ms", "last_ms"):
            continue  # the headline's bookkeeping (its kind, step numbers and times)
        if label.startswith("mixed"):
            print(f"  {'':6}{label:58} {value:5.2f}x  (kind and length mixed: not the target)")
            continue
        verdict = "meets" if value <= TARGET_RATIO else "MISSES"
        print(f"  {'':6}{label:58} {value:5.2f}x  (target <= {TARGET_RATIO}x: {verdict})")
    return ratios


def phase_growth(steps: list[Step]) -> None:
    """Where a late step spends more than an early one of the same kind, by timed phase."""
    for kind in ("decide", "correct"):
        mine = [s for s in steps if s.kind == kind]
        if len(mine) < 10:
            continue
        early, late = mine[:5], mine[-5:]
        labels = sorted({label for s in early + late for label in s.phases})

        def med(group: list[Step], label: str) -> float:
            return statistics.median(s.phases.get(label, 0.0) for s in group)

        total_early = statistics.median(s.ms for s in early)
        total_late = statistics.median(s.ms for s in late)
        print(
            f"    {kind}: steps {early[0].number}-{early[-1].number} {total_early:6.1f} ms -> "
            f"steps {late[0].number}-{late[-1].number} {total_late:6.1f} ms "
            f"({total_late - total_early:+.1f} ms); by phase (inclusive, nested phases overlap):"
        )
        rows = sorted(labels, key=lambda label: med(late, label) - med(early, label), reverse=True)
        for label in rows:
            a, b = med(early, label), med(late, label)
            print(f"      {label:54} {a:7.2f} -> {b:7.2f} ms  ({b - a:+6.2f})")
        statements = (
            statistics.median(s.statements for s in early),
            statistics.median(s.statements for s in late),
        )
        print(f"      {'SQL statements per step':54} {statements[0]:7.0f} -> {statements[1]:7.0f}")


# --- the state's anatomy --------------------------------------------------------------------------


def anatomy(state: str, spec) -> None:
    """What the serialized state is made of: bytes per part, and the tasks by their spec; and
    what the process spec would cost in a dump and a restore if the state held it, as
    SpiffWorkflow's own converter writes it (ours names the spec instead)."""
    data = json.loads(state)
    total = len(state.encode())
    workflow = runner.restore(state, spec)
    serializer = runner._SERIALIZER
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        runner.dump(workflow)
    dump_ms = (time.perf_counter() - t0) * 1000 / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        runner.restore(state, spec)
    restore_ms = (time.perf_counter() - t0) * 1000 / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        serializer.registry._encoder_mode = True
        try:
            spec_json = json.dumps(serializer.to_dict(workflow.spec), cls=serializer._encoder_cls)
        finally:
            serializer.registry._encoder_mode = False
    spec_dump_ms = (time.perf_counter() - t0) * 1000 / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        serializer.from_dict(json.loads(spec_json))
    spec_restore_ms = (time.perf_counter() - t0) * 1000 / rounds
    print(
        f"    dump {dump_ms:.1f} ms, restore {restore_ms:.1f} ms (quiet, {rounds} rounds); the "
        f"process spec, not in the state, would add: dump {spec_dump_ms:.1f} ms, restore "
        f"{spec_restore_ms:.1f} ms, {len(spec_json.encode()):,} bytes"
    )
    print(f"    total {total:,} bytes; top-level parts:")
    for key, value in sorted(data.items(), key=lambda kv: -len(json.dumps(kv[1]))):
        size = len(json.dumps(value).encode())
        if size > 200:
            print(f"      {key:24} {size:10,} bytes  {size / total:6.1%}")
    tasks = data.get("tasks", {})
    for sub in (data.get("subprocesses") or {}).values():
        tasks = {**tasks, **sub.get("tasks", {})}
    if not tasks:
        return
    per_field: dict[str, int] = defaultdict(int)
    by_state: dict[str, int] = defaultdict(int)
    by_spec: dict[str, int] = defaultdict(int)
    for task in tasks.values():
        for key, value in task.items():
            per_field[key] += len(json.dumps(value).encode())
        by_state[str(task.get("state"))] += 1
        by_spec[str(task.get("task_spec"))] += 1
    print(f"    {len(tasks)} tasks: bytes by task field (summed over tasks):")
    for key, size in sorted(per_field.items(), key=lambda kv: -kv[1])[:8]:
        print(f"      {key:24} {size:10,} bytes  {size / total:6.1%}")
    states = ", ".join(f"{k}: {v}" for k, v in sorted(by_state.items(), key=lambda kv: -kv[1]))
    print(f"    tasks by state (SpiffWorkflow TaskState values): {states}")
    specs = ", ".join(f"{k} {v}" for k, v in sorted(by_spec.items(), key=lambda kv: -kv[1])[:10])
    print(f"    tasks by spec (top 10): {specs}")


# --- the profile ---------------------------------------------------------------------------------


def _where(key: tuple) -> str:
    filename, line, name = key
    if "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    elif "/work/" in filename or filename.startswith("/"):
        parts = Path(filename).parts
        filename = "/".join(parts[-2:])
    return f"{filename}:{line}({name})"


@contextmanager
def profiled() -> Iterator[cProfile.Profile]:
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield profile
    finally:
        profile.disable()


def profile_compare(
    rt: Runtime,
    fact: str,
    steps: int,
    sample: int,
    cold: bool,
    top: int,
    applicants: Iterator[Applicant],
) -> None:
    """cProfile of the first `sample` steps of each kind against the last ones of a fresh case."""
    case = LongCase(rt, fact, cold, applicants)
    with profiled() as early:
        for _ in range(2 * sample):
            case.step()
    for _ in range(steps - 4 * sample):
        case.step()
    with profiled() as late:
        for _ in range(2 * sample):
            case.step()
    a, b = pstats.Stats(early).stats, pstats.Stats(late).stats
    n = 2 * sample
    total_a = sum(v[2] for v in a.values()) * 1000 / n
    total_b = sum(v[2] for v in b.values()) * 1000 / n
    mode = "cold (restore from JSON)" if cold else "warm (live workflow)"
    print(
        f"\n  {mode}: steps 1-{n} {total_a:.1f} ms per step under cProfile; steps "
        f"{steps - n + 1}-{steps} {total_b:.1f} ms ({total_b / total_a:.2f}x)"
    )
    print(f"    cumulative ms per step, sorted by growth (top {top}); calls per step early -> late")
    keys = set(a) | set(b)

    def cum(stats, key):
        entry = stats.get(key)
        return entry[3] * 1000 / n if entry else 0.0

    def calls(stats, key):
        entry = stats.get(key)
        return entry[1] / n if entry else 0.0

    rows = sorted(keys, key=lambda k: cum(b, k) - cum(a, k), reverse=True)
    shown = 0
    for key in rows:
        if key[0] == "~" and "method" not in key[2]:
            continue
        print(
            f"    {cum(a, key):8.2f} -> {cum(b, key):8.2f} ms ({cum(b, key) - cum(a, key):+7.2f})  "
            f"calls {calls(a, key):8.0f} -> {calls(b, key):8.0f}  {_where(key)}"
        )
        shown += 1
        if shown == top:
            break
    print("    self time per step, sorted by growth (top 12):")
    rows = sorted(keys, key=lambda k: b.get(k, (0, 0, 0))[2] - a.get(k, (0, 0, 0))[2], reverse=True)
    for key in rows[:12]:
        sa = a.get(key, (0, 0, 0))[2] * 1000 / n
        sb = b.get(key, (0, 0, 0))[2] * 1000 / n
        print(f"    {sa:8.2f} -> {sb:8.2f} ms ({sb - sa:+7.2f})  {_where(key)}")


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=200, help="steps per case (even)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of cases (median per step)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--pg-url", default=PG_BASE)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-steps", type=int, default=5, help="steps of each kind profiled")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--summary-json", help="write the summary figures to this file")
    args = parser.parse_args()
    steps = args.steps + args.steps % 2

    print(machine())
    started = time.perf_counter()
    summary: dict[str, Any] = {"target_ratio": TARGET_RATIO, "steps": steps}
    with tempfile.TemporaryDirectory(prefix="onething-long-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        generate_dataset(registry_path, people=2000, today=local_date(datetime.now(UTC)))
        url = None
        if args.postgres:
            url = stack.enter_context(postgres_database(args.pg_url))
        rt = fresh_runtime(root / "data", registry_path, url)
        stack.callback(rt.db.dispose)
        # one applicant per case: the warm-up, the pairs, the first state, the profiled two
        clones = clone_families(registry_path, [FAMILY], 2 * args.repeat + 4)
        add_citizens(rt, clones)
        applicants = iter(clones)
        backend = "PostgreSQL" if url else "SQLite"
        spec = rt.spec_for(rt.catalog.matters["newborn"])
        item = rt.catalog.items[ITEM]
        free = [f for f in item.facts if f not in spec.variables]  # no effect on routing
        fact = "applicant_phone" if "applicant_phone" in free else free[0]
        print(
            f"\n{backend}, in process; the father's newborn case, item {ITEM}: the clerk "
            f"{CLERK} reopens {fact!r}, the applicant corrects it; {steps} steps per case, "
            f"{args.repeat} pair(s) of cases (warm, cold) stepped alternately"
        )
        warmup = LongCase(rt, fact, False, applicants)  # imports, caches, first-use costs
        for _ in range(6):
            warmup.step()
        print(f"load average before: {load_average()}")
        t0 = time.perf_counter()
        runs = interleaved(rt, fact, steps, args.repeat, applicants)
        print(f"load average after: {load_average()} ({time.perf_counter() - t0:.0f} s)")
        merged = {mode: median_steps(series) for mode, series in runs.items()}
        print(
            "\n(1) step cost against case size (ms; * smoothed: median of the 5 nearest steps "
            "of the same kind); phases are inclusive ms inside the step"
        )
        for mode, mine in merged.items():
            summary[mode] = print_series(mode, mine)
        print("\n(2) where a late step spends more than an early one (timed phases)")
        for mode, mine in merged.items():
            print(f"  {mode}:")
            phase_growth(mine)
        last = runs["warm"][0][-1]
        holder = _state_holder(rt, warmup)
        _size, _tasks, state = holder.state()
        print(f"\n(3) the serialized state after {steps} steps ({last.state_bytes:,} bytes):")
        anatomy(state, holder.spec())
        first_state = first_state_of(rt, fact, applicants)
        print("    for comparison, the state after step 1:")
        anatomy(first_state, holder.spec())
        summary["state_bytes"] = {
            "step 1": runs["warm"][0][0].state_bytes,
            f"step {steps}": last.state_bytes,
        }
        if not args.no_profile:
            print(f"\n(4) cProfile: the first {2 * args.profile_steps} steps against the last ones")
            for cold in (False, True):
                profile_compare(rt, fact, steps, args.profile_steps, cold, args.top, applicants)
        if args.summary_json:
            summary["backend"] = backend
            summary["load_average"] = load_average()
            Path(args.summary_json).write_text(json.dumps(summary))
    print(
        f"\ntotal bench time {time.perf_counter() - started:.0f} s, load average {load_average()}"
    )


def _state_holder(rt: Runtime, warmup: LongCase) -> LongCase:
    """A LongCase pointing at the first warm case's instance (for its final state)."""
    holder = LongCase.__new__(LongCase)
    holder.rt = rt
    with Session(rt.db) as session:
        # the first measured warm case is the one created right after the warm-up case
        case = session.exec(select(Case).where(Case.id > warmup.case_id).order_by(Case.id)).first()
        holder.instance_id = case.instance_id
    return holder


def first_state_of(rt: Runtime, fact: str, applicants: Iterator[Applicant]) -> str:
    case = LongCase(rt, fact, False, applicants)
    case.step()
    return case.state()[2]


if __name__ == "__main__":
    main()
