"""The HTTP(S) server: ``/metrics``, a landing page at ``/`` and ``/-/healthy``.

Built on the standard library's asyncio server (no dependency beyond Debian's python3):
one event-loop thread accepts connections (listen backlog :data:`BACKLOG`), runs each TLS
handshake with a deadline (:data:`HANDSHAKE_TIMEOUT`, a client trickling its handshake is
cut there) and reads each request with a deadline of its own (:data:`REQUEST_TIMEOUT`: a
slowloris client is cut too), so a slow client never holds up the others. The responses
that need work (a first bcrypt check of a password, rendering or compressing a new
exposition) run in a bounded pool of :data:`HANDLER_THREADS` threads, excess requests waiting
their turn; a ready-made response is sent from the loop itself; beyond
:data:`MAX_CONNECTIONS` open connections a new one gets a 503 (plain HTTP) or is closed.
A failed connection costs at most one log line, rate-limited, never a traceback. The TLS
context is taken from the web config at each connection, so a renewed certificate applies
without a restart.

Why not a third-party server: cheroot (CherryPy) performs the TLS handshake on its accept
thread, so one slow handshake stalls every client (cherrypy/cheroot#748, open); uvicorn is
packaged by Debian but binds one TLS context at start (no certificate reload) and pulls in
h11 and click; wsgiref/http.server is a thread per connection with per-read timeouts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import html
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..errors import ConfigError
from .runner import Runner
from .webconfig import WebConfig, WebConfigSource

log = logging.getLogger(__name__)
BACKLOG = 512  # pending connections the kernel queues (the stdlib default is 5)
HANDSHAKE_TIMEOUT = 10.0  # seconds for the whole TLS handshake
REQUEST_TIMEOUT = 10.0  # seconds for a request's line and headers, from its first byte
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
WRITE_TIMEOUT = 30.0  # seconds a client may take to take a response
HANDLER_THREADS = 4  # responses prepared at once (auth check, exposition); others wait
MAX_CONNECTIONS = 1024  # open connections; more get a 503 (or are closed, over TLS)
MAX_HEAD = 16384  # bytes of request line and headers
#: The text format generate_latest writes (newer prometheus_client versions call it 1.0.0).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
SERVER = f"pbs-agent/{__version__}"


def parse_listen_address(address: str) -> tuple[str, int]:
    """``:9797`` → ('', 9797); ``127.0.0.1:9797``; ``[::1]:9797`` → ('::1', 9797)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--web.listen-address {address!r}: expected [HOST]:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _listen_socket(address: str) -> socket.socket:
    """The listening socket: all addresses of both families for ``:PORT`` (IPv4 alone where
    there is no IPv6)."""
    host, port = parse_listen_address(address)
    family = socket.AF_INET6 if ":" in host or host == "" else socket.AF_INET
    try:
        try:
            return _bind(family, host or "::", port)
        except OSError as exc:
            if host or exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            return _bind(socket.AF_INET, "0.0.0.0", port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {address}: {exc.strerror or exc}") from None


def _bind(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class FailureLog:
    """At most *burst* lines per *window* seconds about failed connections; the rest are
    counted and the count is said in the next line logged. One line, never a traceback."""

    burst: int = 5
    window: float = 10.0
    _lines: list[float] = field(default_factory=list)
    _skipped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, peer: Any, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._lines = [t for t in self._lines if now - t < self.window]
            if len(self._lines) >= self.burst:
                self._skipped += 1
                return
            self._lines.append(now)
            skipped, self._skipped = self._skipped, 0
        more = f" ({skipped} more failed connections not logged)" if skipped else ""
        log.info("connection from %s failed: %s%s", _host(peer), what, more)


def _host(peer: Any) -> str:
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown peer"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc.__class__.__name__}"
    text = str(exc) or exc.__class__.__name__
    return text.splitlines()[0][:200]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    ctype: str = TEXT
    headers: dict[str, str] = field(default_factory=dict)


class ExporterServer:
    """Serve the runner's exposition over HTTP or HTTPS (see the module docstring)."""

    def __init__(self, address: str, runner: Runner, web: WebConfig | WebConfigSource) -> None:
        self.runner = runner
        self.web_source = web if isinstance(web, WebConfigSource) else WebConfigSource.fixed(web)
        self.socket = _listen_socket(address)
        self.server_address = self.socket.getsockname()
        self.failures = FailureLog()
        self._pool = ThreadPoolExecutor(HANDLER_THREADS, thread_name_prefix="http")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._open = 0

    @property
    def web(self) -> WebConfig:
        """The web config in force now (re-read when its files change)."""
        return self.web_source.current()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    # ----------------------------------------------------------------- lifecycle

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from another thread or a signal handler thread)."""
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(self._loop_error)
        self._loop, self._stop = loop, asyncio.Event()
        self._stopped.clear()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._stopped.set()

    async def _serve(self) -> None:
        assert self._stop is not None
        server = await asyncio.start_server(self._connection, sock=self.socket,
                                            backlog=BACKLOG, limit=MAX_HEAD)
        async with server:
            await self._stop.wait()
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def shutdown(self) -> None:
        """Stop serving and wait until :meth:`serve_forever` returned."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
            self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's own reports (e.g. a transport failing mid-TLS): one line, no trace."""
        exc = context.get("exception")
        transport = context.get("transport")
        peer = transport.get_extra_info("peername") if transport is not None else None
        self.failures.note(peer, _reason(exc) if exc else str(context.get("message")))

    # ----------------------------------------------------------------- connections

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP: without it,
        # a response written after the TLS session tickets waits ~40 ms for a delayed ACK
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                       socket.TCP_NODELAY, 1)
        self._open += 1
        done = False
        try:
            if self._open > MAX_CONNECTIONS:
                self.failures.note(peer, f"refused: more than {MAX_CONNECTIONS} connections")
                await self._refuse(reader, writer)
            else:
                web = self.web
                conn = _Plain(reader, writer) if web.tls is None else \
                    _TLS(reader, writer, web.tls)
                await conn.start(HANDSHAKE_TIMEOUT)
                await self._serve_connection(conn, web)
                await conn.close()
            done = True
        except (OSError, EOFError, ssl.SSLError, TimeoutError, ValueError) as exc:
            self.failures.note(peer, _reason(exc))
        finally:
            self._open -= 1
            if done:
                writer.close()  # after what is still buffered
            else:
                writer.transport.abort()  # the peer failed: nothing more to send

    async def _refuse(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        """A 503 over plain HTTP (after the request, or one second), a close over TLS."""
        if self.web.tls is None:
            with contextlib.suppress(TimeoutError, EOFError, asyncio.LimitOverrunError):
                async with asyncio.timeout(1.0):
                    await reader.readuntil(b"\r\n\r\n")
            writer.write(_encode(Response(503, b"Service Unavailable\n"), False, {}))
            async with asyncio.timeout(1.0):
                await writer.drain()

    async def _serve_connection(self, conn: _Conn, web: WebConfig) -> None:
        wait = REQUEST_TIMEOUT  # the first request comes right after connecting
        buf = b""
        while True:
            got = await _read_head(conn, buf, wait)
            if got is None:
                return  # the client closed (between requests: normal)
            head, buf = got
            req = _parse(head)
            if req is None:
                await conn.send(_encode(Response(400, b"Bad Request\n"), False, web.headers))
                return
            length = req.headers.get("content-length")
            if (length and length.strip() != "0") or "transfer-encoding" in req.headers:
                resp, keep = Response(413, b"Request bodies are not accepted\n"), False
            else:
                resp = self._respond(req) if self._cheap(req) else \
                    await asyncio.get_running_loop().run_in_executor(self._pool, self._respond, req)
                keep = req.keep_alive
            await conn.send(_encode(resp, keep, web.headers, head_only=req.method == "HEAD",
                                    http10=req.version == "HTTP/1.0"))
            if not keep:
                return
            wait = IDLE_TIMEOUT
            web = self.web

    # ----------------------------------------------------------------- responses

    def _cheap(self, req: Request) -> bool:
        """Whether *req*'s response is ready-made (no bcrypt check due, the exposition
        already rendered and compressed): then it is sent from the event loop, saving the
        thread hop (about a tenth of a TLS scrape's CPU, a quarter of a keep-alive one's)."""
        if self.web.authorized_at_once(req.headers.get("authorization")) is None:
            return False
        if req.path.split("?", 1)[0] != "/metrics":
            return True  # /-/healthy, the landing page, 404s: a few hundred bytes
        return self.runner.exposition_ready(gzipped=_wants_gzip(req))

    def _respond(self, req: Request) -> Response:
        """One request's response (runs in the handler pool: a first bcrypt check of a
        password takes a while on purpose)."""
        if req.method not in ("GET", "HEAD"):
            return Response(501, b"Not Implemented\n")
        if not self.web.authorized(req.headers.get("authorization")):
            return Response(401, b"Unauthorized\n",
                            headers={"WWW-Authenticate": 'Basic realm="pbs-agent"'})
        route: dict[str, Callable[[Request], Response]] = {
            "/metrics": self._metrics, "/": self._landing, "/-/healthy": self._healthy}
        handler = route.get(req.path.split("?", 1)[0])
        return handler(req) if handler is not None else Response(404, b"Not Found\n")

    def _metrics(self, req: Request) -> Response:
        if _wants_gzip(req):
            return Response(200, self.runner.exposition(gzipped=True), CONTENT_TYPE,
                            {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
        return Response(200, self.runner.exposition(), CONTENT_TYPE)

    def _healthy(self, req: Request) -> Response:
        return Response(200, b"OK\n")

    def _landing(self, req: Request) -> Response:
        rows = []
        for slot in self.runner.slots:
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
        return Response(200, body.encode(), "text/html; charset=utf-8")


class _Conn:
    """A client connection: bytes in with a deadline, bytes out with a deadline."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def start(self, timeout: float) -> None:
        """The TLS handshake (nothing for plain HTTP)."""

    async def recv(self, timeout: float) -> bytes:
        """Some bytes (b"": the peer closed); TimeoutError after *timeout* seconds."""
        raise NotImplementedError

    async def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """End the session cleanly before the TCP close (nothing for plain HTTP)."""


class _Plain(_Conn):
    async def recv(self, timeout: float) -> bytes:
        async with asyncio.timeout(max(timeout, 0.0)):  # no task per read, unlike wait_for
            return await self.reader.read(65536)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        async with asyncio.timeout(WRITE_TIMEOUT):
            await self.writer.drain()


class _TLS(_Conn):
    """TLS through memory BIOs: the handshake has one deadline for all of it, and a failed
    handshake still sends its alert (asyncio's own TLS drops it: a TLS 1.2 client refused
    by ``min_version: TLS13`` would see a bare EOF instead of "protocol version")."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ctx: ssl.SSLContext) -> None:
        super().__init__(reader, writer)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)

    async def start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill(deadline - time.monotonic()):
                    raise EOFError("closed during the TLS handshake") from None
            except ssl.SSLError:
                with contextlib.suppress(OSError, TimeoutError):
                    await self._flush(1.0)  # the alert telling the client why
                raise
        await self._flush()

    async def _flush(self, timeout: float = WRITE_TIMEOUT) -> None:
        data = self.outgoing.read()
        if data:
            self.writer.write(data)
            async with asyncio.timeout(timeout):
                await self.writer.drain()

    async def _fill(self, timeout: float) -> bool:
        async with asyncio.timeout(max(timeout, 0.0)):
            data = await self.reader.read(65536)
        if not data:
            self.incoming.write_eof()
            return False
        self.incoming.write(data)
        return True

    async def recv(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush()
                if not await self._fill(deadline - time.monotonic()):
                    return b""
            except ssl.SSLZeroReturnError:  # close_notify
                return b""

    async def send(self, data: bytes) -> None:
        self.tls.write(data)
        await self._flush()

    async def close(self) -> None:
        """Send close_notify (without waiting for the client's): a client reading to EOF
        otherwise sees a truncation ("unexpected eof while reading")."""
        with contextlib.suppress(ssl.SSLError):  # SSLWantReadError: the client's is due
            self.tls.unwrap()
        with contextlib.suppress(OSError, TimeoutError):
            await self._flush(1.0)


async def _read_head(conn: _Conn, buf: bytes, wait: float) -> tuple[bytes, bytes] | None:
    """A request's line and headers, and what followed them; None when the client closed
    before sending anything. *wait*: for its first byte; then :data:`REQUEST_TIMEOUT` for
    the whole head (a client trickling its headers is cut there)."""
    started = time.monotonic() if buf else None
    while b"\r\n\r\n" not in buf:
        if len(buf) > MAX_HEAD:
            raise ValueError(f"request head larger than {MAX_HEAD} bytes")
        now = time.monotonic()
        data = await conn.recv(wait if started is None else started + REQUEST_TIMEOUT - now)
        if not data:
            if buf:
                raise EOFError("closed in the middle of a request")
            return None
        started = started or now
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head + b"\r\n", rest


def _wants_gzip(req: Request) -> bool:
    accept = req.headers.get("accept-encoding", "")
    return "gzip" in (part.split(";")[0].strip() for part in accept.split(","))


def _parse(head: bytes) -> Request | None:
    """Request line and headers (``None``: not HTTP/1.x). Header names are lower-cased;
    a repeated header keeps its last value."""
    try:
        text = head.decode("latin-1")
        line, *fields = text.split("\r\n")
        method, path, version = line.split(" ")
        if not version.startswith("HTTP/1.") or not method.isascii():
            return None
        headers = {}
        for f in fields:
            if f:
                name, sep, value = f.partition(":")
                if not sep or not name or name != name.strip():
                    return None
                headers[name.lower()] = value.strip()
    except ValueError:
        return None
    return Request(method, path, version, headers)


def _encode(resp: Response, keep_alive: bool, web_headers: dict[str, str], *,
            head_only: bool = False, http10: bool = False) -> bytes:
    """The response's bytes; *http10*: the request was HTTP/1.0, whose keep-alive holds
    only when the response confirms it."""
    reason = http.client.responses.get(resp.status, "")
    lines = [f"HTTP/1.1 {resp.status} {reason}", f"Server: {SERVER}",
             f"Date: {email.utils.formatdate(usegmt=True)}", f"Content-Type: {resp.ctype}",
             f"Content-Length: {len(resp.body)}"]
    lines += [f"{k}: {v}" for k, v in {**web_headers, **resp.headers}.items()]
    if not keep_alive:
        lines.append("Connection: close")
    elif http10:
        lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only
                                                                  else resp.body)
