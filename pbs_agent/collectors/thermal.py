"""Inlet (ambient) air temperature from the BMC, beside the configured comfort band.

Disk heat means little without the air that cools the disks: a hot inlet points at the room,
a cool inlet with hot disks at the chassis. ``ipmitool sdr type Temperature`` is asked only
when the kernel IPMI device exists; without a BMC only the band is exported.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..hw.ipmi import has_bmc, parse_sdr_temperatures
from .base import CollectContext, Collector


class ThermalCollector(Collector):
    """``pbs_thermal_inlet_celsius{sensor}`` and ``pbs_thermal_inlet_band_celsius{bound}``."""

    name = "thermal"
    interval = 60.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        low, high = ctx.settings.inlet_band_celsius
        band = GaugeMetricFamily(
            "pbs_thermal_inlet_band_celsius", "Configured comfort band of the inlet air.",
            labels=["bound"])
        band.add_metric(["low"], float(low))
        band.add_metric(["high"], float(high))
        if not has_bmc(ctx.settings.devfs):
            return [band]
        problems: list[str] = []
        text = ctx.run_tool(["ipmitool", "sdr", "type", "Temperature"])
        readings = parse_sdr_temperatures(text, problems)
        for problem in problems:
            ctx.parse_error(problem)
        inlet = GaugeMetricFamily(
            "pbs_thermal_inlet_celsius", "Inlet/ambient air temperature reported by the BMC.",
            labels=["sensor"])
        for reading in readings:
            if reading.is_inlet:
                inlet.add_metric([reading.sensor], reading.celsius)
        return [inlet, band]
