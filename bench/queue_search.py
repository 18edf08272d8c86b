"""Benchmark: the clerk's department queue and case search with 1,000,000 cases in the database.

 (1) load: a fresh database (PostgreSQL by default, `--sqlite` for a SQLite file) gets the
     application's schema and demo accounts, one real newborn case submitted through the
     service (its `data`/`provenance`/`checklist` JSON is the template of every loaded case),
     then N synthetic cases are bulk-loaded straight into `user_account` (the applicants),
     `case_file` and `case_item`: COPY on PostgreSQL (psycopg `cursor.copy`), executemany on
     SQLite, with the secondary indexes dropped during the load and re-created exactly as the
     schema defines them, then VACUUM ANALYZE / ANALYZE. The rows are spread over the matters
     of the catalog (each case gets its matter's items, some conditional ones left out), their
     departments, three years of intake (case ids and numbers in intake order), statuses (old
     cases completed, recent ones open: processing, awaiting correction, partly decided, a
     tail of stuck overdue items), statutory due dates from the working-day calendar, claims
     by the department's clerks, and applicants with valid GB 11643 citizen ID numbers
     (python-stdnum's check digit) and Chinese names.
 (2) timing: the busiest department's clerk runs each scenario (default queue page, filter by
     item, sorted by due date descending, every status sorted by due date, overdue, page 50,
     the status counts, search by case number / case-number prefix / ID last 4 / masked ID)
     through the service functions (`workbench.search_queue`, also as `GET /api/v1/tasks` calls
     it, and `workbench.status_counts`; one Session per call, as per request), and through HTTP
     (`GET /api/v1/queue`, `GET /api/v1/tasks`) on a real uvicorn server on loopback with the clerk's
     bearer token. Scenarios run round-robin so they share the machine's load; search terms
     vary per sample (drawn from the loaded rows).
 (3) for every scenario over the target (p95 < 50 ms), each SQL statement of one call is
     shown with EXPLAIN (ANALYZE, BUFFERS) (EXPLAIN QUERY PLAN on SQLite).

`--with-indexes` re-runs the timing after creating the indexes proposed in docs/performance.md
in the benchmark's own database (the models are not changed), to check what they buy.

Run: `.venv/bin/python bench/queue_search.py [--cases N] [--sqlite]` (see --help).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, event, text
from sqlmodel import Session, select
from stdnum.cn import ric

sys.path.insert(0, str(Path(__file__).resolve().parent))

from newborn_lifecycle import (  # noqa: E402 - the shared benchmark helpers
    ANSWERS,
    FATHER,
    PG_BASE,
    _expect,
    fresh_runtime,
    load_average,
    machine,
    uvicorn_server,
)

from demo.registry import (  # noqa: E402
    DISTRICTS,
    MIGRANT_BIRTH_REGIONS,
    generate_dataset,  # noqa: E402
)
from demo.seed import DEMO_PASSWORD, _demo_password_hash  # noqa: E402
from services.accounts.models import User  # noqa: E402
from services.calendar import add_working_days, local_date  # noqa: E402
from services.cases import submission, workbench
from services.cases.models import Case  # noqa: E402
from services.runtime import Runtime  # noqa: E402

TARGET_MS = 25.0  # p95 of every queue and search request at 1M cases (issue 23)
HISTORY_DAYS = 3 * 365  # intake spread over three years
OPEN_DECAY_DAYS = 15.0  # P(open) = exp(-age / this) for a case `age` days old
STUCK_SHARE = 0.004  # older cases with an item still open (overdue, stuck)
MATTER_WEIGHTS = {
    "newborn": 16,
    "school_enrollment": 14,
    "employment": 14,
    "retirement": 10,
    "unemployment": 9,
    "housing_fund": 9,
    "convenience_store": 9,
    "real_estate_transfer": 8,
    "death": 8,
    "veteran": 3,
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国文斌宇浩然子涵梓轩一诺欣怡思远嘉怡俊杰晨阳雨泽沐阳佳琪梦瑶博文天佑晓东海燕春梅"


def percentile(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def uptime_load() -> str:
    return f"load average {load_average()}"


# --- (1) the synthetic rows --------------------------------------------------------------------


@dataclass
class Applicant:
    user_id: int
    id_number: str
    name: str


@dataclass
class Plan:
    """What the loader made, for the scenarios' search terms and the report."""

    cases: int = 0
    items: int = 0
    applicants: int = 0
    by_status: Counter = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)


def citizen_ids(rng: random.Random, count: int) -> list[str]:
    """`count` distinct valid GB 11643 numbers: Shanghai districts and migrants' home counties."""
    regions = [d.code for d in DISTRICTS] * 3 + list(MIGRANT_BIRTH_REGIONS)
    first, last = date(1950, 1, 1).toordinal(), date(2006, 12, 31).toordinal()
    seen: set[str] = set()
    out = []
    while len(out) < count:
        born = date.fromordinal(rng.randint(first, last))
        body = f"{rng.choice(regions)}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        number = body + ric.calc_check_digit(body)
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


class Generator:
    """Deterministic synthetic cases and items; rows are plain tuples in table column order."""

    USER_COLUMNS = (
        "id, username, display_name, role, department, supervisor, id_number, password_hash, "
        "active, created_at"
    )
    CASE_COLUMNS = (
        "id, number, matter, applicant_user_id, applicant_id_number, applicant_name, channel, "
        "status, outcome, instance_id, data, provenance, checklist, created_at, updated_at, "
        "completed_at"
    )
    ITEM_COLUMNS = (
        "id, case_id, item_code, department, engine_task_id, status, clerk_user_id, claimed_by, "
        "claimed_at, comment, auto, finding, locked_by, lock_expires_at, retries, incident, "
        "result, correction, corrections, deadline_flag, escalated_at, due_date, decided_at, "
        "result_number, created_at"
    )

    def __init__(
        self,
        rt: Runtime,
        count: int,
        first_user_id: int,
        first_case_id: int,
        first_item_id: int,
        clerks: dict[str, list[int]],
        template: Case,
        seed: int = 20261123,
    ) -> None:
        self.rt = rt
        self.count = count
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.today = local_date(datetime.now(UTC))
        self.first_user_id = first_user_id
        self.first_case_id = first_case_id
        self.first_item_id = first_item_id
        self.clerks = clerks
        catalog = rt.catalog
        self.matters = [m for m in MATTER_WEIGHTS if m in catalog.matters]
        self.weights = [MATTER_WEIGHTS[m] for m in self.matters]
        self.items = {
            m: [(code, catalog.items[code]) for code in catalog.matters[m].items]
            for m in self.matters
        }
        people = max(1000, int(count * 0.7))  # some citizens apply for several matters
        ids = citizen_ids(self.rng, people)
        self.applicants = [
            Applicant(first_user_id + n, number, chinese_name(self.rng))
            for n, number in enumerate(ids)
        ]
        # The real case's JSON, with the applicant's name and number swapped per row.
        self.template = {
            key: json.dumps(getattr(template, key)) for key in ("data", "provenance", "checklist")
        }
        self.template_id = template.applicant_id_number
        self.template_name = json.dumps(template.applicant_name)[1:-1]  # \\u-escaped, as stored
        self.reasons = {code: item.reject_reasons[0] for code, item in catalog.items.items()}

    def user_rows(self) -> Iterator[tuple]:
        password_hash = _demo_password_hash()
        created = self.now - timedelta(days=HISTORY_DAYS + 30)
        for a in self.applicants:
            yield (
                a.user_id,
                a.id_number,
                a.name,
                "citizen",
                None,
                False,
                a.id_number,
                password_hash,
                True,
                created,
            )

    def copy_escaped(self) -> None:
        """Make the JSON columns ready for COPY's text format (backslashes doubled) once."""
        self.template = {k: v.replace("\\", "\\\\") for k, v in self.template.items()}
        self.template_name = self.template_name.replace("\\", "\\\\")
        self.escape_names = True

    escape_names = False

    def _json(self, key: str, applicant: Applicant) -> str:
        name = json.dumps(applicant.name)[1:-1]
        if self.escape_names:
            name = name.replace("\\", "\\\\")
        return (
            self.template[key]
            .replace(self.template_id, applicant.id_number)
            .replace(self.template_name, name)
        )

    def _moments(self) -> list[float]:
        """Ages in days of the cases, oldest first (case ids follow intake order)."""
        ages = [self.rng.uniform(0, HISTORY_DAYS) for _ in range(self.count)]
        ages.sort(reverse=True)
        return ages

    def rows(self, plan: Plan) -> Iterator[tuple[tuple, list[tuple]]]:
        """(case row, its item rows) in id order."""
        rng = self.rng
        item_id = self.first_item_id
        matters = rng.choices(self.matters, self.weights, k=self.count)
        due_dates: dict[tuple[date, int], date] = {}
        ages = self._moments()
        for n in range(self.count):
            case_id = self.first_case_id + n
            matter = matters[n]
            age = ages[n]
            created = self.now - timedelta(days=age)
            created_day = local_date(created.replace(tzinfo=UTC))
            applicant = rng.choice(self.applicants)
            number = f"YJS{created_day:%Y%m%d}{case_id:06d}"
            is_open = rng.random() < 2.718281828 ** (-age / OPEN_DECAY_DAYS)
            stuck = not is_open and age > 60 and rng.random() < STUCK_SHARE
            chosen = [pair for pair in self.items[matter] if rng.random() < 0.85]
            if not chosen:
                chosen = [self.items[matter][0]]
            item_rows = []
            statuses = []
            for position, (code, item) in enumerate(chosen):
                key = (created_day, item.time_limit_days)
                due = due_dates.get(key)
                if due is None:  # the calendar's own cache is too small for 3 years x limits
                    due = due_dates[key] = add_working_days(*key)
                auto = item.time_limit_days <= 1 and rng.random() < 0.3
                if is_open or (stuck and position == 0):
                    roll = rng.random()
                    if auto:
                        status = "approved"
                    elif roll < 0.62 or position == 0:
                        status = "processing"
                    elif roll < 0.67:
                        status = "correction"
                    else:
                        status = "approved"
                else:
                    status = "rejected" if rng.random() < 0.04 else "approved"
                statuses.append(status)
                decided = None
                clerk = None
                claimed_by = claimed_at = None
                department = item.department
                staff = self.clerks.get(department) or [None]
                if status in ("approved", "rejected"):
                    decided = created + timedelta(
                        days=0
                        if auto
                        else min(age, rng.uniform(0, max(0.5, 1.4 * item.time_limit_days)))
                    )
                    clerk = None if auto else rng.choice(staff)
                elif status == "processing" and rng.random() < 0.4:
                    claimed_by = rng.choice(staff)
                    claimed_at = created + timedelta(days=rng.uniform(0, min(age, 1.0)))
                overdue = status == "processing" and due < self.today
                comment = None
                correction = "{}"
                corrections = 0
                if status == "rejected":
                    comment = self.reasons[code]
                elif status == "correction":
                    comment = "请补正材料"
                    correction = '{"facts": [], "materials": [], "note": "请补正材料"}'
                    corrections = 1
                item_rows.append(
                    (
                        item_id,
                        case_id,
                        code,
                        department,
                        None if auto else str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        status,
                        clerk,
                        claimed_by,
                        claimed_at,
                        comment,
                        auto,
                        "自动核验通过" if auto else None,
                        None,
                        None,
                        None,
                        None,
                        "{}",
                        correction,
                        corrections,
                        "overdue" if overdue else None,
                        None,
                        due,
                        decided,
                        f"{number}-{item_id:04d}" if status == "approved" else None,
                        created,
                    )
                )
                plan.by_status[status] += 1
                item_id += 1
            if any(s in ("processing", "correction") for s in statuses):
                status = "correction" if "correction" in statuses else "processing"
                outcome = completed = None
            else:
                status = "completed"
                completed = max(row[22] for row in item_rows)
                outcome = (
                    "rejected"
                    if all(s == "rejected" for s in statuses)
                    else "partly_rejected"
                    if "rejected" in statuses
                    else "approved"
                )
            plan.by_status[f"case {status}"] += 1
            case_row = (
                case_id,
                number,
                matter,
                applicant.user_id,
                applicant.id_number,
                applicant.name,
                "window" if rng.random() < 0.15 else "online",
                status,
                outcome,
                None,
                self._json("data", applicant),
                self._json("provenance", applicant),
                self._json("checklist", applicant),
                created,
                completed or created,
                completed,
            )
            plan.cases += 1
            plan.items += len(item_rows)
            yield case_row, item_rows


# --- (1) loading -------------------------------------------------------------------------------

LOADED_TABLES = ("user_account", "case_file", "case_item")


def _copy_line(row: tuple) -> str:
    """A row in COPY's text format; strings must already be escaped (see copy_escaped)."""
    return "\t".join(
        ["\\N" if v is None else "t" if v is True else "f" if v is False else str(v) for v in row]
    )


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value:
            return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        return value
    return str(value)  # int, date, datetime (naive UTC: 'YYYY-MM-DD HH:MM:SS.ffffff')


class PgLoader:
    def __init__(self, url: str) -> None:
        import psycopg

        self.conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        self.conn = psycopg.connect(self.conninfo, autocommit=False)

    def drop_indexes(self) -> list[tuple[str, str]]:
        """Secondary indexes of the loaded tables (not primary keys, not constraints)."""
        with self.conn.cursor() as cur:
            cur.execute(
                """
                SELECT i.relname, pg_get_indexdef(i.oid)
                FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_class t ON t.oid = x.indrelid
                WHERE t.relname = ANY(%s) AND NOT x.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                """,
                (list(LOADED_TABLES),),
            )
            found = cur.fetchall()
            for name, _definition in found:
                cur.execute(f'DROP INDEX "{name}"')
        self.conn.commit()
        return found

    def load(self, gen: Generator, plan: Plan) -> None:
        clock = time.perf_counter
        with self.conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # no FK triggers per row
            cur.execute("SET synchronous_commit = off")
            t0 = clock()
            with cur.copy(f"COPY user_account ({gen.USER_COLUMNS}) FROM STDIN") as copy:
                buffer = []
                for row in gen.user_rows():
                    buffer.append("\t".join(map(_copy_text, row)))
                    if len(buffer) >= 20000:
                        copy.write("\n".join(buffer) + "\n")
                        buffer.clear()
                if buffer:
                    copy.write("\n".join(buffer) + "\n")
            plan.applicants = len(gen.applicants)
            plan.seconds["copy user_account"] = clock() - t0
            t0 = clock()
            # Two COPYs at once on one connection are not possible: items go to a spool file.
            with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
                gen.copy_escaped()
                with cur.copy(f"COPY case_file ({gen.CASE_COLUMNS}) FROM STDIN") as copy:
                    cases_buf, items_buf = [], []
                    for case_row, item_rows in gen.rows(plan):
                        cases_buf.append(_copy_line(case_row))
                        items_buf += map(_copy_line, item_rows)
                        if len(cases_buf) >= 5000:
                            copy.write("\n".join(cases_buf) + "\n")
                            spool.write("\n".join(items_buf) + "\n")
                            cases_buf.clear()
                            items_buf.clear()
                            if plan.cases % 100_000 == 0:
                                print(
                                    f"    {plan.cases:>9,} cases  {clock() - t0:6.1f} s  "
                                    f"({uptime_load()})",
                                    flush=True,
                                )
                    if cases_buf:
                        copy.write("\n".join(cases_buf) + "\n")
                        spool.write("\n".join(items_buf) + "\n")
                plan.seconds["generate + copy case_file"] = clock() - t0
                t0 = clock()
                spool.seek(0)
                with cur.copy(f"COPY case_item ({gen.ITEM_COLUMNS}) FROM STDIN") as copy:
                    while chunk := spool.read(4 << 20):
                        copy.write(chunk)
                plan.seconds["copy case_item"] = clock() - t0
        self.conn.commit()

    def finish(self, indexes: list[tuple[str, str]], plan: Plan) -> None:
        clock = time.perf_counter
        t0 = clock()
        with self.conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '512MB'")
            for _name, definition in indexes:
                cur.execute(definition)
            for table in LOADED_TABLES:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        self.conn.commit()
        plan.seconds["create indexes"] = clock() - t0
        t0 = clock()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            for table in LOADED_TABLES:
                cur.execute(f"VACUUM (ANALYZE) {table}")
        self.conn.autocommit = False
        plan.seconds["vacuum analyze"] = clock() - t0

    def sizes(self) -> str:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
                "WHERE relname = ANY(%s)",
                (list(LOADED_TABLES),),
            )
            rows = dict(cur.fetchall())
            cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            total = cur.fetchone()[0]
        return ", ".join(f"{t} {rows.get(t, '?')}" for t in LOADED_TABLES) + f"; database {total}"

    def close(self) -> None:
        self.conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"  # SQLAlchemy's format
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class SqliteLoader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path)
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("PRAGMA foreign_keys = OFF")
        self.conn.execute("PRAGMA cache_size = -262144")

    def drop_indexes(self) -> list[tuple[str, str]]:
        found = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({','.join('?' * len(LOADED_TABLES))})",
            LOADED_TABLES,
        ).fetchall()
        for name, _sql in found:
            self.conn.execute(f'DROP INDEX "{name}"')
        self.conn.commit()
        return found

    def load(self, gen: Generator, plan: Plan) -> None:
        clock = time.perf_counter
        t0 = clock()

        def insert(table: str, columns: str, rows: list[tuple]) -> None:
            marks = ",".join("?" * (columns.count(",") + 1))
            self.conn.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                [tuple(map(_sqlite_value, row)) for row in rows],
            )

        insert("user_account", gen.USER_COLUMNS, list(gen.user_rows()))
        plan.applicants = len(gen.applicants)
        plan.seconds["insert user_account"] = clock() - t0
        t0 = clock()
        cases_buf, items_buf = [], []
        for case_row, item_rows in gen.rows(plan):
            cases_buf.append(case_row)
            items_buf += item_rows
            if len(cases_buf) >= 5000:
                insert("case_file", gen.CASE_COLUMNS, cases_buf)
                insert("case_item", gen.ITEM_COLUMNS, items_buf)
                cases_buf.clear()
                items_buf.clear()
                if plan.cases % 100_000 == 0:
                    print(
                        f"    {plan.cases:>9,} cases  {clock() - t0:6.1f} s  ({uptime_load()})",
                        flush=True,
                    )
        if cases_buf:
            insert("case_file", gen.CASE_COLUMNS, cases_buf)
            insert("case_item", gen.ITEM_COLUMNS, items_buf)
        self.conn.commit()
        plan.seconds["generate + insert cases and items"] = clock() - t0

    def finish(self, indexes: list[tuple[str, str]], plan: Plan) -> None:
        t0 = time.perf_counter()
        for _name, sql in indexes:
            self.conn.execute(sql)
        self.conn.commit()
        plan.seconds["create indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.commit()
        plan.seconds["analyze"] = time.perf_counter() - t0

    def sizes(self) -> str:
        return f"database file {self.path.stat().st_size / 2**30:.2f} GiB"

    def close(self) -> None:
        self.conn.close()


def template_case(rt: Runtime) -> Case:
    """One real case through the service (the father's newborn application, as the newborn
    benchmark submits it): the template of the loaded cases' JSON columns."""
    with Session(rt.db, expire_on_commit=False) as session:
        father = session.exec(select(User).where(User.username == FATHER)).one()
        return submission.submit_application(
            session, rt, user=father, matter_code="newborn", answers=ANSWERS, consented=True
        )


def load(rt: Runtime, database_url: str, count: int, folder: Path) -> Plan:
    plan = Plan()
    template = template_case(rt)
    with Session(rt.db) as session:
        clerks: dict[str, list[int]] = defaultdict(list)
        for user in session.exec(select(User).where(User.role == "clerk")).all():
            clerks[user.department].append(user.id)
        first_user = (session.execute(text("SELECT max(id) FROM user_account")).scalar() or 0) + 1
        first_case = (session.execute(text("SELECT max(id) FROM case_file")).scalar() or 0) + 1
        first_item = (session.execute(text("SELECT max(id) FROM case_item")).scalar() or 0) + 1
    rt.db.dispose()
    t0 = time.perf_counter()
    gen = Generator(rt, count, first_user, first_case, first_item, clerks, template)
    plan.seconds["applicants (citizen IDs, names)"] = time.perf_counter() - t0
    loader: PgLoader | SqliteLoader
    if database_url.startswith("sqlite"):
        loader = SqliteLoader(Path(database_url.removeprefix("sqlite:///")))
    else:
        loader = PgLoader(database_url)
    try:
        indexes = loader.drop_indexes()
        loader.load(gen, plan)
        loader.finish(indexes, plan)
        plan.seconds["total"] = sum(plan.seconds.values())
        print(f"  sizes: {loader.sizes()}")
    finally:
        loader.close()
    return plan


# --- (2) the scenarios -------------------------------------------------------------------------


@dataclass
class Terms:
    """Search terms drawn from the loaded rows of the measured department."""

    department: str
    items: list[str]
    numbers: list[str]  # case numbers of the department's cases (any status)
    day_prefixes: list[str]  # YJSyyyymmdd of recent days
    last4: list[str]
    masked: list[str]


def pick_terms(rt: Runtime, rng: random.Random) -> Terms:
    with Session(rt.db) as session:
        department = session.execute(
            text(
                "SELECT department FROM case_item WHERE status = 'processing' "
                "GROUP BY department ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar()
        items = [code for code, item in rt.catalog.items.items() if item.department == department]
        top = session.execute(text("SELECT max(id) FROM case_file")).scalar()
        sample = session.execute(
            text(
                "SELECT c.number, c.applicant_id_number FROM case_file c "
                "JOIN case_item i ON i.case_id = c.id WHERE i.department = :d "
                "AND c.id > :low ORDER BY c.id LIMIT 400"
            ),
            params={"d": department, "low": rng.randint(1, max(1, top - 5000))},
        ).all()
        open_sample = session.execute(
            text(
                "SELECT c.number, c.applicant_id_number FROM case_file c "
                "JOIN case_item i ON i.case_id = c.id WHERE i.department = :d "
                "AND i.status = 'processing' LIMIT 200"
            ),
            params={"d": department},
        ).all()
    rows = list(sample) + list(open_sample)
    rng.shuffle(rows)
    today = local_date(datetime.now(UTC))
    return Terms(
        department=department,
        items=items,
        numbers=[number for number, _ in rows],
        day_prefixes=[f"YJS{today - timedelta(days=d):%Y%m%d}" for d in range(1, 15)],
        last4=[id_number[-4:] for _, id_number in rows],
        masked=[f"{n[:6]}********{n[-4:]}" for _, n in rows],
    )


@dataclass
class Scenario:
    name: str
    make: Callable[[int], dict[str, Any]]  # sample number -> queue filter arguments
    kind: str = "queue"  # queue | counts | tasks
    service: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    http_app: list[float] = field(default_factory=list)
    rows: int = 0
    total: int = 0


def scenarios(terms: Terms) -> list[Scenario]:
    def cycle(values: list[str]) -> Callable[[int], str]:
        return lambda n: values[n % len(values)]

    item, number, day = cycle(terms.items), cycle(terms.numbers), cycle(terms.day_prefixes)
    last4, masked = cycle(terms.last4), cycle(terms.masked)
    return [
        Scenario("default queue page (processing, by due date)", lambda n: {}),
        Scenario("status counts (the queue's tab figures)", lambda n: {}, kind="counts"),
        Scenario("filtered by item", lambda n: {"item": item(n)}),
        Scenario("sorted by due date, latest first", lambda n: {"desc": True}),
        Scenario("every status, sorted by due date", lambda n: {"status": None}),
        Scenario("sorted by received", lambda n: {"sort": "received"}),
        Scenario("overdue filter", lambda n: {"overdue": True}),
        Scenario("page 50", lambda n: {"page": 50}),
        Scenario(
            "search: case number (every status)", lambda n: {"status": None, "search": number(n)}
        ),
        Scenario(
            "search: case-number prefix, one day", lambda n: {"status": None, "search": day(n)}
        ),
        Scenario("search: ID last 4 (processing)", lambda n: {"search": last4(n)}),
        Scenario(
            "search: ID last 4 (every status)", lambda n: {"status": None, "search": last4(n)}
        ),
        Scenario(
            "search: masked ID (every status)", lambda n: {"status": None, "search": masked(n)}
        ),
        Scenario("GET /api/v1/tasks (queue page, 50, no counts)", lambda n: {}, kind="tasks"),
    ]


def http_params(wanted: dict[str, Any]) -> dict[str, str]:
    params = {}
    for key, value in wanted.items():
        if key == "status" and value is None:
            params["status"] = "all"
        elif isinstance(value, bool):
            params[key] = "1" if value else "0"
        else:
            params[key] = str(value)
    return params


def run_service(rt: Runtime, clerk: User, scenario: Scenario, n: int) -> None:
    wanted = scenario.make(n)
    with Session(rt.db, expire_on_commit=False) as session:
        if scenario.kind == "counts":
            workbench.status_counts(session, user=clerk)
        elif scenario.kind == "tasks":
            page = workbench.search_queue(  # as GET /api/v1/tasks calls it
                session, rt, user=clerk, filter=workbench.QueueFilter(), limit=50, count=False
            )
            scenario.rows = len(page.rows)
        else:
            page = workbench.search_queue(
                session, rt, user=clerk, filter=workbench.QueueFilter(**wanted)
            )
            scenario.rows, scenario.total = len(page.rows), page.total


def run_http(client: httpx.Client, headers: dict[str, str], scenario: Scenario, n: int) -> None:
    wanted = scenario.make(n)
    if scenario.kind == "tasks":
        url, params = "/api/v1/tasks", {}
    else:  # the queue endpoint always returns the counts with the page
        url, params = "/api/v1/queue", http_params(wanted)
    t0 = time.perf_counter()
    response = client.get(url, params=params, headers=headers)
    elapsed = (time.perf_counter() - t0) * 1000
    _expect(response, 200)
    scenario.http.append(elapsed)
    timing = response.headers.get("server-timing", "")
    if timing.startswith("app;dur="):
        scenario.http_app.append(float(timing[8:]))


def measure(
    rt: Runtime,
    clerk: User,
    plan_scenarios: list[Scenario],
    samples: int,
    warmup: int,
    client: httpx.Client | None,
    headers: dict[str, str],
    budget: float,
) -> None:
    """Round-robin: one sample of each scenario in turn, service then HTTP; a scenario stops
    after `budget` seconds of its own time (with at least 10 samples: its percentiles are then
    rough, but such a scenario is far over the target anyway)."""
    spent: dict[str, float] = defaultdict(float)
    for n in range(warmup + samples):
        for scenario in plan_scenarios:
            if n >= warmup + 10 and spent[scenario.name] > budget:
                continue
            t0 = time.perf_counter()
            run_service(rt, clerk, scenario, n)
            elapsed = (time.perf_counter() - t0) * 1000
            if n >= warmup:
                scenario.service.append(elapsed)
            if client is not None:
                if n < warmup:
                    run_http(client, headers, scenario, n)
                    scenario.http.clear()
                    scenario.http_app.clear()
                else:
                    run_http(client, headers, scenario, n)
            spent[scenario.name] += time.perf_counter() - t0


# --- (3) EXPLAIN -------------------------------------------------------------------------------


@contextmanager
def captured_sql(db) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def before(_conn, _cursor, statement, parameters, _context, _executemany):
        statements.append((statement, parameters))

    event.listen(db, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db, "before_cursor_execute", before)


def explain(rt: Runtime, clerk: User, scenario: Scenario, lines: int) -> None:
    with captured_sql(rt.db) as statements:
        run_service(rt, clerk, scenario, 0)
    sqlite = rt.db.dialect.name == "sqlite"
    for statement, parameters in statements:
        if not statement.lstrip().upper().startswith("SELECT") or "login_session" in statement:
            continue
        with rt.db.connect() as conn:
            raw = conn.connection.driver_connection
            cursor = raw.cursor()
            if sqlite:
                t0 = time.perf_counter()
                cursor.execute(statement, parameters).fetchall()
                ms = (time.perf_counter() - t0) * 1000
                plan = cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
                out = [f"{'  ' * 0}{row[-1]}" for row in plan]
                head = f"{ms:.1f} ms"
            else:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                out = [row[0] for row in cursor.fetchall()]
                execution = next((x for x in out if x.startswith("Execution Time")), "")
                head = execution.replace("Execution Time: ", "")
            conn.rollback()
        sql = " ".join(statement.split())
        print(f"    -- {head}: {sql[:300]}{' ...' if len(sql) > 300 else ''}")
        print(f"       parameters {parameters}")
        for line in out[:lines]:
            print(f"       {line}")
        if len(out) > lines:
            print(f"       ... {len(out) - lines} more plan lines")


# --- the proposed indexes (docs/performance.md), for --with-indexes -------------------------------

# (name, definition), the same SQL on PostgreSQL and SQLite. Empty: the two indexes this benchmark
# proposed (citizen ID's last four, department by due date) are now in the schema.
PROPOSED_INDEXES: list[tuple[str, str]] = []


def create_proposed(rt: Runtime, indexes: list[tuple[str, str]]) -> None:
    with rt.db.connect() as conn:
        for _name, statement in indexes:
            t0 = time.perf_counter()
            conn.exec_driver_sql(statement)
            conn.commit()
            print(f"  {time.perf_counter() - t0:6.1f} s  {statement}")
        for table in ("case_file", "case_item"):
            conn.exec_driver_sql(f"ANALYZE {table}")
        conn.commit()


def drop_proposed(rt: Runtime, indexes: list[tuple[str, str]]) -> None:
    """Leave a kept database as the schema defines it."""
    with rt.db.connect() as conn:
        for name, _statement in indexes:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.commit()


# --- reporting ---------------------------------------------------------------------------------


def report(results: list[Scenario], label: str, http: bool) -> list[dict[str, Any]]:
    print(f"\n  {label}: milliseconds (p50 / p95 / p99), target p95 < {TARGET_MS:.0f} ms")
    head = f"    {'scenario':46} {'rows':>5} {'matches':>8}  {'service p50/p95/p99':>22}"
    if http:
        head += f"  {'HTTP p50/p95/p99':>22}  {'app p50':>7}"
    print(head + "    n  verdict")
    summary = []
    for s in results:
        svc = [percentile(s.service, p) for p in (50, 95, 99)]
        line = (
            f"    {s.name:46} {s.rows:5} {s.total if s.kind == 'queue' else '-':>8}  "
            f"{svc[0]:6.1f} {svc[1]:7.1f} {svc[2]:7.1f}"
        )
        worst = svc[1]
        if http and s.http:
            h = [percentile(s.http, p) for p in (50, 95, 99)]
            app = statistics.median(s.http_app) if s.http_app else float("nan")
            line += f"  {h[0]:6.1f} {h[1]:7.1f} {h[2]:7.1f}  {app:7.1f}"
            worst = max(worst, h[1])
        verdict = "meets" if worst < TARGET_MS else "MISSES"
        print(f"{line}  {len(s.service):3}  {verdict}")
        summary.append({"scenario": s.name, "service_p95": svc[1], "worst_p95": worst})
    return summary


# --- main --------------------------------------------------------------------------------------


@contextmanager
def database(args: argparse.Namespace, root: Path) -> Iterator[tuple[str, bool]]:
    """(URL, whether it still needs loading)."""
    if args.sqlite:
        path = Path(args.keep) if args.keep else root / "queue.sqlite"
        yield f"sqlite:///{path}", not path.exists()
        return
    admin = create_engine(f"{args.pg_url}/postgres", isolation_level="AUTOCOMMIT")
    name = args.keep or f"onething_bench_queue_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{args.pg_url}/{name}", not exists
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    global TARGET_MS
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases to load")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--pg-url", default=PG_BASE, help="PostgreSQL server, without database")
    parser.add_argument("--samples", type=int, default=100, help="timed calls per scenario")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per scenario, at most")
    parser.add_argument("--no-http", action="store_true", help="service functions only")
    parser.add_argument("--explain-lines", type=int, default=40)
    parser.add_argument("--target", type=float, default=TARGET_MS, help="p95 target, ms")
    parser.add_argument(
        "--with-indexes", action="store_true", help="then measure again with the proposed indexes"
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the loaded database under this name (PostgreSQL) or path (SQLite) and reuse "
        "it on later runs (skipping the load)",
    )
    parser.add_argument("--summary-json", help="write the summary figures to this file")
    args = parser.parse_args()
    TARGET_MS = args.target

    print(machine())
    started = time.perf_counter()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="onething-queue-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        generate_dataset(registry_path, people=2000, today=local_date(datetime.now(UTC)))
        url, fresh = stack.enter_context(database(args, root))
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        rt = fresh_runtime(root / "data", registry_path, None if args.sqlite else url)
        if args.sqlite:  # fresh_runtime put the SQLite file in the data dir: use that one
            url = rt.settings.db_url
            fresh = True
            if args.keep:
                print("  --keep with --sqlite: the file is not reused (load again)")
        stack.callback(rt.db.dispose)
        plan = Plan()
        if fresh:
            print(f"\n(1) load {args.cases:,} cases into {backend} ({uptime_load()})")
            plan = load(rt, url, args.cases, root)
            for step, seconds in plan.seconds.items():
                print(f"    {step:36} {seconds:7.1f} s")
            rate = plan.cases / plan.seconds["total"]
            print(
                f"  loaded {plan.cases:,} cases, {plan.items:,} items, {plan.applicants:,} "
                f"applicants in {plan.seconds['total']:.0f} s ({rate:,.0f} cases/s; "
                f"{uptime_load()})"
            )
            statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(plan.by_status.items()))
            print(f"  by status: {statuses}")
        else:
            print(f"\n(1) reusing the loaded database {url}")
        terms = pick_terms(rt, rng)
        with Session(rt.db) as session:
            clerk = session.exec(select(User).where(User.username == f"{terms.department}01")).one()
            session.expunge(clerk)
            counts = workbench.status_counts(session, user=clerk)
            total_cases = session.execute(text("SELECT count(*) FROM case_file")).scalar()
        print(
            f"  database: {total_cases:,} cases; measured department {terms.department!r} "
            f"({clerk.username}): {counts}"
        )

        client, headers = None, {}
        if not args.no_http:
            base, _pids = stack.enter_context(
                uvicorn_server(root / "data", registry_path, rt.settings.db_url)
            )
            client = stack.enter_context(httpx.Client(base_url=base, timeout=120, trust_env=False))
            body = {"username": clerk.username, "password": DEMO_PASSWORD}
            token = _expect(client.post("/api/v1/login", json=body), 200).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}

        rounds = [("as the schema defines the indexes", [])]
        if args.with_indexes and not PROPOSED_INDEXES:
            print("--with-indexes: no proposed indexes; the schema has them all")
        elif args.with_indexes:
            rounds.append(("with the proposed indexes", PROPOSED_INDEXES))
            stack.callback(drop_proposed, rt, PROPOSED_INDEXES)
        summaries = {}
        for label, statements in rounds:
            if statements:
                print(
                    f"\ncreating the proposed indexes in the benchmark database ({uptime_load()})"
                )
                create_proposed(rt, statements)
            found = scenarios(terms)
            print(
                f"\n(2) {label}: {args.samples} samples per scenario (after {args.warmup} warm-up), "
                f"round-robin; {uptime_load()} before"
            )
            t0 = time.perf_counter()
            measure(rt, clerk, found, args.samples, args.warmup, client, headers, args.budget)
            print(f"  measured in {time.perf_counter() - t0:.0f} s; {uptime_load()} after")
            summaries[label] = report(
                found, f"{backend}, {total_cases:,} cases", client is not None
            )
            slow = [
                s
                for s in found
                if max(percentile(s.service, 95), percentile(s.http, 95) if s.http else 0)
                >= TARGET_MS
            ]
            if slow:
                print(f"\n(3) EXPLAIN of the scenarios over the target ({label}):")
                for scenario in slow:
                    print(f"\n  {scenario.name}:")
                    explain(rt, clerk, scenario, args.explain_lines)
        if args.summary_json:
            Path(args.summary_json).write_text(
                json.dumps(
                    {
                        "backend": backend,
                        "cases": total_cases,
                        "load_seconds": plan.seconds.get("total"),
                        "target_ms": TARGET_MS,
                        "rounds": summaries,
                        "load_average": load_average(),
                    }
                )
            )
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s, {uptime_load()}")


if __name__ == "__main__":
    main()
