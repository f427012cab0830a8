#!/usr/bin/env python3
"""Provision one sandbox host end to end with deploys/pbs_host.py and print what changed.

    .venv/bin/python scripts/demo_sandbox.py [--runs 2] [--keep]

Boots a Debian 12 sandbox host (systemd-nspawn in its own network namespace, reached over
real SSH; see tests/harness), runs the deploy (twice by default: the second run must change
nothing), prints the operations that changed per run, and removes the host unless --keep.
Needs root (the sandbox harness does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.deploy.sandbox_data import (  # noqa: E402
    HEALTHY_OVERRIDES,
    keyring_server,
    pbs_host_data,
)
from tests.harness import HarnessError, Sandbox, run_pyinfra  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="deploy runs (default 2)")
    parser.add_argument("--keep", action="store_true", help="leave the host running")
    args = parser.parse_args()
    try:
        box = Sandbox(manual=args.keep).open()
    except HarnessError as exc:
        print(f"demo_sandbox: {exc}", file=sys.stderr)
        return 2
    rc = 0
    try:
        host = box.start_host()
        print(f"sandbox host {host.name} at {host.address} is up")
        host.install_fact_overrides(HEALTHY_OVERRIDES)
        with keyring_server() as url, tempfile.TemporaryDirectory() as tmp:
            inventory = host.write_inventory(Path(tmp) / "sandbox.py", pbs_host_data(url),
                                             groups=["pbs"])
            for run in range(1, args.runs + 1):
                start = time.monotonic()
                result = run_pyinfra(inventory, "deploys/pbs_host.py")
                took = time.monotonic() - start
                if result.returncode != 0 or result.changed_ops is None:
                    print(result.stderr[-3000:], file=sys.stderr)
                    print(f"run {run}: FAILED (rc={result.returncode})")
                    rc = 1
                    break
                print(f"run {run}: {result.changed_ops} operations changed ({took:.1f} s)")
                for name, _host in result.changed:
                    print(f"  changed: {name}")
        if args.keep:
            print(f"kept: ssh -i {host.ssh_key_path} root@{host.address}")
    finally:
        if not args.keep:
            box.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
