"""The PBS → PVE hand-off: ``pyinfra inventories/<site>.py deploys/pve_link.py``.

On PBS hosts: namespaces, users, tokens (secrets kept on the controller) and least-privilege
ACLs for every PVE storage that points at them. On PVE nodes (group ``pve``): ``pvesm add pbs``
with the PBS certificate fingerprint pinned, idempotently. See docs/pbs-config.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

from deploys.pve.link import pve_link

if __name__ != "deploys.pve_link":  # run by pyinfra as a deploy file (not imported)
    pve_link()
