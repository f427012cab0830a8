"""A golden report on a small deterministic demo datastore.

Regenerate (after a deliberate change) with ``PBS_AGENT_UPDATE_GOLDEN=1 pytest tests/engine``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pbs_agent.demo import build_demo
from pbs_agent.engine import scan_datastore

from .conftest import assert_matches_reference, normalized

GOLDEN = Path(__file__).parent / "golden" / "small_demo_report.json"
PARAMS = {"vms": 2, "cts": 1, "days": 3, "change_rate": 0.25, "seed": 42,
          "garbage": 1, "missing": 1, "bad": 1, "disk_chunks": 4, "pxar_chunks": 3}


def test_golden_report(tmp_path: Path) -> None:
    root = str(tmp_path / "ds")
    build_demo(root, **PARAMS)
    with open(os.path.join(root, ".chunks", "zzzz"), "w"):  # not a chunk dir: ignored
        pass
    bogus = os.path.join(root, "vm", "100", "not-a-snapshot")
    os.makedirs(bogus)
    rep = scan_datastore(root).as_dict()
    assert_matches_reference(rep, root)
    got = normalized(rep)
    if os.environ.get("PBS_AGENT_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())
