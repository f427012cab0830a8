"""The api collector against the PBS API simulator (HTTPS, token auth, pinned certificate)."""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import replace
from pathlib import Path

import pytest

from pbs_agent.collectors.api import ApiCollector, normalize_fingerprint, read_token
from pbs_agent.errors import SourceError
from pbs_agent.exporter.runner import Runner
from pbs_agent.host import Settings

from .conftest import collect, value
from .pbs_api_simulator import ANSWERS, NOW, SECRET, TOKEN_ID, SimulatedPbsApi


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    p = tmp_path / "token"
    p.write_text(f"{TOKEN_ID}:{SECRET}\n")
    p.chmod(0o600)
    return p


def fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def api_settings(url: str, token: Path, tmp: Path, pin: str | None) -> Settings:
    return Settings(api_url=url, api_token_file=token, api_fingerprint=pin,
                    config_dir=tmp / "etc", state_dir=tmp / "state")


def test_metrics_from_the_api(tls_files, token_file: Path, tmp_path: Path) -> None:
    with SimulatedPbsApi(*tls_files) as api:
        s = api_settings(api.url, token_file, tmp_path, fingerprint(tls_files[0]))
        smp, ctx = collect(ApiCollector(), s)
    assert ctx.failure is None and value(smp, "pbs_api_up") == 1
    assert value(smp, "pbs_api_version_info", version="3.2", release="7", repoid="e4fe5b1a") == 1
    usage = ANSWERS["/status/datastore-usage"][0]
    assert value(smp, "pbs_api_datastore_size_bytes", datastore="store1") == usage["total"]
    assert value(smp, "pbs_api_datastore_used_bytes", datastore="store1") == usage["used"]
    assert value(smp, "pbs_api_datastore_available_bytes", datastore="store1") == usage["avail"]
    assert value(smp, "pbs_api_datastore_estimated_full_timestamp_seconds",
                 datastore="store1") == 4102444800
    assert ("pbs_api_datastore_estimated_full_timestamp_seconds",
            (("datastore", "store2"),)) not in smp  # 0 = not growing
    assert value(smp, "pbs_api_datastore_ok", datastore="store2") == 0
    assert value(smp, "pbs_api_gc_dedup_factor", datastore="store1") == pytest.approx(
        1323814740000 / 105763569664)
    assert value(smp, "pbs_api_gc_still_bad_chunks", datastore="store1") == 2
    assert value(smp, "pbs_api_gc_last_success", datastore="store1") == 1
    assert value(smp, "pbs_api_gc_last_success", datastore="store2") == 0
    assert value(smp, "pbs_api_gc_next_run_timestamp_seconds", datastore="store1") == NOW + 3600
    assert value(smp, "pbs_api_gc_last_duration_seconds", datastore="store1") == 93
    assert all(auth == f"PBSAPIToken={TOKEN_ID}:{SECRET}" for _, auth in api.requests)


def test_proxy_pem_is_pinned_for_a_local_api(tls_files, token_file: Path,
                                             tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "proxy.pem").write_bytes(tls_files[0].read_bytes())
    with SimulatedPbsApi(*tls_files) as api:
        smp, _ = collect(ApiCollector(), api_settings(api.url, token_file, tmp_path, None))
    assert value(smp, "pbs_api_up") == 1


@pytest.mark.parametrize("case", ["wrong-pin", "no-pin-self-signed", "bad-token", "no-token"])
def test_unusable_api_is_up_0(tls_files, token_file: Path, tmp_path: Path, case: str) -> None:
    pin = fingerprint(tls_files[0])
    with SimulatedPbsApi(*tls_files) as api:
        s = api_settings(api.url, token_file, tmp_path, pin)
        if case == "wrong-pin":
            s = replace(s, api_fingerprint="AA:" * 31 + "AA")
        elif case == "no-pin-self-signed":
            s = replace(s, api_fingerprint=None)  # CA verification fails
        elif case == "bad-token":
            token_file.write_text(f"{TOKEN_ID}:wrong-secret\n")
        else:
            s = replace(s, api_token_file=tmp_path / "absent")
        smp, ctx = collect(ApiCollector(), s)
    assert smp == {("pbs_api_up", ()): 0}
    assert ctx.failure


def test_unreachable_api_via_runner_is_up_0_not_an_error(token_file: Path,
                                                         tmp_path: Path) -> None:
    s = api_settings("https://127.0.0.1:1", token_file, tmp_path, "00" * 32)
    runner = Runner([ApiCollector()], s)
    runner.run_all()
    text = runner.exposition().decode()
    assert "pbs_api_up 0.0" in text
    assert 'pbs_agent_collector_success{collector="api"} 0.0' in text


def test_forbidden_gc_endpoint_is_skipped(tls_files, token_file: Path, tmp_path: Path) -> None:
    with SimulatedPbsApi(*tls_files, forbidden=frozenset({"/admin/gc"})) as api:
        s = api_settings(api.url, token_file, tmp_path, fingerprint(tls_files[0]))
        smp, ctx = collect(ApiCollector(), s)
    assert value(smp, "pbs_api_up") == 1 and ctx.failure is None
    assert not any(k[0] == "pbs_api_gc_last_success" for k in smp)


def test_token_file_and_fingerprint_formats(tmp_path: Path) -> None:
    p = tmp_path / "t"
    p.write_text("PBSAPIToken=user@pbs!tok:abc\n")
    assert read_token(p) == "user@pbs!tok:abc"
    for bad in ("user@pbs:abc", "user@pbs!tok", ""):
        p.write_text(bad)
        with pytest.raises(SourceError, match="USER@REALM!TOKENNAME:SECRET"):
            read_token(p)
    assert normalize_fingerprint("AB:" * 31 + "AB") == "ab" * 32
    with pytest.raises(SourceError):
        normalize_fingerprint("not-a-fingerprint")
