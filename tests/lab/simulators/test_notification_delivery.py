"""The SIMULATOR's delivery (``notification target test``) sends a real message through the
targets in ``notifications.cfg`` / ``notifications-priv.cfg``: SMTP to aiosmtpd on loopback,
a webhook and a Gotify target to a local HTTP receiver. What it sends follows proxmox-notify's
endpoints (4.2-era): the SMTP From/To/Subject/Auto-Submitted headers and login, the webhook's
templated URL, headers and body with base64-stored values and secrets."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

V4 = "4.2.3"


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cr3t-smtp"
        if ok:
            inbox.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    with socket.socket() as probe:  # the controller's readiness check needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                     auth_require_tls=False)
    ctl.start()
    try:
        yield port, inbox
    finally:
        ctl.stop()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def http_receiver() -> Iterator[tuple[int, list[Received]]]:
    got: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def _take(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got.append(Received(self.command, self.path, dict(self.headers.items()),
                                self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        do_POST = do_PUT = do_GET = _take

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()
        server.server_close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_smtp_target_delivers_to_loopback_server(pbm, sim_root: Path, smtp_server) -> None:
    port, inbox = smtp_server
    assert pbm("user", "create", "ops@pbs", "--email", "ops-user@example.org",
               version=V4).returncode == 0
    proc = pbm("notification", "endpoint", "smtp", "create", "relay", "--server", "127.0.0.1",
               "--port", str(port), "--mode", "insecure", "--username", "pbs-notify",
               "--password", "s3cr3t-smtp", "--from-address", "pbs@example.org",
               "--mailto", "ops@example.org", "--mailto-user", "ops@pbs",
               "--author", "PBS lab", version=V4)
    assert proc.returncode == 0, proc.stderr
    sent = pbm("notification", "target", "test", "relay", version=V4)
    assert sent.returncode == 0, sent.stderr
    assert inbox.logins == ["pbs-notify"]
    [(mail_from, rcpts, raw)] = inbox.messages
    assert mail_from == "pbs@example.org"
    assert rcpts == ["ops@example.org", "ops-user@example.org"]
    msg = message_from_bytes(raw)
    assert msg["From"] == "PBS lab <pbs@example.org>"
    assert msg["Subject"] == "Test notification"
    assert msg["Auto-Submitted"] == "auto-generated;"
    assert msg.get_content_type() == "multipart/alternative"
    plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert "This is a test of the notification target 'relay'." in plain.get_payload(decode=True
                                                                                      ).decode()


def test_smtp_wrong_password_fails_with_one_line(pbm, smtp_server) -> None:
    port, inbox = smtp_server
    pbm("notification", "endpoint", "smtp", "create", "relay", "--server", "127.0.0.1",
        "--port", str(port), "--mode", "insecure", "--username", "pbs-notify", "--password",
        "wrong", "--from-address", "pbs@example.org", "--mailto", "ops@example.org", version=V4)
    proc = pbm("notification", "target", "test", "relay", version=V4)
    assert proc.returncode == 255 and proc.stderr.startswith(
        "Error: could not notify via target 'relay': ")
    assert proc.stderr.count("\n") == 1 and "wrong" not in proc.stderr
    assert inbox.messages == []


def test_webhook_target_delivers_templated_request(pbm, http_receiver) -> None:
    port, got = http_receiver
    body = '{"text": "{{ escape title }}: {{ escape message }}", "sev": "{{ severity }}", ' \
           '"host": "{{ fields.hostname }}"}'
    proc = pbm("notification", "endpoint", "webhook", "create", "hook", "--method", "post",
               "--url", f"http://127.0.0.1:{port}/hook/{{{{ url-encode fields.type }}}}",
               "--header", f"name=Content-Type,value={b64('application/json')}",
               "--header", f"name=Authorization,value={b64('Bearer {{ secrets.token }}')}",
               "--body", b64(body), "--secret", f"name=token,value={b64('tok-123')}",
               version=V4)
    assert proc.returncode == 0, proc.stderr
    sent = pbm("notification", "target", "test", "hook", version=V4)
    assert sent.returncode == 0, sent.stderr
    [req] = got
    assert (req.method, req.path) == ("POST", "/hook/test")
    assert req.headers["Authorization"] == "Bearer tok-123"
    assert req.headers["Content-Type"] == "application/json"
    data = json.loads(req.body)
    assert data["text"] == ("Test notification: This is a test of the notification target "
                            "'hook'.")
    assert data["sev"] == "info" and data["host"]


def test_gotify_target_posts_message(pbm, http_receiver) -> None:
    port, got = http_receiver
    assert pbm("notification", "endpoint", "gotify", "create", "phone", "--server",
               f"http://127.0.0.1:{port}", "--token", "gotify-tok", version=V4).returncode == 0
    assert pbm("notification", "target", "test", "phone", version=V4).returncode == 0
    [req] = got
    assert (req.method, req.path) == ("POST", "/message")
    assert req.headers["X-Gotify-Key"] == "gotify-tok"
    data = json.loads(req.body)
    assert data["priority"] == 1 and data["title"] == "Test notification"
    assert data["message"].startswith("```\n")
