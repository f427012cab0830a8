"""The TEST-ONLY fact override file, shared by every custom fact that reads hardware.

``/etc/pbs-fleet/fact-overrides.json`` on the TARGET replaces what a sandbox host cannot show
truthfully (CPU flags, RAM, controllers, NICs, disks, the ZFS module). Real hosts never have
it; when it is present, preflight prints a warning naming every overridden fact. The sandbox
harness writes it with ``host.install_fact_overrides({...})``. Keys: see docs/deploy.md.
"""

from __future__ import annotations

import json
from typing import Any

from pyinfra.api.exceptions import FactProcessError

OVERRIDE_FILE = "/etc/pbs-fleet/fact-overrides.json"
MARKER = "fact-overrides="


def shell_snippet() -> str:
    """Shell that prints the override file on one line after :data:`MARKER` (if present)."""
    return (f"if [ -r {OVERRIDE_FILE} ]; then printf '%s' '{MARKER}'; "
            f"tr -d '\\n' < {OVERRIDE_FILE}; echo; fi")


def split(output: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Separate the fact's own lines from the parsed overrides (empty dict without a file)."""
    lines, overrides = [], {}
    for line in output:
        if line.startswith(MARKER):
            try:
                overrides = json.loads(line[len(MARKER):] or "{}")
            except ValueError as exc:
                raise FactProcessError(f"{OVERRIDE_FILE}: not valid JSON: {exc}") from exc
            if not isinstance(overrides, dict):
                raise FactProcessError(f"{OVERRIDE_FILE}: must hold a JSON object")
        else:
            lines.append(line)
    return lines, overrides
