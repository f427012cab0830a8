"""The generated dashboard against Grafana's published dashboard schema.

Grafana publishes no JSON Schema for the classic dashboard model; its schema of record is the
CUE kind in grafana/grafana, from which the npm package @grafana/schema generates TypeScript
types (``raw/dashboard/x``: ``Dashboard``, ``Panel``, ``RowPanel``, ``GridPos``, thresholds,
value mappings, variables, annotations). TypeScript's compiler (``tsc --strict``) checks the
dashboard, as an object literal of type ``Dashboard``, against them: every known field's type
and every unknown field (excess property checks). Not checked, because the schema leaves them
open: panel ``options``/``fieldConfig.custom`` of each panel plugin and query ``targets``.
Left out on purpose: the import envelope (``__inputs``, ``__requires``) and the legacy
Prometheus annotation fields (``expr``, ``step``, ``titleFormat``, ``textFormat``) that
Grafana's Prometheus data source still reads but the schema does not list.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "monitoring" / "grafana" / "pbs-fleet.json"
PACKAGES = ("@grafana/schema@13.2.3", "typescript@5.9.3")
CACHE = ROOT / ".cache" / "grafana-schema"
ENVELOPE = ("__inputs", "__requires")
LEGACY_ANNOTATION = ("expr", "step", "titleFormat", "textFormat")
#: TypeScript enums (ThresholdsMode, MappingType, …) as their string values, as JSON has them.
PRELUDE = """\
import type { Dashboard } from "@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen";
type Plain<T> = T extends string ? `${T}` : T extends Array<infer U> ? Array<Plain<U>>
  : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;
"""


@pytest.fixture(scope="module")
def tsc() -> Path:
    """@grafana/schema and TypeScript from the npm registry, installed once into .cache/."""
    npm = shutil.which("npm")
    assert npm, "npm is needed: apt-get install npm (scripts/apt-packages-test.txt has nodejs)"
    stamp = CACHE / ("installed-" + "-".join(p.replace("/", "_") for p in PACKAGES))
    if not stamp.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save",
                               "--prefix", str(CACHE), *PACKAGES],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        stamp.touch()
    return CACHE / "node_modules" / "typescript" / "bin" / "tsc"


def _checkable(dash: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in copy.deepcopy(dash).items() if k not in ENVELOPE}
    for ann in out["annotations"]["list"]:
        for key in LEGACY_ANNOTATION:
            ann.pop(key, None)
    return out


def _tsc(tsc: Path, dash: dict[str, Any], name: str) -> subprocess.CompletedProcess[str]:
    src = CACHE / f"{name}.ts"
    src.write_text(PRELUDE + f"export const dashboard: Plain<Dashboard> = "
                   f"{json.dumps(dash, indent=1)};\n")
    return subprocess.run(["node", str(tsc), "--noEmit", "--strict", "--module", "esnext",
                           "--moduleResolution", "bundler", "--target", "es2022", str(src)],
                          capture_output=True, text=True, timeout=300, cwd=CACHE)


def test_dashboard_matches_grafanas_schema(tsc: Path) -> None:
    proc = _tsc(tsc, _checkable(json.loads(DASHBOARD.read_text())), "pbs-fleet")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_check_catches_schema_errors(tsc: Path) -> None:
    """A wrong type, a wrong enum value and an unknown field are each reported."""
    dash = _checkable(json.loads(DASHBOARD.read_text()))
    dash["graphTooltip"] = "shared"
    dash["panels"][1]["gridPos"]["w"] = "six"
    dash["panels"][1]["fieldConfig"]["defaults"]["thresholds"]["mode"] = "relative"
    dash["panels"][2]["titel"] = "typo"
    out = _tsc(tsc, dash, "mutated").stdout
    assert "graphTooltip" in out or "DashboardCursorSync" in out
    assert "'\"titel\"' does not exist" in out
    assert '"six"' in out or "'string' is not assignable to type 'number'" in out
    assert '"relative"' in out
