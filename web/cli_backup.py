"""`onething backup FILE` and `onething restore FILE`: the database and the uploads in one
archive (services/backup.py), and back."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from services.config import Settings

T = TypeVar("T")

PROTECT = (
    "This archive holds every applicant's personal data and the certificate signing keys: keep "
    "it as protected as the database itself (it is readable by its owner only, mode 0600), and "
    "encrypt it (gpg, age) before it leaves this host."
)


def add_backup_commands(commands: argparse._SubParsersAction) -> None:
    """Register `backup` and `restore` on the `onething` parser."""
    backup = commands.add_parser(
        "backup", help="write the database and the uploaded files to one archive"
    )
    backup.add_argument("file", type=Path, help="the archive to write (a new file, .tar.gz)")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser(
        "restore", help="restore an archive into an empty database, then migrate it to head"
    )
    restore.add_argument("file", type=Path, help="an archive written by `onething backup`")
    restore.add_argument(
        "--force",
        action="store_true",
        help="discard the tables and data the target database holds first",
    )
    restore.set_defaults(run=_restore)


def _backup(args: argparse.Namespace) -> int:
    from services.backup import create_backup

    made = _attempt(lambda settings: create_backup(settings, args.file))
    if made is None:
        return 2
    print(f"backup written: {made.path}")
    print(
        f"  database: {made.database}, schema revision {made.revision}, {made.database_bytes} bytes"
    )
    if made.file_store == "directory":
        print(f"  uploads: {made.files} files (from the file store's directory)")
    else:
        print("  uploads: in the database (part of its dump)")
    print(f"  signing keys: {made.signing_keys}, {_keys_state(made.keys_encrypted)}")
    print("  not included: the embedded demo registry, the settings (ONETHING_*)")
    print(f"warning: {PROTECT}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from services.backup import describe_moment, restore_backup

    done = _attempt(lambda settings: restore_backup(settings, args.file, force=args.force))
    if done is None:
        return 2
    print(
        f"restored: the backup of {describe_moment(done.created_at)} "
        f"(OneThing {done.onething_version}, schema revision {done.backup_revision})"
    )
    print(f"  database: {done.database}, now at schema revision {done.revision}")
    print(f"  uploads: {done.files} files put back")
    print(f"  signing keys: {done.signing_keys}, {_keys_state(done.keys_encrypted)}")
    for note in done.notes:
        print(f"  {note}")
    if done.keys_encrypted:
        print(
            "  set ONETHING_CERTIFICATE_KEY_PASSPHRASE to the backed-up system's passphrase "
            "before starting the server"
        )
    return 0


def _attempt(action: Callable[[Settings], T]) -> T | None:
    """`action` with the settings; None (and the reason printed) if it cannot be done."""
    from sqlalchemy.exc import OperationalError

    from services.backup import BackupError
    from services.config import get_settings
    from services.storage import StorageSettingsError

    try:
        return action(get_settings())
    except (BackupError, StorageSettingsError) as exc:
        print(f"onething: {exc}")
    except OperationalError as exc:
        print(f"onething: cannot reach the database: {exc.orig}")
    return None


def _keys_state(encrypted: bool) -> str:
    if encrypted:
        return "private keys encrypted with ONETHING_CERTIFICATE_KEY_PASSPHRASE"
    return "private keys NOT encrypted (set ONETHING_CERTIFICATE_KEY_PASSPHRASE to encrypt them)"
