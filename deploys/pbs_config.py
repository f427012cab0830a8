"""PBS configuration and the PVE hand-off only, on hosts ``deploys/pbs_host.py`` provisioned:
``pyinfra inventories/<site>.py deploys/pbs_config.py``. See docs/pbs-config.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any directory

from deploys.pve.link import pbs_config_and_link

if __name__ != "deploys.pbs_config":  # run by pyinfra as a deploy file (not imported)
    pbs_config_and_link()
