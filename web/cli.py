"""The `onething` command: serve the web application, seed demo data."""

from __future__ import annotations

import argparse
import sys

from services.demo import DEMO_PASSWORD


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.demo import seed_demo
    from services.runtime import build_runtime
    from web.app import create_app

    runtime = build_runtime()
    if args.demo:
        seed_demo(runtime)
    print(f"OneThing on http://{args.host}:{args.port}  (database: {runtime.settings.db_url})")
    uvicorn.run(create_app(runtime), host=args.host, port=args.port, log_level="info")
    return 0


def _demo(_args: argparse.Namespace) -> int:
    from services.demo import seed_demo
    from services.runtime import build_runtime

    accounts = seed_demo(build_runtime())
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
