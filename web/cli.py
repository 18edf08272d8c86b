"""The `onething` command: serve the web application, seed demo data."""

from __future__ import annotations

import argparse
import sys

from services.demo import DEMO_PASSWORD


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.config import get_settings
    from services.demo import ensure_registry, seed_demo
    from services.runtime import build_runtime
    from web.app import create_app

    settings = get_settings()
    if args.demo and ensure_registry(settings):
        print(f"Generated the demo registries: {settings.registry_path}")
    try:
        runtime = build_runtime(settings)
    except FileNotFoundError as exc:
        print(f"onething: {exc}\n(or run `onething serve --demo` to generate demo data)")
        return 2
    if args.demo:
        seed_demo(runtime)
    print(f"OneThing on http://{args.host}:{args.port}  (database: {runtime.settings.db_url})")
    uvicorn.run(create_app(runtime), host=args.host, port=args.port, log_level="info")
    return 0


def _demo(_args: argparse.Namespace) -> int:
    from services.config import get_settings
    from services.demo import ensure_registry, seed_demo
    from services.runtime import build_runtime

    settings = get_settings()
    ensure_registry(settings)
    accounts = seed_demo(build_runtime(settings))
    print(f"Demo accounts (password for all: {DEMO_PASSWORD}):")
    for account in accounts:
        print(
            f"  {account['role']:8} {account['username']:20} {account['name']}  {account['note']}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onething", description="OneThing 一件事一次办")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data and accounts first")
    serve.set_defaults(run=_serve)
    demo = commands.add_parser("demo", help="seed the demo registries and accounts")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
