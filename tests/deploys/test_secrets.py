"""Controller secret store: 0600, atomic, refuses loose modes and unreadable files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from deploys import secrets


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


def test_store_rejects_a_file_that_is_not_utf8_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b"\xff\xfe{}")
    path.chmod(0o600)
    with pytest.raises(secrets.SecretStoreError, match=str(path)):
        secrets.SecretStore(path).get("x")
