"""Planning tests for deploys/: in-process @fake hosts, no root and no network needed."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# @fake hosts answer instantly (the connector's default simulated delay is 0.5-0.9 s).
os.environ.setdefault("PYINFRA_FAKE_DELAY", "0")
os.environ.setdefault("PYINFRA_FAKE_DELAY_JITTER", "0")
