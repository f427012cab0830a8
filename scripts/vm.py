#!/usr/bin/env python3
"""Run the real-kernel test VM by hand: build the image, start, ssh, stop.

    .venv/bin/python scripts/vm.py build [--rebuild]   # cached Debian 13 image with ZFS
    .venv/bin/python scripts/vm.py start [--disks N]   # boot in the background, print ports
    .venv/bin/python scripts/vm.py ssh [COMMAND...]    # root shell or one command in the guest
    .venv/bin/python scripts/vm.py stop                # power off, delete overlay and disks

``--suite bookworm`` (or ``$PBS_FLEET_VM_SUITE``) picks the Debian 12 image instead.
State of the manual VM lives in ``$PBS_FLEET_STATE/vm/manual`` (default /var/lib/pbs-fleet).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.sandbox.rootfs import SUITES
from lab.vm import (
    Machine,
    Paths,
    VmError,
    disk_serials,
    ensure_image,
    require_vm_tools,
)
from lab.vm.image import DEFAULT_SUITE, SUITE_ENV


def _manual_dir(paths: Paths) -> Path:
    return paths.state / "manual"


def cmd_build(args: argparse.Namespace, paths: Paths) -> int:
    started = time.monotonic()
    image = ensure_image(paths, suite=args.suite, rebuild=args.rebuild)
    print(f"image {image.directory} ({image.manifest}) in {time.monotonic() - started:.1f} s")
    return 0


def cmd_start(args: argparse.Namespace, paths: Paths) -> int:
    image = ensure_image(paths, suite=args.suite)
    directory = _manual_dir(paths)
    if Machine.attach(image, directory).alive():
        print(f"already running (state in {directory}); stop it first", file=sys.stderr)
        return 1
    machine = Machine(image, directory, disks=disk_serials(args.disks), tie_to_parent=False,
                      accel=args.accel)
    machine.prepare()
    seconds = machine.start()
    print(f"up in {seconds:.1f} s ({machine.used_accel}); ssh: ssh -i {image.ssh_key} "
          f"-p {machine.ssh_port} root@127.0.0.1; guest 8007 on 127.0.0.1:{machine.ports[8007]}")
    print(f"disks: {', '.join('/dev/disk/by-id/virtio-' + s for s in machine.disks)}")
    return 0


def cmd_ssh(args: argparse.Namespace, paths: Paths) -> int:
    image = ensure_image(paths, suite=args.suite)
    machine = Machine.attach(image, _manual_dir(paths))
    if not machine.ports:
        print("no manual VM running (scripts/vm.py start)", file=sys.stderr)
        return 1
    argv = ["ssh", "-i", str(image.ssh_key), "-p", str(machine.ssh_port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "root@127.0.0.1", *args.command]
    os.execvp("ssh", argv)
    return 1


def cmd_stop(args: argparse.Namespace, paths: Paths) -> int:
    image = ensure_image(paths, suite=args.suite)
    Machine.attach(image, _manual_dir(paths)).stop()
    print("stopped; no QEMU process or forwarded port left")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=SUITES, default=None,
                        help=f"Debian release (default: ${SUITE_ENV} or {DEFAULT_SUITE})")
    sub = parser.add_subparsers(dest="command_name", required=True)
    build = sub.add_parser("build", help="build (or reuse) the cached image")
    build.add_argument("--rebuild", action="store_true", help="ignore the cached image")
    start = sub.add_parser("start", help="boot the VM in the background")
    start.add_argument("--disks", type=int, default=8, help="blank data disks (default 8)")
    start.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
    ssh = sub.add_parser("ssh", help="ssh into the VM as root")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("stop", help="power the VM off and remove its disks")
    args = parser.parse_args()
    handlers = {"build": cmd_build, "start": cmd_start, "ssh": cmd_ssh, "stop": cmd_stop}
    try:
        require_vm_tools()
        return handlers[args.command_name](args, Paths.from_env())
    except VmError as exc:
        print(f"vm: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
