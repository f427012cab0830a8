"""Suite-wide fixtures: the lab's (sandbox hosts, the PBS simulators), see lab/pytest_plugin.py."""

pytest_plugins = ["lab.pytest_plugin"]
