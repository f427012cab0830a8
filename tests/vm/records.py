"""Numbers the tier measures (wall times, the agent's exposure score), saved after the run."""

from __future__ import annotations

#: name -> seconds (wall time of a step or a test)
TIMINGS: dict[str, float] = {}
#: name -> value (other measurements, e.g. ``systemd-analyze security`` score)
RECORDS: dict[str, float] = {}
