"""Ed25519 keys and signatures for certificates: one private key on disk, its public key shared.

The key is a PEM file readable by the server's user only; the first start creates it. A
signature is base64 text so it can sit in a database column and a verification page.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The private key in `path` (unencrypted PKCS#8 PEM); created with mode 0600 if missing."""
    if not path.exists():
        _create_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def _create_key(path: Path) -> None:
    """Write a new key under a temporary name, then link it into place: when two processes
    start at once, one key wins and both load it, and nobody ever reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def public_key_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of a public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(public_key_bytes(public_key)).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    """The base64 (standard alphabet, padded) Ed25519 signature of `payload`."""
    return base64.b64encode(key.sign(payload)).decode("ascii")


def verify(public_key: Ed25519PublicKey, payload: bytes, signature: str) -> bool:
    """Whether `signature` (as made by `sign`) is valid for `payload` under `public_key`."""
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, payload)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
