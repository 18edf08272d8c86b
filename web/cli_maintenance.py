"""`onething purge [--dry-run]`: the retention purge by hand (it also runs daily, claimed by one
host; see services/maintenance)."""

from __future__ import annotations

import argparse


def add_purge_command(commands: argparse._SubParsersAction) -> None:
    """Register `purge` on the `onething` parser."""
    purge = commands.add_parser(
        "purge",
        help="purge the personal data of cases closed longer ago than ONETHING_RETENTION_DAYS",
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="say what would be purged, change nothing"
    )
    purge.set_defaults(run=_purge)


def _purge(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from services.config import get_settings
    from services.db import create_schema, make_engine
    from services.maintenance.retention import purge
    from services.storage import StorageSettingsError, open_store

    settings = get_settings()
    if settings.retention_days <= 0:
        print("onething: retention is off (ONETHING_RETENTION_DAYS=0): nothing is purged")
        return 0
    try:
        files = open_store(settings)
    except StorageSettingsError as exc:
        print(f"onething: {exc}")
        return 2
    db = make_engine(settings.db_url)
    try:
        create_schema(db)
        report = purge(db, files, days=settings.retention_days, dry_run=args.dry_run)
    except OperationalError as exc:
        print(f"onething: cannot reach the database: {exc.orig}")
        return 2
    finally:
        db.dispose()
    print(report.summary())
    if report.numbers:
        print("case numbers: " + ", ".join(report.numbers))
    return 0
