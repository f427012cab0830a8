"""The deploy's own nftables ruleset as ``nft -j list ruleset`` prints it.

Rendered from ``templates/nftables/pbs-fleet.nft.j2`` by the deploy's own code
(:func:`deploys.nftables.steps.render`) and loaded by the real ``nft`` in an empty network
namespace, so the doctor is tested on what the deploy writes, not on a hand copy of its shape.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

from deploys.nftables.steps import Rule, render

from .hosts import FIXTURES

#: The name tests use for the rendered ruleset (the other rulesets are files in FIXTURES).
PBS_FLEET = "pbs-fleet.nft.j2"
#: A PVE network and host allowed to 8007 and SSH, an IPv6 PVE network allowed to 8007.
PVE_RULES = [Rule("pve", (8007, 22), ("10.0.0.0/24", "192.168.5.7")),
             Rule("pve", (8007,), ("fd00::/64",))]


@functools.cache
def _pbs_fleet_json() -> str:
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"):
        pytest.skip("loading the deploy's ruleset into nft needs root, nft and unshare")
    body, _ = render(PVE_RULES)
    proc = subprocess.run(["unshare", "--net", "sh", "-c", "nft -f - && nft -j list ruleset"],
                          input=body, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"nft refused the rendered template: {proc.stderr.strip()}"
    return proc.stdout


def nft_json(name: str) -> str:
    """``nft -j list ruleset`` output: the rendered deploy ruleset, or a recorded fixture."""
    return _pbs_fleet_json() if name == PBS_FLEET else (FIXTURES / name).read_text()
