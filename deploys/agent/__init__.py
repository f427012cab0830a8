"""Agent: pbs_agent shipped from the controller, its config, user and unit; node_exporter.

Modules: :mod:`.package` (the tarball), :mod:`.operations`, :mod:`.steps` (the ``@deploy``).
"""
