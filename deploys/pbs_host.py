"""Provision a PBS node: ``pyinfra inventories/<site>.py deploys/pbs_host.py``.

Steps and their order live in deploys/node.py; settings are documented in docs/deploy.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

from deploys.node import pbs_node

pbs_node()
