"""PBS encryption key files (pbs-internals.md §10.1): fingerprint, KDF, tamper checks."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from deploys.pbs import keyfile


def test_fingerprint_input_matches_the_reference_bytes() -> None:
    assert list(keyfile.FINGERPRINT_INPUT[:8]) == [110, 208, 239, 119, 71, 31, 255, 77]
    assert list(keyfile.FINGERPRINT_INPUT[-4:]) == [236, 69, 237, 38]


def test_fingerprint_is_sha256_of_input_and_pbkdf2_id_key() -> None:
    key = bytes(range(32))
    idk = hashlib.pbkdf2_hmac("sha256", key, b"_id_key", 10, 32)
    expected = hashlib.sha256(keyfile.FINGERPRINT_INPUT + idk).hexdigest()
    fp = keyfile.fingerprint(key)
    assert fp.replace(":", "") == expected
    assert len(fp.split(":")) == 32


def test_unprotected_key_file_has_the_pbs_fields() -> None:
    key = keyfile.generate_key()
    config = json.loads(keyfile.dumps(keyfile.key_config(key)))
    assert list(config) == ["kdf", "created", "modified", "data", "fingerprint"]
    assert config["kdf"] is None
    assert base64.b64decode(config["data"]) == key
    assert config["created"][-6] in "+-"  # RFC 3339 with offset
    assert keyfile.load_key(config) == key


def test_password_protected_key_round_trips_and_rejects_wrong_password() -> None:
    key = keyfile.generate_key()
    config = keyfile.key_config(key, password=b"correct horse")
    assert set(config["kdf"]["Scrypt"]) == {"n", "r", "p", "salt"}
    assert len(base64.b64decode(config["data"])) == 16 + 16 + 32
    assert keyfile.load_key(config, b"correct horse") == key
    with pytest.raises(keyfile.KeyFileError, match="wrong password"):
        keyfile.load_key(config, b"wrong horse")


def test_tampered_fingerprint_is_detected() -> None:
    config = keyfile.key_config(keyfile.generate_key())
    config["fingerprint"] = keyfile.fingerprint(b"\0" * 32)
    with pytest.raises(keyfile.KeyFileError, match="'fingerprint'"):
        keyfile.load_key(config)


def test_short_password_is_refused() -> None:
    with pytest.raises(keyfile.KeyFileError, match="at least 5"):
        keyfile.key_config(keyfile.generate_key(), password=b"abc")
