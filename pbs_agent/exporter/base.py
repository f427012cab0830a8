"""What every collector shares: settings (paths), the context of one run, the base class.

A collector is one class with a ``name`` that yields prometheus_client metric families from
a fresh view of its sources each time :meth:`Collector.collect` runs. Collectors never raise
for bad input: they count it with :meth:`CollectContext.parse_error` and go on; a source that
cannot be read at all raises :class:`~pbs_agent.errors.SourceError`, which the runner turns
into ``pbs_agent_collector_success{collector} 0`` while the other collectors keep working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.metrics_core import Metric

from ..errors import SourceError

DEFAULT_LISTEN_ADDRESS = ":9797"


@dataclass(frozen=True)
class Settings:
    """Where the agent looks. Every path can be re-rooted for tests (fixture trees)."""

    log_dir: Path = Path("/var/log/proxmox-backup")
    lib_dir: Path = Path("/var/lib/proxmox-backup")
    config_dir: Path = Path("/etc/proxmox-backup")
    sysfs: Path = Path("/sys")
    procfs: Path = Path("/proc")
    devfs: Path = Path("/dev")
    state_dir: Path = Path("/var/lib/pbs-agent")
    datastores: Mapping[str, Path] = field(default_factory=dict)  # name -> path; {} = datastore.cfg
    # Directory of recorded tool outputs (tests): "<tool>.<args joined by _>" files
    # replace running the tool. None = run the real tools from PATH.
    tool_fixtures: Path | None = None
    max_groups: int = 200
    inlet_band_celsius: tuple[float, float] = (15.0, 25.0)
    api_url: str = "https://127.0.0.1:8007"
    api_token_file: Path | None = None
    # SHA-256 fingerprint (colon hex) the API certificate must have; None = proxy.pem's or CA.
    api_fingerprint: str | None = None


class CollectContext:
    """One collection run: settings, a tool runner, and the parse-error counter."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.parse_errors = 0
        #: Set by :meth:`fail`: the run's metrics are kept but its success gauge is 0.
        self.failure: str | None = None

    def fail(self, reason: str) -> None:
        """Mark the run failed while still returning metrics (e.g. ``pbs_api_up 0``)."""
        self.failure = reason

    def parse_error(self, what: str) -> None:
        """Count one malformed input (task log line, sysfs value, tool output…)."""
        self.parse_errors += 1

    def run_tool(self, argv: Sequence[str], timeout: float = 20.0) -> str:
        """Run a read-only tool and return stdout; SourceError if it is missing or fails.

        With ``settings.tool_fixtures`` set, the output is read from the recorded file
        ``<tool_fixtures>/<argv joined by '_' with '/' replaced by '%'>`` instead.
        """
        fixtures = self.settings.tool_fixtures
        if fixtures is not None:
            name = "_".join(argv).replace("/", "%")
            path = fixtures / name
            try:
                return path.read_text()
            except OSError:
                raise SourceError(argv[0], f"not found (no recorded output {path.name})") from None
        exe = shutil.which(argv[0])
        if exe is None:
            raise SourceError(argv[0], "not found in PATH")
        try:
            proc = subprocess.run(
                [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            raise SourceError(argv[0], f"timed out after {timeout:.0f}s") from None
        if proc.returncode != 0 and not proc.stdout:
            raise SourceError(argv[0], f"exit {proc.returncode}: {proc.stderr.strip()[:200]}")
        return proc.stdout


class Collector:
    """Base class: subclasses set ``name`` and implement :meth:`collect`."""

    name: str = ""
    #: Seconds between background refreshes (slow sources use longer intervals).
    interval: float = 60.0
    #: Enabled unless --no-collector.NAME.
    default_enabled: bool = True

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        raise NotImplementedError
