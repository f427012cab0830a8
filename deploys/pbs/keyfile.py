"""PBS client encryption key files (pbs-internals.md §10.1), made with ``cryptography``.

A key file is JSON: ``kdf`` (null, or Scrypt/PBKDF2 parameters), ``created``/``modified``
(RFC 3339 local time), ``data`` (base64: the raw 32-byte key, or ``IV||TAG||AES-256-GCM(key)``
under the KDF output), ``fingerprint`` (colon hex of ``sha256(FINGERPRINT_INPUT || id_key)``).

    >>> key = generate_key()
    >>> config = key_config(key)            # kdf null, as ``pvesm --encryption-key autogen``
    >>> load_key(config) == key
    True
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

KEY_LEN = 32
#: sha256(b"Proxmox Backup Encryption Key Fingerprint"), §2.4.
FINGERPRINT_INPUT = hashlib.sha256(b"Proxmox Backup Encryption Key Fingerprint").digest()


class KeyFileError(ValueError):
    """A key file cannot be read: the message says which field and why."""


def generate_key() -> bytes:
    """32 random bytes from the OS CSPRNG."""
    return os.urandom(KEY_LEN)


def id_key(key: bytes) -> bytes:
    """``PBKDF2-HMAC-SHA256(key, b"_id_key", 10 iterations, 32 bytes)``."""
    return hashlib.pbkdf2_hmac("sha256", key, b"_id_key", 10, 32)


def fingerprint(key: bytes) -> str:
    """The key fingerprint as 32 colon-separated lowercase hex pairs."""
    digest = hashlib.sha256(FINGERPRINT_INPUT + id_key(key)).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))


def _now() -> str:
    return dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


def key_config(key: bytes, password: bytes | None = None, created: str | None = None
               ) -> dict[str, Any]:
    """A key-file dict; with *password* the key is wrapped with scrypt + AES-256-GCM."""
    if len(key) != KEY_LEN:
        raise KeyFileError(f"key must be {KEY_LEN} bytes, got {len(key)}")
    stamp = created or _now()
    kdf: dict[str, Any] | None = None
    data = key
    if password is not None:
        if len(password) < 5:
            raise KeyFileError("password must be at least 5 characters")
        salt = os.urandom(32)
        kdf = {"Scrypt": {"n": 65536, "r": 8, "p": 1,
                          "salt": base64.b64encode(salt).decode()}}
        wrap = Scrypt(salt=salt, length=32, n=65536, r=8, p=1).derive(password)
        iv = os.urandom(16)
        sealed = AESGCM(wrap).encrypt(iv, key, None)
        data = iv + sealed[-16:] + sealed[:-16]
    return {"kdf": kdf, "created": stamp, "modified": stamp,
            "data": base64.b64encode(data).decode(), "fingerprint": fingerprint(key)}


def dumps(config: dict[str, Any]) -> str:
    """The key file text (pretty JSON, trailing newline)."""
    return json.dumps(config, indent=2) + "\n"


def load_key(config: dict[str, Any], password: bytes | None = None) -> bytes:
    """The raw key from a key-file dict; checks the fingerprint when present."""
    try:
        data = base64.b64decode(config["data"], validate=True)
    except (KeyError, ValueError) as exc:
        raise KeyFileError(f"key file field 'data': {exc}") from None
    kdf = config.get("kdf")
    if kdf is None:
        key = data
    elif isinstance(kdf, dict) and "Scrypt" in kdf:
        if password is None:
            raise KeyFileError("key file is password protected: a password is required")
        params = kdf["Scrypt"]
        wrap = Scrypt(salt=base64.b64decode(params["salt"]), length=32, n=params["n"],
                      r=params["r"], p=params["p"]).derive(password)
        iv, tag, body = data[:16], data[16:32], data[32:]
        try:
            key = AESGCM(wrap).decrypt(iv, body + tag, None)
        except Exception:
            raise KeyFileError("key file: wrong password or damaged data") from None
    else:
        raise KeyFileError(f"key file field 'kdf': unsupported {kdf!r}")
    if len(key) != KEY_LEN:
        raise KeyFileError(f"key file field 'data': key is {len(key)} bytes, not {KEY_LEN}")
    expected = config.get("fingerprint")
    if expected is not None and expected != fingerprint(key):
        raise KeyFileError("key file field 'fingerprint' does not match the key")
    return key
