"""The certificate signing keys, kept in the database so every host signs and verifies alike.

One key is active and signs new certificates; a rotation retires it and makes a new one. A
retired key's private half is erased (it signs nothing again) and its public half is kept, so a
certificate signed before a rotation still verifies, on every host: verification looks a
certificate's key up by its key id among all keys. A private key is stored as PKCS#8 PEM,
encrypted with `ONETHING_CERTIFICATE_KEY_PASSPHRASE` when that is set (else it is protected by
the database's access control alone). A key file of an earlier version is imported at start.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.certificates import signing
from services.certificates.models import Certificate, SigningKey

KEY_LOCK = 20261207  # PostgreSQL advisory lock: one host creates or rotates keys at a time


class SigningKeyError(RuntimeError):
    """The stored keys cannot be used (wrong or missing passphrase); said at start."""


@dataclass(frozen=True)
class KeyInfo:
    """A key as `onething keys list` shows it."""

    key_id: str
    created_at: datetime
    retired_at: datetime | None
    active: bool
    certificates: int


class KeyRing:
    """The keys in the database, for signing (the active one) and verifying (any, by key id).

    Public keys never change, so they are kept once read; which key is active is read from the
    database for every signature, so a rotation on one host holds on all of them at once."""

    def __init__(self, passphrase: str = "") -> None:
        self._passphrase = passphrase.encode("utf-8") if passphrase else None
        self._public: dict[str, Ed25519PublicKey] = {}
        self._private: dict[str, Ed25519PrivateKey] = {}

    def signing_key(self, session: Session) -> Ed25519PrivateKey:
        """The active key, which signs new certificates."""
        row = session.exec(_active()).first()
        if row is None or row.private_key is None:
            raise SigningKeyError("no active certificate signing key: start the server once")
        key = self._private.get(row.key_id)
        if key is None:
            key = self._private[row.key_id] = _load_private(row.private_key, self._passphrase)
        return key

    def public_key(self, session: Session, key_id: str) -> Ed25519PublicKey | None:
        """The public key with `key_id`, active or retired; None if there is no such key."""
        key = self._public.get(key_id)
        if key is None:
            row = session.get(SigningKey, key_id) if len(key_id) <= 16 else None
            if row is None:
                return None
            raw = base64.b64decode(row.public_key)
            key = self._public[key_id] = Ed25519PublicKey.from_public_bytes(raw)
        return key

    def encrypt(self, key: Ed25519PrivateKey) -> str:
        """A private key as stored: PKCS#8 PEM, encrypted with the passphrase if there is one."""
        protection = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
        )
        return pem.decode("ascii")


def _active():
    """The active key: unretired, the newest if a race ever left two."""
    return (
        select(SigningKey)
        .where(col(SigningKey.retired_at).is_(None))
        .order_by(col(SigningKey.created_at).desc(), col(SigningKey.key_id).desc())
        .limit(1)
    )


def _load_private(pem: str, passphrase: bytes | None) -> Ed25519PrivateKey:
    encrypted = "ENCRYPTED" in pem.split("\n", 1)[0]
    if encrypted and passphrase is None:
        raise SigningKeyError(
            "the certificate signing key is encrypted: set ONETHING_CERTIFICATE_KEY_PASSPHRASE"
        )
    try:
        key = serialization.load_pem_private_key(
            pem.encode("ascii"), password=passphrase if encrypted else None
        )
    except ValueError as exc:
        raise SigningKeyError(
            "the certificate signing key cannot be decrypted: "
            "check ONETHING_CERTIFICATE_KEY_PASSPHRASE"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("the stored certificate signing key is not an Ed25519 key")
    return key


def _lock(session: Session) -> None:
    """Hold the keys' lock until the transaction ends (PostgreSQL; SQLite is one host)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": KEY_LOCK})


def _row(ring: KeyRing, key: Ed25519PrivateKey, *, active: bool) -> SigningKey:
    public = key.public_key()
    return SigningKey(
        key_id=signing.key_id(public),
        public_key=base64.b64encode(signing.public_key_bytes(public)).decode("ascii"),
        private_key=ring.encrypt(key) if active else None,
        retired_at=None if active else utcnow(),
    )


def prepare_keys(db: Engine, ring: KeyRing, *, key_file: Path) -> str:
    """At start: import `key_file` (an earlier version's key) if the database lacks it, as the
    active key if there is none yet, else as a retired one (certificates it signed verify);
    make a key if none is active; check the active key can be read. Returns its key id."""
    with Session(db) as session:
        _lock(session)
        active = session.exec(_active()).first()
        if key_file.is_file():
            imported = signing.load_key_file(key_file)
            if session.get(SigningKey, signing.key_id(imported.public_key())) is None:
                session.add(_row(ring, imported, active=active is None))
                session.flush()
                active = session.exec(_active()).first()
        if active is None:
            session.add(_row(ring, Ed25519PrivateKey.generate(), active=True))
        session.commit()
        return signing.key_id(ring.signing_key(session).public_key())


def rotate_key(db: Engine, ring: KeyRing) -> tuple[str, list[str]]:
    """Retire the active key (erasing its private half) and make a new one active. Returns the
    new key id and the retired ones."""
    with Session(db) as session:
        _lock(session)
        retiring = list(
            session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None)))
        )
        now = utcnow()
        for row in retiring:
            row.retired_at = now
            row.private_key = None
            session.add(row)
        session.flush()
        fresh = _row(ring, Ed25519PrivateKey.generate(), active=True)
        session.add(fresh)
        session.commit()
        return fresh.key_id, [row.key_id for row in retiring]


def list_keys(db: Engine) -> list[KeyInfo]:
    """Every key, newest first, with how many certificates it signed."""
    with Session(db) as session:
        signed = dict(
            session.exec(
                select(Certificate.key_id, func.count()).group_by(col(Certificate.key_id))
            ).all()
        )
        rows = session.exec(
            select(SigningKey).order_by(
                col(SigningKey.created_at).desc(), col(SigningKey.key_id).desc()
            )
        ).all()
        return [
            KeyInfo(
                key_id=row.key_id,
                created_at=row.created_at,
                retired_at=row.retired_at,
                active=row.retired_at is None,
                certificates=signed.get(row.key_id, 0),
            )
            for row in rows
        ]
