"""Upgrade ONE PBS host from PBS 3 / Debian 12 to PBS 4 / Debian 13 (opt-in):
``pyinfra inventories/<site>.py deploys/upgrade.py --limit HOST`` with ``upgrade_pbs_to = 4``.

Steps: deploys/major_upgrade/steps.py; afterwards run deploys/pbs_host.py again (it converges
the node on Debian 13). Documented in docs/deploy.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

from deploys.major_upgrade.steps import upgrade

upgrade()
