"""The exporter-toolkit web config file (``--web.config.file``): TLS and basic auth.

Same YAML format as the Go exporters use::

    tls_server_config:
      cert_file: server.crt        # relative paths: relative to this file
      key_file: server.key
      min_version: TLS13           # TLS10 | TLS11 | TLS12 (default) | TLS13
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
    basic_auth_users:
      prometheus: $2y$10$...       # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
    http_server_config:
      headers:
        X-Content-Type-Options: nosniff
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from ..errors import ConfigError

log = logging.getLogger(__name__)

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: Go (IANA) cipher suite names → OpenSSL names; they apply to TLS 1.2 and older only.
CIPHER_SUITES = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
             "max_version", "cipher_suites", "prefer_server_cipher_suites"}


@cache
def _dummy_hash() -> bytes:
    """A hash to check unknown users against, so that they take as long as known ones."""
    return bcrypt.hashpw(b"unknown user", bcrypt.gensalt(rounds=10))


@dataclass
class WebConfig:
    """TLS context (None = plain HTTP), basic-auth users and extra response headers."""

    tls: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # the certificate, key and CA files it was built from
    _ok: set[bytes] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header passes (always, when no users are set)."""
        known = self.authorized_at_once(header)
        if known is not None:
            return known
        user, password = _basic_credentials(header) or (b"", b"")  # at_once: well-formed
        hashed = self.users.get(user.decode("utf-8", "replace"))
        ok = bcrypt.checkpw(password, hashed or _dummy_hash()) and hashed is not None
        if ok:
            with self._lock:
                self._ok.add(_cache_key(user, password))
        return ok

    def authorized_at_once(self, header: str | None) -> bool | None:
        """:meth:`authorized` when it needs no bcrypt check (no users, a malformed header,
        credentials that passed before); None when a bcrypt check is due."""
        if not self.users:
            return True
        credentials = _basic_credentials(header)
        if credentials is None:
            return False
        with self._lock:  # bcrypt is slow on purpose: remember good credentials
            return True if _cache_key(*credentials) in self._ok else None


def _basic_credentials(header: str | None) -> tuple[bytes, bytes] | None:
    """(user, password) of a well-formed ``Basic`` header, else None."""
    if not header or not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


def _cache_key(user: bytes, password: bytes) -> bytes:
    return hashlib.sha256(user + b"\0" + password).digest()


def _resolve(base: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what}: expected a file name")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _version(tls: dict[str, Any], key: str, default: str, what: str) -> ssl.TLSVersion:
    name = tls.get(key, default)
    if name not in TLS_VERSIONS:
        raise ConfigError(f"{what}: {key} {name!r} is not one of {', '.join(TLS_VERSIONS)}")
    return TLS_VERSIONS[name]


def tls_context(tls: dict[str, Any], base: Path, what: str) -> ssl.SSLContext:
    """A server SSLContext from a ``tls_server_config`` mapping."""
    unknown = set(tls) - _TLS_KEYS
    if unknown:
        raise ConfigError(f"{what}: unknown tls_server_config field(s) {sorted(unknown)}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _version(tls, "min_version", "TLS12", what)
    ctx.maximum_version = _version(tls, "max_version", "TLS13", what)
    if ctx.minimum_version > ctx.maximum_version:
        raise ConfigError(f"{what}: min_version is above max_version")
    cert = _resolve(base, tls.get("cert_file"), f"{what}: cert_file")
    key = _resolve(base, tls.get("key_file"), f"{what}: key_file")
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{what}: cannot load {cert} / {key}: {exc}") from None
    suites = tls.get("cipher_suites")
    if suites:
        try:
            ctx.set_ciphers(":".join(CIPHER_SUITES[s] for s in suites))
        except KeyError as exc:
            raise ConfigError(f"{what}: unknown cipher suite {exc.args[0]!r}") from None
    if tls.get("prefer_server_cipher_suites", True):
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _client_auth(ctx, tls, base, what)
    return ctx


def _client_auth(ctx: ssl.SSLContext, tls: dict[str, Any], base: Path, what: str) -> None:
    mode = tls.get("client_auth_type", "NoClientCert")
    if mode not in CLIENT_AUTH:
        raise ConfigError(f"{what}: client_auth_type {mode!r} is not one of "
                          f"{', '.join(CLIENT_AUTH)}")
    ctx.verify_mode = CLIENT_AUTH[mode]
    if "client_ca_file" in tls:
        ca = _resolve(base, tls["client_ca_file"], f"{what}: client_ca_file")
        try:
            ctx.load_verify_locations(cafile=str(ca))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{what}: cannot load client_ca_file {ca}: {exc}") from None
    elif ctx.verify_mode != ssl.CERT_NONE:
        raise ConfigError(f"{what}: client_auth_type {mode} needs client_ca_file")


def _users(raw: Any, what: str) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{what}: basic_auth_users must be a mapping user → bcrypt hash")
    users = {}
    for name, hashed in raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{what}: basic_auth_users.{name} is not a bcrypt hash")
        users[str(name)] = hashed.encode()
    return users


def parse_web_config(text: str, base: Path, what: str = "web config") -> WebConfig:
    """Build a :class:`WebConfig` from YAML text; relative paths are taken from *base*."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: expected a mapping at the top level")
    unknown = set(data) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise ConfigError(f"{what}: unknown field(s) {sorted(unknown)}")
    tls = data.get("tls_server_config")
    headers = (data.get("http_server_config") or {}).get("headers") or {}
    files = tuple(_resolve(base, tls[k], what) for k in ("cert_file", "key_file",
                                                          "client_ca_file") if tls and k in tls)
    return WebConfig(
        tls=tls_context(tls, base, what) if tls else None,
        users=_users(data.get("basic_auth_users"), what),
        headers={str(k): str(v) for k, v in headers.items()},
        files=files,
    )


def load_web_config(path: Path | None) -> WebConfig:
    """Read ``--web.config.file``; no file = plain HTTP without auth."""
    if path is None:
        return WebConfig()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"web config {path}: {exc.strerror or exc}") from None
    return parse_web_config(text, path.parent, f"web config {path}")


class WebConfigSource:
    """The web config in force, re-read when its file or its certificate files change.

    Like exporter-toolkit, a renewed certificate or a changed password takes effect without
    a restart. Files are checked at most every *interval* seconds; a config that no longer
    loads is logged and the previous one stays in force.
    """

    def __init__(self, path: Path | None, interval: float = 1.0) -> None:
        self.path, self.interval = path, interval
        self._config = load_web_config(path)
        self._stamp = self._stamps()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @classmethod
    def fixed(cls, config: WebConfig) -> WebConfigSource:
        src = cls(None)
        src._config = config
        return src

    def _stamps(self) -> tuple[tuple[str, int], ...]:
        paths = ([self.path] if self.path else []) + list(self._config.files)
        out = []
        for p in paths:
            try:
                out.append((str(p), p.stat().st_mtime_ns))
            except OSError:
                out.append((str(p), -1))
        return tuple(out)

    def current(self) -> WebConfig:
        if self.path is None or time.monotonic() - self._checked < self.interval:
            return self._config
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stamps()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._config = load_web_config(self.path)
                    log.info("web config %s reloaded", self.path)
                except ConfigError as exc:
                    log.error("web config not reloaded, the previous one stays: %s", exc)
        return self._config
