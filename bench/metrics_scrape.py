"""Benchmark: what one scrape of /metrics costs with N cases in the database.

The database is loaded as bench/queue_search.py loads it (one real newborn case through the
service, then N synthetic cases with their items bulk-loaded: COPY on PostgreSQL, executemany on
SQLite), then `services.metrics.exposition` (what `GET /metrics` answers, minus HTTP) is timed
`--samples` times: the whole scrape, and the database's part of it as the scrape reports it
(`onething_metrics_database_seconds`).

Run: `.venv/bin/python bench/metrics_scrape.py [--cases N] [--sqlite]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))

from newborn_lifecycle import fresh_runtime, machine  # noqa: E402 - the shared benchmark helpers
from queue_search import PG_BASE, database, load, percentile  # noqa: E402

from demo.registry import generate_dataset  # noqa: E402
from services import metrics  # noqa: E402
from services.calendar import local_date  # noqa: E402


def database_seconds(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "onething_metrics_database_seconds":
            return family.samples[0].value
    raise AssertionError("the scrape did not report its database time")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=200, help="cases to load")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--pg-url", default=PG_BASE, help="PostgreSQL server, without database")
    parser.add_argument("--samples", type=int, default=50, help="timed scrapes")
    parser.add_argument("--keep", help=argparse.SUPPRESS)
    args = parser.parse_args()
    print(machine())
    random.seed(7)
    with tempfile.TemporaryDirectory(prefix="onething-metrics-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        generate_dataset(registry_path, people=2000, today=local_date(datetime.now(UTC)))
        url, _fresh = stack.enter_context(database(args, root))
        rt = fresh_runtime(root / "data", registry_path, None if args.sqlite else url)
        url = rt.settings.db_url if args.sqlite else url
        stack.callback(rt.db.dispose)
        load(rt, url, args.cases, root)
        departments = {i.department for i in rt.catalog.items.values()} | set(
            rt.catalog.departments
        )
        metrics.exposition(
            rt.db, departments=departments
        )  # warm: the pool's connection, SQLAlchemy's compiled queries
        total, in_db, size = [], [], 0
        for _ in range(args.samples):
            started = time.perf_counter()
            body = metrics.exposition(rt.db, departments=departments)
            total.append(time.perf_counter() - started)
            in_db.append(database_seconds(body.decode()))
            size = len(body)
        backend = "SQLite" if args.sqlite else "PostgreSQL"
        print(f"{backend}, {args.cases + 1} cases, {args.samples} scrapes, {size} bytes each:")
        for name, values in (("whole scrape", total), ("database part", in_db)):
            ms = [v * 1000 for v in values]
            print(
                f"  {name}: median {statistics.median(ms):.2f} ms, "
                f"p95 {percentile(ms, 95):.2f} ms, max {max(ms):.2f} ms"
            )


if __name__ == "__main__":
    main()
