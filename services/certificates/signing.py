"""Ed25519 signatures for certificates, and the key id that names the key which made one.

The keys themselves live in the database (`services.certificates.keys`). A signature is base64
text so it can sit in a database column and a verification page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def load_key_file(path: Path) -> Ed25519PrivateKey:
    """The private key in `path` (unencrypted PKCS#8 PEM), as an earlier version kept it in the
    data directory; ValueError if the file holds another kind of key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


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
