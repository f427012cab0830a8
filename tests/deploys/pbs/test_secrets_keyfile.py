"""Controller secret store (0600, atomic, refuses loose modes) and PBS key files (§10.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from deploys import secrets
from deploys.pbs import keyfile


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_creates_0600_file_in_0700_dir_and_round_trips(tmp_path: Path) -> None:
    store = secrets.SecretStore(tmp_path / "new" / "secrets.json")
    store.put("token:pbs1:a@pbs!t", "11111111-2222")
    assert mode(store.path) == 0o600
    assert mode(store.path.parent) == 0o700
    assert store.get("token:pbs1:a@pbs!t") == "11111111-2222"
    assert store.keys() == ["token:pbs1:a@pbs!t"]
    store.delete("token:pbs1:a@pbs!t")
    assert store.get("token:pbs1:a@pbs!t") is None


def test_store_stays_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = secrets.SecretStore(tmp_path / "s.json")
        store.put("k", "v")
        store.put("k2", "v2")
    finally:
        os.umask(old)
    assert mode(store.path) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temp file left


def test_store_refuses_a_world_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{}")
    path.chmod(0o644)
    with pytest.raises(secrets.SecretStoreError, match=r"mode 0644.*chmod 600"):
        secrets.SecretStore(path).get("x")


def test_store_rejects_broken_json_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{nope")
    path.chmod(0o600)
    with pytest.raises(secrets.SecretStoreError, match=str(path)):
        secrets.SecretStore(path).get("x")


def test_repr_never_shows_content(tmp_path: Path) -> None:
    store = secrets.SecretStore(tmp_path / "s.json")
    store.put("k", "TOPSECRET")
    assert "TOPSECRET" not in repr(store)


def test_default_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PBS_FLEET_SECRETS", str(tmp_path / "env.json"))
    assert secrets.default_path(str(tmp_path / "inv.json")) == tmp_path / "inv.json"
    assert secrets.default_path(None) == tmp_path / "env.json"
    monkeypatch.delenv("PBS_FLEET_SECRETS")
    assert secrets.default_path(None).name == "secrets.json"


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
