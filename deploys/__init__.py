"""pbs-fleet pyinfra deploys, one package per concern.

Entry points (run with pyinfra): ``pbs_host.py``, ``harden.py``, ``pbs_config.py``,
``pve_link.py``; the order of the steps on a node: :mod:`deploys.node`.
Concerns (each holds its facts, operations, planning and ``@deploy`` steps): ``apt``, ``zfs``,
``sysctl``, ``nftables``, ``ssh``, ``agent``, ``config_backup``, ``preflight``, ``pbs``, ``pve``.
Shared: :mod:`.schema` (inventory settings), :mod:`.connection`, :mod:`.secrets`,
:mod:`.templates`, :mod:`.host_facts` (host survey, SSH session), :mod:`.fact_overrides`.
"""
