"""A STAND-IN for prometheus-pve-exporter (not the exporter): serves a fixed exposition of PVE
guests over HTTP, written in the exporter's naming so the coverage rules can be run end to end
without a PVE cluster.

What it copies from prometheus-pve/prometheus-pve-exporter (src/pve_exporter/collector/
cluster.py at 316e9d9, release 3.10.0): ``pve_guest_info`` with labels id (``qemu/<vmid>``,
``lxc/<vmid>``), node, name, type, template ("0"/"1") and tags (";"-separated), and
``pve_not_backed_up_total{id="cluster/<name>"}`` / ``pve_not_backed_up_info{id}``, all gauges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Guest:
    vmid: int
    name: str
    node: str = "pve1"
    kind: str = "qemu"  # or "lxc"
    tags: str = ""
    template: bool = False
    in_backup_job: bool = True

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.vmid}"


def exposition(guests: list[Guest], cluster: str = "pvec") -> str:
    """The text the exporter's cluster collectors print for these guests."""
    lines = ["# HELP pve_guest_info VM/CT info", "# TYPE pve_guest_info gauge"]
    for g in guests:
        lines.append(f'pve_guest_info{{id="{g.id}",node="{g.node}",name="{g.name}",'
                     f'type="{g.kind}",template="{int(g.template)}",tags="{g.tags}"}} 1.0')
    uncovered = [g for g in guests if not g.in_backup_job]
    lines += ["# HELP pve_not_backed_up_total Total number of guests not covered by any backup "
              "job.", "# TYPE pve_not_backed_up_total gauge",
              f'pve_not_backed_up_total{{id="cluster/{cluster}"}} {float(len(uncovered))}',
              "# HELP pve_not_backed_up_info Present if guest is not covered by any backup job.",
              "# TYPE pve_not_backed_up_info gauge"]
    lines += [f'pve_not_backed_up_info{{id="{g.id}"}} 1.0' for g in uncovered]
    return "\n".join(lines) + "\n"


class StandIn:
    """Serves :func:`exposition` on 127.0.0.1 (an ephemeral port) at /pve until stopped."""

    def __init__(self, guests: list[Guest]) -> None:
        body = exposition(guests).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
