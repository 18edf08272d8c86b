"""Benchmark: generate 100,000 people, then time person(), marriage_of() and births_to().

Run: `.venv/bin/python bench/registry_lookup.py [--people N] [--lookups N]`.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from demo.registry import generate_dataset
from services.registries.embedded import EmbeddedRegistry


def time_lookups(lookup: Callable[[str], object], ids: list[str]) -> tuple[float, float]:
    """The median and 99th-percentile latency of `lookup` over `ids`, in microseconds."""
    samples = []
    for id_number in ids:
        start = time.perf_counter()
        lookup(id_number)
        samples.append((time.perf_counter() - start) * 1e6)
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples), cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "registry.sqlite"
        start = time.perf_counter()
        counts = generate_dataset(path, people=args.people, today=date(2026, 11, 23))
        elapsed = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        print(f"generated {counts['person']} people in {elapsed:.1f} s ({size:.0f} MB)")
        with sqlite3.connect(path) as connection:
            everyone = [row[0] for row in connection.execute("SELECT id_number FROM person")]
        ids = random.Random(1).choices(everyone, k=args.lookups)
        registry = EmbeddedRegistry(path)
        for name in ("person", "marriage_of", "births_to"):
            median, p99 = time_lookups(getattr(registry, name), ids)
            print(f"{name:12} p50 {median:6.1f} µs   p99 {p99:6.1f} µs")
        registry.close()


if __name__ == "__main__":
    main()
