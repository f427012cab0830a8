"""The ``api`` collector: what only the PBS REST API knows (usage, fill forecast, GC schedule).

Off unless an API token file is configured (``--pbs.api-token-file``: one line
``USER@REALM!TOKENNAME:SECRET``; the token is never taken from the command line). The server
certificate is pinned by SHA-256 fingerprint: ``--pbs.api-fingerprint``, else (for a local
URL) the one of ``<config-dir>/proxy.pem`` when readable, else normal CA verification. When
the API cannot be reached, ``pbs_api_up`` is 0 and the collector's success gauge is 0 — never
an HTTP 500.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import SourceError, os_reason
from ..tasks.tasklog import task_status
from .base import CollectContext, Collector

TIMEOUT = 10.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class HttpStatusError(SourceError):
    """The API answered with an HTTP error status."""

    def __init__(self, path: str, status: int, reason: str) -> None:
        super().__init__(path, f"HTTP {status} {reason}")
        self.status = status


def normalize_fingerprint(text: str) -> str:
    """``AA:bb:…`` or ``aabb…`` → ``aabb…`` (64 lowercase hex)."""
    hexed = text.replace(":", "").strip().lower()
    if len(hexed) != 64 or any(c not in "0123456789abcdef" for c in hexed):
        raise SourceError("--pbs.api-fingerprint", f"{text!r} is not a SHA-256 fingerprint")
    return hexed


def pem_fingerprint(path: Path) -> str | None:
    """SHA-256 fingerprint of the first certificate in a PEM file; None if unreadable."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert.fingerprint(hashes.SHA256()).hex()


def read_token(path: Path) -> str:
    """The API token ``USER@REALM!NAME:SECRET`` from its file."""
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    token = token.removeprefix("PBSAPIToken=").removeprefix("PBSAPIToken ")
    user, sep, secret = token.partition(":")
    if not sep or "!" not in user or not secret:
        raise SourceError(str(path), "expected one line 'USER@REALM!TOKENNAME:SECRET'")
    return token


class ApiClient:
    """A minimal read-only client for ``/api2/json`` with token auth and certificate pinning."""

    def __init__(self, url: str, token: str, fingerprint: str | None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise SourceError(url, "the PBS API URL must be https://HOST[:PORT]")
        self.host, self.port = parts.hostname, parts.port or 8007
        self.token, self.fingerprint = token, fingerprint

    def _context(self) -> ssl.SSLContext:
        if self.fingerprint is None:
            return ssl.create_default_context()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the pinned fingerprint is checked instead
        return ctx

    def get(self, path: str) -> Any:
        """``GET /api2/json<path>`` and return its ``data``."""
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=TIMEOUT,
                                           context=self._context())
        try:
            conn.connect()
            self._check_pin(conn)
            conn.request("GET", f"/api2/json{path}",
                         headers={"Authorization": f"PBSAPIToken={self.token}"})
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"{self.host}:{self.port}", f"unreachable: {exc}") from None
        finally:
            conn.close()
        if resp.status != 200:
            raise HttpStatusError(path, resp.status, resp.reason)
        try:
            return json.loads(body)["data"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(path, "answer is not JSON with a 'data' field") from None

    def _check_pin(self, conn: http.client.HTTPSConnection) -> None:
        if self.fingerprint is None:
            return
        der = conn.sock.getpeercert(binary_form=True)
        if der is None or hashlib.sha256(der).hexdigest() != self.fingerprint:
            raise SourceError(f"{self.host}:{self.port}",
                              "certificate fingerprint does not match the pinned one")


def _g(name: str, help_: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"pbs_api_{name}", help_, labels=labels)


class ApiFamilies:
    """Metric families filled from the API answers."""

    def __init__(self) -> None:
        ds = ["datastore"]
        self.up = _g("up", "1 if the PBS API answered.", [])
        self.version = _g("version_info", "PBS version reported by the API.",
                          ["version", "release", "repoid"])
        self.usage = {key: _g(f"datastore_{name}", help_, ds) for key, name, help_ in (
            ("total", "size_bytes", "Datastore filesystem size."),
            ("used", "used_bytes", "Datastore filesystem bytes used."),
            ("avail", "available_bytes", "Datastore filesystem bytes available."))}
        self.full = _g("datastore_estimated_full_timestamp_seconds",
                       "PBS's forecast of when the datastore is full (absent: not growing).", ds)
        self.ds_ok = _g("datastore_ok", "0 if the API reports an error for the datastore.", ds)
        self.gc = {key: _g(f"gc_{name}", help_, ds) for key, name, help_ in (
            ("index-data-bytes", "index_data_bytes", "Logical bytes referenced, at the last GC."),
            ("disk-bytes", "disk_bytes", "On-disk bytes in use, at the last GC."),
            ("removed-bytes", "removed_bytes", "Bytes removed by the last GC."),
            ("pending-bytes", "pending_bytes", "Bytes pending removal after the last GC."),
            ("still-bad", "still_bad_chunks", "Bad chunks left after the last GC."))}
        self.dedup = _g("gc_dedup_factor", "index-data-bytes / disk-bytes of the last GC.", ds)
        self.job = {key: _g(f"gc_{name}", help_, ds) for key, name, help_ in (
            ("last-run-endtime", "last_end_timestamp_seconds", "End of the last GC run."),
            ("duration", "last_duration_seconds", "Duration of the last GC run."),
            ("next-run", "next_run_timestamp_seconds", "Next scheduled GC run."))}
        self.job_ok = _g("gc_last_success", "1 if the last GC run succeeded.", ds)

    def add_usage(self, items: list[dict[str, Any]], now: float) -> None:
        for item in items:
            store = [str(item.get("store", ""))]
            for key, fam in self.usage.items():
                if isinstance(item.get(key), int | float):
                    fam.add_metric(store, item[key])
            full = item.get("estimated-full-date")
            if isinstance(full, int | float) and full > now:
                self.full.add_metric(store, full)
            self.ds_ok.add_metric(store, int(not item.get("error")))
            gc = item.get("gc-status") or {}
            for key, fam in self.gc.items():
                if isinstance(gc.get(key), int | float):
                    fam.add_metric(store, gc[key])
            if gc.get("upid"):
                disk = gc.get("disk-bytes") or 0
                self.dedup.add_metric(store, gc.get("index-data-bytes", 0) / disk if disk else 1.0)

    def add_gc_jobs(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            store = [str(item.get("store", ""))]
            for key, fam in self.job.items():
                if isinstance(item.get(key), int | float):
                    fam.add_metric(store, item[key])
            if isinstance(item.get("last-run-state"), str):
                self.job_ok.add_metric(store, int(task_status(item["last-run-state"]) != "error"))

    def families(self) -> list[Metric]:
        return [self.up, self.version, *self.usage.values(), self.full, self.ds_ok,
                *self.gc.values(), self.dedup, *self.job.values(), self.job_ok]


class ApiCollector(Collector):
    """Datastore usage, fill forecast, GC status and version from the PBS API."""

    name = "api"
    interval = 60.0
    default_enabled = False  # on when --pbs.api-token-file is given

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        fams = ApiFamilies()
        try:
            client = self._client(ctx)
            version = client.get("/version")
            usage = client.get("/status/datastore-usage")
            gc_jobs = self._optional(client, "/admin/gc")
        except SourceError as exc:
            fams.up.add_metric([], 0)
            ctx.fail(str(exc))
            return [fams.up]
        fams.up.add_metric([], 1)
        fams.version.add_metric([str(version.get(k, "")) for k in ("version", "release",
                                                                     "repoid")], 1)
        fams.add_usage(usage if isinstance(usage, list) else [], time.time())
        fams.add_gc_jobs(gc_jobs if isinstance(gc_jobs, list) else [])
        return fams.families()

    @staticmethod
    def _client(ctx: CollectContext) -> ApiClient:
        s = ctx.settings
        if s.api_token_file is None:
            raise SourceError("--pbs.api-token-file", "no API token file configured")
        fingerprint = None
        if s.api_fingerprint:
            fingerprint = normalize_fingerprint(s.api_fingerprint)
        elif urlsplit(s.api_url).hostname in LOCAL_HOSTS:
            fingerprint = pem_fingerprint(s.config_dir / "proxy.pem")
        return ApiClient(s.api_url, read_token(s.api_token_file), fingerprint)

    @staticmethod
    def _optional(client: ApiClient, path: str) -> Any:
        """An endpoint the token may lack rights for (403) or an older PBS lacks (404)."""
        try:
            return client.get(path)
        except HttpStatusError as exc:
            if exc.status in (403, 404):
                return None
            raise
