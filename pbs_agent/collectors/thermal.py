"""Inlet (ambient) air temperature from the BMC, beside the configured comfort band.

Disk heat means little without the air that cools the disks: a hot inlet points at the room,
a cool inlet with hot disks at the chassis. ``ipmitool sdr type Temperature`` is asked only
when the kernel IPMI device exists; without a BMC only the band is exported. The inlet sensor
is the one the BMC marks as air inlet (entity 55/64), else the one named so
(:func:`~pbs_agent.hw.ipmi.inlet_sensors`); ``pbs_thermal_inlet_sensor_info`` says which.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..hw.ipmi import has_bmc, inlet_sensors, parse_sdr_temperatures
from .base import CollectContext, Collector


class ThermalCollector(Collector):
    """``pbs_thermal_inlet_celsius{sensor}``, ``pbs_thermal_inlet_sensor_info{sensor,entity}``
    and ``pbs_thermal_inlet_band_celsius{bound}``."""

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
        info = GaugeMetricFamily(
            "pbs_thermal_inlet_sensor_info", "The BMC sensor taken as air inlet and its IPMI "
            "entity (55 or 64: marked as air inlet by the BMC; else chosen by name).",
            labels=["sensor", "entity"])
        seen: set[str] = set()
        for reading in inlet_sensors(readings):
            if reading.sensor in seen:  # one series per sensor name: the first reading wins
                continue
            seen.add(reading.sensor)
            inlet.add_metric([reading.sensor], reading.celsius)
            info.add_metric([reading.sensor, reading.entity], 1.0)
        return [inlet, info, band]
