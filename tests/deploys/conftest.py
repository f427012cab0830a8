"""Planning tests for deploys/: in-process @fake hosts, no root and no network needed."""

import os

# @fake hosts answer instantly (the connector's default simulated delay is 0.5-0.9 s).
os.environ.setdefault("PYINFRA_FAKE_DELAY", "0")
os.environ.setdefault("PYINFRA_FAKE_DELAY_JITTER", "0")
