"""`onething keys list|rotate`: the certificate signing keys in the database."""

from __future__ import annotations

import argparse
from datetime import datetime


def add_keys_command(commands: argparse._SubParsersAction) -> None:
    """Register `keys` with its two subcommands on the `onething` parser."""
    keys = commands.add_parser("keys", help="the certificate signing keys (in the database)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("list", help="every key: active or retired, and what it signed")
    keys_commands.add_parser(
        "rotate", help="retire the active key and sign from now on with a new one"
    )
    keys.set_defaults(run=_keys)


def _keys(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from services.certificates.keys import (
        KeyRing,
        SigningKeyError,
        list_keys,
        prepare_keys,
        rotate_key,
    )
    from services.config import get_settings
    from services.db import create_schema, make_engine

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(settings.db_url)
    ring = KeyRing(settings.certificate_key_passphrase.get_secret_value())
    try:
        create_schema(db)
        prepare_keys(db, ring, key_file=settings.signing_key_path)
        if args.keys_command == "rotate":
            new, retired = rotate_key(db, ring)
            print(f"retired {', '.join(retired) or 'none'}; new active key {new}")
            print("certificates signed by a retired key still verify on every host")
            return 0
        print(f"{'key id':16}  {'state':7}  {'created (UTC)':19}  {'retired (UTC)':19}  signed")
        for key in list_keys(db):
            retired = _moment(key.retired_at) if key.retired_at else "-"
            state = "active" if key.active else "retired"
            print(
                f"{key.key_id:16}  {state:7}  {_moment(key.created_at):19}  {retired:19}  "
                f"{key.certificates}"
            )
        return 0
    except SigningKeyError as exc:
        print(f"onething: {exc}")
        return 2
    except OperationalError as exc:
        print(f"onething: cannot reach the database: {exc.orig}")
        return 2
    finally:
        db.dispose()


def _moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")
