"""Harden fleet hosts (sysctl, nftables): ``pyinfra inventories/<site>.py deploys/harden.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

from deploys.node import harden

harden()
