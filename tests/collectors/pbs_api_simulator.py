"""A PBS REST API simulator: HTTPS, API-token auth, the JSON shapes of pbs-internals §7.

Serves ``/api2/json/version``, ``/api2/json/status/datastore-usage`` and
``/api2/json/admin/gc`` for the api collector tests. Not PBS: canned answers only.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOKEN_ID = "monitor@pbs!exporter"
SECRET = "0b6c3f5e-1d2a-4c8b-9e7f-a1b2c3d4e5f6"
NOW = 1717560000


def gc_status(index: int, disk: int) -> dict[str, Any]:
    return {"upid": "UPID:pbs1:00001234:0001E240:00000000:665FE2C0:garbage_collection:store1:"
                    "root@pam:",
            "index-file-count": 24, "index-data-bytes": index, "disk-bytes": disk,
            "disk-chunks": 38017, "removed-bytes": 13255342489, "removed-chunks": 3012,
            "pending-bytes": 851443712, "pending-chunks": 201, "removed-bad": 0, "still-bad": 2}


ANSWERS: dict[str, Any] = {
    "/version": {"version": "3.2", "release": "7", "repoid": "e4fe5b1a"},
    "/status/datastore-usage": [
        {"store": "store1", "total": 4000787030016, "used": 105763569664,
         "avail": 3895023460352, "history": [0.02, 0.0225, None, 0.0264],
         "history-start": NOW - 30 * 86400, "history-delta": 86400,
         "estimated-full-date": 4102444800, "gc-status": gc_status(1323814740000, 105763569664)},
        {"store": "store2", "total": 1000, "used": 10, "avail": 990,
         "estimated-full-date": 0, "error": "datastore is in maintenance mode",
         "gc-status": {}},
    ],
    "/admin/gc": [
        {"store": "store1", **gc_status(1323814740000, 105763569664), "schedule": "daily",
         "next-run": NOW + 3600, "last-run-endtime": NOW - 600, "last-run-state": "OK",
         "duration": 93},
        {"store": "store2", "schedule": "daily", "next-run": NOW + 7200,
         "last-run-endtime": NOW - 900, "last-run-state": "TASK ERROR: datastore busy",
         "duration": 1},
    ],
}


class SimulatedPbsApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cert: Path, key: Path, forbidden: frozenset[str] = frozenset()) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.forbidden = forbidden
        self.requests: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> SimulatedPbsApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SimulatedPbsApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.server.requests.append((self.path, auth))
        if auth not in (f"PBSAPIToken={TOKEN_ID}:{SECRET}", f"PBSAPIToken {TOKEN_ID}:{SECRET}"):
            self._send(401, {"data": None, "message": "authentication failed - invalid token"})
            return
        path = self.path.removeprefix("/api2/json").split("?")[0]
        if path in self.server.forbidden:
            self._send(403, {"data": None, "message": "permission check failed"})
        elif path in ANSWERS:
            self._send(200, {"data": ANSWERS[path]})
        else:
            self._send(404, {"data": None, "message": "Path not found."})

    def _send(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
