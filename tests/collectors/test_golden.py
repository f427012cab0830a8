"""Each collector's exposition on the fixture host, compared with golden files
(node_exporter style). Regenerate: ``UPDATE_GOLDEN=1 pytest tests/collectors/test_golden.py``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pbs_agent.collectors.base import CollectContext
from pbs_agent.collectors.hardware import HardwareCollector
from pbs_agent.collectors.thermal import ThermalCollector
from pbs_agent.collectors.zfs import ZfsCollector
from pbs_agent.host import Settings
from tests.hw.hosttree import set_tools

from .conftest import assert_golden, exposition

ZPOOL_SCENARIOS = ["online", "degraded", "suspended", "scrub-running", "resilver-running"]


def test_hardware(host: Settings) -> None:
    ctx = CollectContext(host)
    assert_golden("hardware", exposition(HardwareCollector().collect(ctx)))
    assert ctx.parse_errors == 0 and ctx.failure is None


@pytest.mark.parametrize("scenario", ZPOOL_SCENARIOS)
def test_zfs(host: Settings, scenario: str) -> None:
    set_tools(host.tool_fixtures, scenario)
    ctx = CollectContext(host)
    assert_golden(f"zfs-{scenario}", exposition(ZfsCollector().collect(ctx)))
    assert ctx.parse_errors == 0


def test_zfs_21_progress_format_reads_the_same(host: Settings) -> None:
    set_tools(host.tool_fixtures, "scrub-running")
    new = exposition(ZfsCollector().collect(CollectContext(host)))
    set_tools(host.tool_fixtures, "scrub-running-zfs21")
    ctx = CollectContext(host)
    assert exposition(ZfsCollector().collect(ctx)) == new
    assert ctx.parse_errors == 0


def test_thermal(host: Settings) -> None:
    ctx = CollectContext(host)
    assert_golden("thermal", exposition(ThermalCollector().collect(ctx)))
    assert ctx.parse_errors == 0


def test_thermal_without_bmc_exports_only_the_band(host: Settings) -> None:
    (host.devfs / "ipmi0").unlink()
    (host.tool_fixtures / "ipmitool_sdr_type_Temperature").unlink()
    ctx = CollectContext(host)
    assert_golden("thermal-no-bmc", exposition(ThermalCollector().collect(ctx)))


@pytest.mark.prometheus
def test_golden_files_pass_promtool_check_metrics() -> None:
    for path in sorted((Path(__file__).parent / "golden").glob("*.prom")):
        proc = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{path.name}: {proc.stdout}{proc.stderr}"
