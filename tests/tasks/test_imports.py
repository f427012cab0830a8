"""``pbs_agent.tasks`` is plain data: reading task logs and folding them into statistics loads
neither prometheus_client nor the exporter or the collectors; the metric families are built in
``pbs_agent.collectors``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("prometheus_client", "pbs_agent.exporter", "pbs_agent.collectors")
RUN = """
import importlib, json, pkgutil, sys
import pbs_agent.tasks
names = [m.name for m in pkgutil.iter_modules(pbs_agent.tasks.__path__, "pbs_agent.tasks.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_tasks_package_loads_no_prometheus_client() -> None:
    proc = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=True)
    result = json.loads(proc.stdout)
    assert "pbs_agent.tasks.stats" in result["imported"]  # the accumulator itself was loaded
    loaded = [m for m in result["modules"] if m.startswith(FORBIDDEN)]
    assert loaded == [], f"importing pbs_agent.tasks loaded {loaded}"
