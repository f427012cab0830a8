"""The sandbox lab: where pbs-fleet's deploys and agent meet real Debian hosts on this machine.

Development infrastructure, not shipped in the package (``pyproject.toml`` installs only
``pbs_agent`` and ``deploys``); ``make demo``, ``scripts/``, ``benchmarks/`` and ``tests/`` import
it from the repository root.

- :mod:`lab.sandbox` — systemd-nspawn hosts in their own network namespaces, reached over real
  SSH: the debootstrap rootfs cache, the apt cache, client namespaces, cgroups, pyinfra runner.
- :mod:`lab.vm` — the real-kernel tier: a cached QEMU image with ZFS, booted per run.
- ``lab/simulators/`` — SIMULATORS of the PBS / PVE commands (``proxmox-backup-manager``,
  ``proxmox-backup-proxy``, ``pvesm``); stand-ins, not Proxmox software.
- :mod:`lab.pbs_setup` — the simulators' installation onto a sandbox host.
- :mod:`lab.s3_standin` — moto's S3 server on loopback with TLS: a STAND-IN for S3 (not AWS).
- :mod:`lab.removable` — a real ext4 on a loop device for removable-datastore tests.
- :mod:`lab.deploy_data` — inventory data and the TEST-ONLY keyring server for
  ``deploys/pbs_host.py`` on lab hosts.
"""
