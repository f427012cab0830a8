"""Run dedup scans in a child process, so the exporter's HTTP thread never waits for them.

A scan is CPU-bound Python and numpy; in the exporter's own process it would hold the GIL and
delay every scrape by milliseconds per socket operation. The child prints one JSON object:
``{"reports": {name: report}, "failures": {name: {"path", "reason"}}}``.

    python3 -m pbs_agent.engine.child STATE_DIR NAME=PATH [NAME=PATH ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import PbsAgentError, SourceError
from .scan import scan_datastore


def scan_all(stores: dict[str, Path], state_dir: Path) -> dict[str, Any]:
    """Scan every datastore; a failing one is recorded, the others still scanned."""
    reports, failures = {}, {}
    for name, path in stores.items():
        try:
            reports[name] = scan_datastore(str(path), state_dir=str(state_dir)).as_dict()
        except PbsAgentError as exc:
            failures[name] = {"path": getattr(exc, "path", str(path)),
                              "reason": getattr(exc, "reason", str(exc))}
    return {"reports": reports, "failures": failures}


def scan_in_child(stores: dict[str, Path], state_dir: Path) -> dict[str, Any]:
    """:func:`scan_all` in a fresh interpreter; SourceError if the child itself fails."""
    argv = [sys.executable, "-m", __name__, str(state_dir),
            *(f"{name}={path}" for name, path in stores.items())]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise SourceError("dedup scan", tail[0][:300])
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise SourceError("dedup scan", "child printed no JSON report") from None


def main(argv: list[str]) -> int:
    state_dir, *pairs = argv
    stores = {name: Path(path) for name, _, path in (p.partition("=") for p in pairs)}
    json.dump(scan_all(stores, Path(state_dir)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
