"""The `onething` command: serve the web application, seed demo data, rotate signing keys."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from web.cli_backup import add_backup_commands
from web.cli_keys import add_keys_command
from web.cli_layout import add_layout_command
from web.cli_maintenance import add_purge_command
from web.cli_offers import add_registry_event_command
from web.openapi import add_openapi_command

if TYPE_CHECKING:
    from pydantic import ValidationError


def _demo_seed():
    """The demo-data generator (demo/seed.py), which needs the `demo` extra (Faker); None
    without it, after saying what to install."""
    try:
        from demo import seed
    except ModuleNotFoundError as exc:
        if exc.name != "faker":
            raise
        print(
            "onething: demo data needs the demo extra (Faker), which is not installed: "
            "pip install 'onething[demo]' (in a checkout: pip install -e '.[demo]')",
            file=sys.stderr,
        )
        return None
    return seed


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from alembic.util.exc import CommandError as AlembicCommandError
    from pydantic import ValidationError
    from sqlalchemy.exc import OperationalError

    from forms.catalog import CatalogError
    from services import db_outage
    from services.certificates.fonts import font_problem
    from services.certificates.keys import SigningKeyError
    from services.config import PublicAddressError, get_settings, public_address
    from services.runtime import build_runtime
    from services.storage import StorageSettingsError, describe_store
    from web.app import create_app
    from web.observe import log_config

    seed = None
    if args.demo and (seed := _demo_seed()) is None:
        return 2
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"onething: {_settings_problem(exc)}")
        return 2
    if problem := font_problem(settings.certificate_font):
        print(f"onething: certificates cannot be rendered: {problem}")
        return 2
    try:
        address, warning = public_address(settings, host=args.host, port=args.port)
    except PublicAddressError as exc:
        print(f"onething: {exc}")
        return 2
    if warning:
        print(f"onething: warning: {warning}")
    settings.public_base_url = address
    if seed is not None and seed.ensure_registry(settings):
        print(f"Generated the demo registries: {settings.registry_path}")
    try:
        runtime = build_runtime(settings)
    except FileNotFoundError as exc:
        print(
            f"onething: {exc}\n(set ONETHING_EXCHANGE_URL to use the data-exchange platform; "
            "for a trial, `onething serve --demo` generates demo registries)"
        )
        return 2
    except AlembicCommandError as exc:  # e.g. a revision of a newer release in the database
        print(
            f"onething: the database's schema cannot be brought to this release's ({exc}); if "
            "a newer release migrated it, install that release on this host (docs/deployment.md)"
        )
        return 2
    except OperationalError as exc:
        if not db_outage.unavailable(exc):
            raise
        print(
            f"onething: the database {_shown(settings.db_url)} does not answer; start it or fix "
            "ONETHING_DATABASE_URL, then start again"
        )
        return 2
    except CatalogError as exc:
        print(
            f"onething: the catalog in forms/catalog/ has errors; fix them and start again:\n{exc}"
        )
        return 2
    except (StorageSettingsError, SigningKeyError) as exc:
        print(f"onething: {exc}")
        return 2
    if seed is not None:
        seed.seed_demo(runtime)
    print(
        f"OneThing on http://{args.host}:{args.port}  (database: {_shown(runtime.settings.db_url)}, "
        f"{args.workers} worker{'s' if args.workers > 1 else ''})"
    )
    print(f"Uploads: {describe_store(runtime.files)}")
    print(f"Certificates' QR codes point to: {address}")
    if args.workers == 1:
        uvicorn.run(
            create_app(runtime, served=True),
            host=args.host,
            port=args.port,
            log_level="info",
            log_config=log_config(),
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            proxy_headers=False,  # ONETHING_TRUSTED_PROXIES decides (web/client_address.py)
        )
        return 0
    # Several worker processes share the port and the database; each builds its own runtime
    # from the same settings (the environment), after the schema and demo data exist.
    runtime.db.dispose()
    _metrics_directory()
    os.environ["ONETHING_PUBLIC_BASE_URL"] = address  # (as resolved here, for the workers too)
    uvicorn.run(
        "web.app:served_app",
        factory=True,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="info",
        log_config=log_config(),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        proxy_headers=False,
    )
    return 0


def _settings_problem(exc: ValidationError) -> str:
    """A settings error (pydantic's ValidationError) as one line naming the variables."""
    problems = []
    for error in exc.errors():
        name = "ONETHING_" + "_".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(message if message.startswith(name) else f"{name}: {message}")
    return "; ".join(problems)


def _metrics_directory() -> None:
    """Where the workers' metrics add up (services/metrics.py): the operator's
    PROMETHEUS_MULTIPROC_DIR, else a fresh directory of this server's own, removed when it
    stops. (The workers are spawned, so they import prometheus-client after this is set.)"""
    import atexit
    import os
    import shutil
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = tempfile.mkdtemp(prefix="onething-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def _shown(url: str) -> str:
    """A database URL as it may be printed: never its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# How long a worker process may take to start (build its runtime) and to answer the supervisor's
# ping before it is replaced: uvicorn's 5 s replaced workers that started slowly on a busy host.
WORKER_HEALTHCHECK_SECONDS = 30

# How long an idle keep-alive connection stays open. Longer than the idle timeouts of clients'
# connection pools (httpx: 5 s) and of load balancers (commonly 60 s), so that the client, not
# the server, closes an idle connection: when the server closes one just as the client sends a
# request on it, the client gets a reset and cannot tell whether its POST was applied
# (uvicorn's default of 5 s raced with httpx's 5 s under the enrollment burst).
KEEP_ALIVE_SECONDS = 75


def _workers(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("--workers must be between 1 and 64")
    return value


def _demo(_args: argparse.Namespace) -> int:
    from services.config import get_settings
    from services.runtime import build_runtime

    if (seed := _demo_seed()) is None:
        return 2
    settings = get_settings()
    seed.ensure_registry(settings)
    accounts = seed.seed_demo(build_runtime(settings))
    print(f"Demo accounts (password for all: {seed.DEMO_PASSWORD}):")
    for account in accounts:
        print(
            f"  {account['role']:8} {account['username']:20} {account['name']}  {account['note']}"
        )
    return 0


def _db(args: argparse.Namespace) -> int:
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import OperationalError

    from services.config import get_settings
    from services.db import alembic_config, current_revision, head_revision, make_engine, migrate

    settings = get_settings()
    if args.db_command == "history":
        for script in ScriptDirectory.from_config(alembic_config()).walk_revisions():
            print(f"{script.revision}  {script.doc}")
        return 0
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    try:
        if args.db_command == "upgrade":
            before = migrate(db, args.revision)
            print(f"{_shown(settings.db_url)}: {before or 'empty'} -> {current_revision(db)}")
        else:
            current, head = current_revision(db), head_revision()
            state = "up to date" if current == head else f"behind (newest is {head})"
            print(f"{_shown(settings.db_url)}: {current or 'no schema'} ({state})")
    except OperationalError as exc:
        print(f"onething: cannot reach the database {_shown(settings.db_url)}: {exc.orig}")
        return 2
    finally:
        db.dispose()
    return 0


def _matters_report(_args: argparse.Namespace) -> int:
    from forms.burden import averages, burden_report
    from forms.catalog import default_catalog

    rows = burden_report(default_catalog())
    header = (
        f"{'matter':22} {'depts':>5} {'items':>5} {'facts alone/one form/auto':>26} "
        f"{'materials alone/one/exempt':>27} {'trips':>7} {'steps':>7} {'days':>7}"
    )
    print(header)
    for r in rows:
        print(
            f"{r.matter:22} {r.departments:5} {r.items:5} "
            f"{f'{r.facts_separately}/{r.facts_combined}/{r.facts_autofilled}':>26} "
            f"{f'{r.materials_separately}/{r.materials_combined}/{r.materials_exempt}':>27} "
            f"{f'{r.trips_separately}->{r.trips_combined}':>7} "
            f"{f'{r.steps_separately}->{r.steps_combined}':>7} "
            f"{f'{r.time_limit_separately}->{r.time_limit_combined}':>7}"
        )
    avg = averages(rows)
    print(
        f"average per matter in the combined application: {avg['materials']:.2f} materials to "
        f"upload, {avg['facts']:.2f} facts to type, {avg['steps']:.2f} steps, "
        f"{avg['trips']:.2f} trips"
    )
    return 0


def _registry_generate(args: argparse.Namespace) -> int:
    import time
    from datetime import date

    from services.config import get_settings

    if _demo_seed() is None:
        return 2
    from demo.registry import generate_dataset

    path = args.path or get_settings().registry_path
    path.parent.mkdir(parents=True, exist_ok=True)
    today = date.fromisoformat(args.today) if args.today else date.today()
    started = time.perf_counter()
    counts = generate_dataset(path, people=args.people, seed=args.seed, today=today)
    elapsed = time.perf_counter() - started
    print(f"{path}: generated in {elapsed:.1f} s")
    for table, count in counts.items():
        print(f"  {table:20} {count:>9}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onething", description="OneThing 一件事一次办")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data and accounts first")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="worker processes sharing the port and the database (use PostgreSQL for more than 1)",
    )
    serve.set_defaults(run=_serve)
    demo = commands.add_parser("demo", help="seed the demo registries and accounts")
    demo.set_defaults(run=_demo)
    db = commands.add_parser("db", help="the database schema (Alembic migrations)")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate the database, keeping its data")
    upgrade.add_argument("revision", nargs="?", default="head")
    db_commands.add_parser("current", help="the database's revision")
    db_commands.add_parser("history", help="every migration, newest first")
    db.set_defaults(run=_db)
    add_keys_command(commands)
    add_backup_commands(commands)
    add_openapi_command(commands)
    matters = commands.add_parser("matters", help="the matters in the catalog")
    matters_commands = matters.add_subparsers(dest="matters_command", required=True)
    report = matters_commands.add_parser("report", help="burden figures computed from the catalog")
    report.set_defaults(run=_matters_report)
    registry = commands.add_parser("registry", help="the embedded demo registries")
    registry_commands = registry.add_subparsers(dest="registry_command", required=True)
    generate = registry_commands.add_parser(
        "generate", help="generate the synthetic registry dataset (deterministic)"
    )
    generate.add_argument("--people", type=int, default=100_000)
    generate.add_argument("--seed", type=int, default=20261123)
    generate.add_argument("--today", help="the dataset's reference date, YYYY-MM-DD")
    generate.add_argument("--path", type=Path, help="default: registry.sqlite in the data dir")
    generate.set_defaults(run=_registry_generate)
    add_purge_command(commands)
    add_registry_event_command(commands)
    add_layout_command(commands)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
