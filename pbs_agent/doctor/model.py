"""The result of one doctor check and the environment every check reads from."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import ConfigError, PbsAgentError
from ..host import Datastores, Host, Settings


class Verdict(enum.IntEnum):
    """Ordered by severity; the exit code of ``doctor`` is the worst verdict's value."""

    OK = 0
    WARN = 1
    FAIL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Check:
    """One check: what was looked at, what it means, and the one-line fix (if any)."""

    id: str
    verdict: Verdict
    evidence: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "verdict": self.verdict.label, "evidence": self.evidence,
                "fix": self.fix}


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, default=Verdict.OK)


@dataclass(frozen=True)
class Endpoint:
    """HOST[:PORT] from the command line."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int) -> Endpoint:
        host, port = text, default_port
        if text.startswith("["):  # [v6]:port
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":"):
                port = _port(rest[1:], text)
        elif text.count(":") == 1:
            host, _, p = text.partition(":")
            port = _port(p, text)
        if not host:
            raise ConfigError(f"{text!r}: expected HOST[:PORT]")
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"{whole!r}: port must be 1..65535")
    return int(text)


@dataclass
class DoctorEnv:
    """What the checks look at: settings (paths, datastores, tool fixtures) plus doctor flags."""

    settings: Settings
    pve_hosts: list[Endpoint] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # extra backup client addresses
    proxy_port: int = 8007
    tls_endpoint: Endpoint | None = None  # where to probe TLS; None = 127.0.0.1:proxy_port
    modules_dir: Path = Path("/lib/modules")
    latency_warn_ms: float = 10.0
    gc_max_age_days: float = 8.0
    pve_config_dir: Path = Path("/etc/pve")  # storage.cfg, jobs.cfg (prune-owners)
    now: float = field(default_factory=time.time)

    @cached_property
    def host(self) -> Host:
        """The host looked at: tools (or their recorded outputs) and the datastore resolver."""
        return Host(self.settings)

    def datastore_config(self) -> Datastores | PbsAgentError:
        """The resolver's answer, or why datastore.cfg could not be read (the
        ``datastore-config`` check reports either)."""
        try:
            return self.host.datastores()
        except PbsAgentError as exc:
            return exc

    def datastores(self) -> Mapping[str, Path]:
        """Name → directory of the datastores the checks look at: every store present here
        (S3-backed ones by their local cache; removable ones only while mounted). Empty when
        datastore.cfg cannot be read."""
        found = self.datastore_config()
        return {} if isinstance(found, PbsAgentError) else found.present()

    def read(self, path: Path) -> str | None:
        """A small text file's contents, or None if it does not exist / cannot be read."""
        try:
            return path.read_text()
        except (OSError, UnicodeDecodeError):
            return None
