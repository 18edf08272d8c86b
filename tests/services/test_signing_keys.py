"""Certificate signing keys in the database: an earlier version's key file is imported at
start, a rotation keeps old keys for verifying only, and a passphrase encrypts the stored
private keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, select

from services.certificates import signing
from services.certificates.keys import (
    KeyRing,
    SigningKeyError,
    list_keys,
    prepare_keys,
    rotate_key,
)
from services.certificates.models import SigningKey


def _key_file(path: Path) -> Ed25519PrivateKey:
    """A key file as an earlier version wrote it into the data directory."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key


def _kid(key: Ed25519PrivateKey) -> str:
    return signing.key_id(key.public_key())


def test_a_key_file_of_an_earlier_version_becomes_the_active_key(db, tmp_path):
    path = tmp_path / "host-a" / "keys" / "certificate-ed25519.pem"
    old = _key_file(path)
    ring = KeyRing()
    assert prepare_keys(db, ring, key_file=path) == _kid(old)
    # the next start (or another host without the file) keeps it: no new key is made
    assert prepare_keys(db, KeyRing(), key_file=tmp_path / "absent.pem") == _kid(old)
    with Session(db) as session:
        assert _kid(ring.signing_key(session)) == _kid(old)


def test_another_hosts_key_file_is_kept_for_verifying_what_it_signed(db, tmp_path):
    """Two hosts of an earlier version each made their own key: the first to start supplies
    the active key, the second's is imported retired, so what it signed still verifies."""
    first = _key_file(tmp_path / "a.pem")
    second = _key_file(tmp_path / "b.pem")
    prepare_keys(db, KeyRing(), key_file=tmp_path / "a.pem")
    ring = KeyRing()
    assert prepare_keys(db, ring, key_file=tmp_path / "b.pem") == _kid(first)
    with Session(db) as session:
        kept = session.get(SigningKey, _kid(second))
        assert kept.retired_at is not None and kept.private_key is None
        payload = b"signed on host B before the upgrade"
        public = ring.public_key(session, _kid(second))
        assert signing.verify(public, payload, signing.sign(second, payload))


def test_a_rotation_retires_the_key_and_keeps_its_public_half(db, tmp_path):
    ring = KeyRing()
    first = prepare_keys(db, ring, key_file=tmp_path / "absent.pem")
    with Session(db) as session:
        old = ring.signing_key(session)
    new, retired = rotate_key(db, ring)
    assert retired == [first] and new != first
    with Session(db) as session:
        assert _kid(ring.signing_key(session)) == new  # the same ring, no restart
        payload = b"a certificate of yesterday"
        assert signing.verify(ring.public_key(session, first), payload, signing.sign(old, payload))
        assert ring.public_key(session, "0" * 16) is None
        assert ring.public_key(session, "x" * 200) is None
    listed = list_keys(db)
    assert [(k.key_id, k.active) for k in listed] == [(new, True), (first, False)]


def test_a_passphrase_encrypts_the_stored_private_key(db, tmp_path):
    ring = KeyRing("correct horse")
    prepare_keys(db, ring, key_file=tmp_path / "absent.pem")
    with Session(db) as session:
        [row] = session.exec(select(SigningKey)).all()
        assert row.private_key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert _kid(ring.signing_key(session)) == row.key_id
    with pytest.raises(SigningKeyError, match="ONETHING_CERTIFICATE_KEY_PASSPHRASE"):
        prepare_keys(db, KeyRing(), key_file=tmp_path / "absent.pem")
    with pytest.raises(SigningKeyError, match="cannot be decrypted"):
        prepare_keys(db, KeyRing("wrong"), key_file=tmp_path / "absent.pem")
