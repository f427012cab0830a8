"""The simulator fixtures live with the PBS deploy tests; test_simulators.py uses them too."""

from tests.deploys.pbs.conftest import SIMULATORS, pbm, pbm_json, sim_root

__all__ = ["SIMULATORS", "pbm", "pbm_json", "sim_root"]
