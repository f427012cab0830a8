"""The HTTP(S) server: ``/metrics``, a landing page at ``/`` and ``/-/healthy``.

Threaded stdlib ``http.server``; the TLS handshake happens in the connection's own thread, so
a slow client never blocks the others. Basic auth (when configured) guards every path.
"""

from __future__ import annotations

import errno
import html
import logging
import socket
import ssl
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .. import __version__
from ..errors import ConfigError
from .runner import Runner
from .webconfig import WebConfig, WebConfigSource

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT = 10.0
#: The text format generate_latest writes (newer prometheus_client versions call it 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:9797`` → ('', 9797); ``127.0.0.1:9797``; ``[::1]:9797`` → ('::1', 9797)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--web.listen-address {address!r}: expected [HOST]:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class ExporterServer(ThreadingHTTPServer):
    """A threaded HTTP server that wraps each connection in TLS when configured."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: str, runner: Runner, web: WebConfig | WebConfigSource) -> None:
        host, port = parse_listen_address(address)
        self.address_family = socket.AF_INET6 if ":" in host or host == "" else socket.AF_INET
        self.runner = runner
        self.web_source = web if isinstance(web, WebConfigSource) else WebConfigSource.fixed(web)
        try:
            try:
                super().__init__((host or "::", port), Handler)
            except OSError as exc:
                if host or exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                    raise
                self.address_family = socket.AF_INET  # no IPv6 here: all IPv4 addresses
                super().__init__(("0.0.0.0", port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc.strerror or exc}") from None

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
        super().server_bind()

    @property
    def web(self) -> WebConfig:
        """The web config in force now (re-read when its files change)."""
        return self.web_source.current()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Headers and body are separate writes: without this, Nagle's algorithm holds the
        # body back until the client's delayed ACK (~40 ms) arrives.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self.web.tls
        if tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request = tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    server: ExporterServer
    server_version = f"pbs-agent/{__version__}"
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        if not self.server.web.authorized(self.headers.get("Authorization")):
            self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8",
                       {"WWW-Authenticate": 'Basic realm="pbs-agent"'})
            return
        path = self.path.split("?", 1)[0]
        route: dict[str, Callable[[], None]] = {
            "/metrics": self._metrics, "/": self._landing, "/-/healthy": self._healthy}
        handler = route.get(path)
        if handler is None:
            self._send(404, b"Not Found\n", "text/plain; charset=utf-8")
        else:
            handler()

    def _metrics(self) -> None:
        accept = self.headers.get("Accept-Encoding", "")
        if "gzip" in (part.split(";")[0].strip() for part in accept.split(",")):
            self._send(200, self.server.runner.exposition(gzipped=True), CONTENT_TYPE,
                       {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        else:
            self._send(200, self.server.runner.exposition(), CONTENT_TYPE)

    def _healthy(self) -> None:
        self._send(200, b"OK\n", "text/plain; charset=utf-8")

    def _landing(self) -> None:
        rows = []
        for slot in self.server.runner.slots:
            r = slot.result
            state = "running first time" if r is None else ("ok" if r.success else "failed")
            rows.append(f"<tr><td>{html.escape(slot.collector.name)}</td><td>{state}</td>"
                        f"<td>{'' if r is None else f'{r.duration:.3f} s'}</td>"
                        f"<td>{'' if r is None else html.escape(r.detail)}</td></tr>")
        body = (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>pbs-agent</title>"
            "</head><body><h1>pbs-agent exporter</h1>"
            f"<p>Version {html.escape(__version__)}. <a href=\"/metrics\">Metrics</a> · "
            "<a href=\"/-/healthy\">Health</a></p>"
            "<table><tr><th>collector</th><th>last run</th><th>duration</th><th>detail</th></tr>"
            f"{''.join(rows)}</table></body></html>\n"
        )
        self._send(200, body.encode(), "text/html; charset=utf-8")

    def _send(self, code: int, body: bytes, ctype: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**self.server.web.headers, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET
