#!/usr/bin/env python3
"""Bring sandbox hosts up and down by hand (root; see README "Sandbox hosts (the lab)").

    scripts/sandbox.py up [-n N] [--inventory FILE] [--group G ...]   # hosts stay up
    scripts/sandbox.py status                                         # hosts and leftovers
    scripts/sandbox.py down [--all]                                   # manual hosts
    scripts/sandbox.py bench [-n N]                                   # time start/stop of N
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.sandbox import Sandbox, SandboxHost
from lab.sandbox.inventory import write_inventory
from lab.sandbox.leftovers import leftovers
from lab.sandbox.session import destroy_manual, host_dirs


def _print_host(host: SandboxHost) -> None:
    print(f"{host.name}  {host.address}  ssh -i {host.ssh_key_path} root@{host.address}")


def cmd_up(args: argparse.Namespace) -> int:
    box = Sandbox(manual=True).open()
    started = time.monotonic()
    hosts = box.start_hosts(args.count)
    print(f"# {len(hosts)} host(s) up in {time.monotonic() - started:.1f} s")
    for host in hosts:
        _print_host(host)
    if args.inventory:
        write_inventory(args.inventory, [h.inventory_entry() for h in hosts], args.group)
        print(f"# inventory: {args.inventory}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    box = Sandbox()
    for host_dir in host_dirs(box.paths):
        owner = (host_dir / "owner").read_text().strip() if (host_dir / "owner").exists() else "?"
        print(f"{host_dir.name}  owner={owner}")
    for item in leftovers(box.paths):
        print(f"  {item}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    box = Sandbox()
    destroy_manual(box.paths, everything=args.all)
    for item in leftovers(box.paths):
        print(f"still present (used by a running test session; --all removes it): {item}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    with Sandbox() as box:
        started = time.monotonic()
        hosts = box.start_hosts(args.count)
        up = time.monotonic() - started
        states = [h.exec("systemctl is-system-running", check=False).stdout.strip()
                  for h in hosts]
        started = time.monotonic()
        box.stop_hosts(hosts)
        down = time.monotonic() - started
    print(f"hosts={args.count} start_s={up:.2f} stop_s={down:.2f} "
          f"states={sorted(set(states))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start hosts that stay up until `down`")
    up.add_argument("-n", "--count", type=int, default=1)
    up.add_argument("--inventory", type=Path, help="write a pyinfra inventory for them")
    up.add_argument("--group", action="append", default=[], help="inventory group (repeat)")
    up.set_defaults(func=cmd_up)
    sub.add_parser("status", help="list hosts and leftovers").set_defaults(func=cmd_status)
    down = sub.add_parser("down", help="remove manual (and stale) hosts, then the shared part")
    down.add_argument("--all", action="store_true", help="also hosts of running test sessions")
    down.set_defaults(func=cmd_down)
    bench = sub.add_parser("bench", help="time starting and stopping N hosts")
    bench.add_argument("-n", "--count", type=int, default=20)
    bench.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
