"""Notifications as code on a PBS 4 sandbox host, delivered for real.

``deploys/pbs_config.py`` writes an SMTP and a webhook target and a matcher through the
proxmox-backup-manager SIMULATOR (PBS 4.2.3 behaviour: ``notifications.cfg``,
``notifications-priv.cfg`` 0600); the secrets come from the controller store and never appear
in pyinfra's output; a second run changes nothing. Then the simulator's delivery (``notification
target test``) reads the files the deploy wrote and sends a real message from the host to
aiosmtpd and to an HTTP receiver listening on the sandbox bridge of this machine.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from deploys.secrets import SecretStore
from lab.pbs_setup import prepare_pbs, write_fleet_inventory
from lab.sandbox import run_pyinfra
from lab.sandbox.config import BRIDGE_ADDRESS

pytestmark = pytest.mark.sandbox

DEPLOY = "deploys/pbs_config.py"
SMTP_PASSWORD = "sandbox-smtp-password-not-printed"
HOOK_TOKEN = "sandbox-hook-token-not-printed"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind((str(BRIDGE_ADDRESS), 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def receivers() -> Iterator[dict[str, Any]]:
    inbox, got = Inbox(), []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: Any,
                      data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == SMTP_PASSWORD.encode()
        if ok:
            inbox.logins.append(data.login.decode())
        return AuthResult(success=ok)

    smtp_port = _port()
    ctl = Controller(inbox, hostname=str(BRIDGE_ADDRESS), port=smtp_port,
                     authenticator=authenticator, auth_require_tls=False)
    ctl.start()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            got.append((self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer((str(BRIDGE_ADDRESS), 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield {"smtp_port": smtp_port, "inbox": inbox, "http_port": http.server_address[1],
               "got": got}
    finally:
        http.shutdown()
        http.server_close()
        ctl.stop()


@pytest.fixture(scope="module")
def deployed(sandbox_hosts: Any, tmp_path_factory: pytest.TempPathFactory,
             receivers: dict[str, Any]) -> dict[str, Any]:
    [pbs] = sandbox_hosts(1)
    prepare_pbs(pbs)
    pbs.exec("mkdir -p /etc/pbs-simulator && echo 4.2.3 > /etc/pbs-simulator/version")
    tmp = tmp_path_factory.mktemp("pbs4notify")
    store_path = tmp / "secrets" / "secrets.json"
    name, _ = pbs.inventory_entry({})
    store = SecretStore(store_path)
    store.put(f"notify:{name}:relay", SMTP_PASSWORD)
    store.put(f"notify:{name}:hook", json.dumps({"token": HOOK_TOKEN}))
    bridge = str(BRIDGE_ADDRESS)
    data = {
        "pbs_version": 4, "pbs_secrets_file": str(store_path),
        "pbs_report_dir": str(tmp / "reports"),
        "pbs_datastores": {"store1": {"tuning": {"gc_atime_cutoff": 1445}}},
        "pbs_notification_targets": {
            "relay": {"type": "smtp", "server": bridge, "port": receivers["smtp_port"],
                      "mode": "insecure", "username": "pbs-notify",
                      "from_address": "pbs@example.org", "mailto": ["ops@example.org"]},
            "hook": {"type": "webhook", "url": f"http://{bridge}:{receivers['http_port']}/pbs",
                     "header": {"Authorization": "Bearer {{ secrets.token }}",
                                "Content-Type": "application/json"},
                     "body": '{"title": "{{ escape title }}", "severity": "{{ severity }}"}'},
        },
        "pbs_notification_matchers": {"failures": {"match_severity": ["warning,error"],
                                                   "target": ["relay", "hook"]}},
    }
    inventory = write_fleet_inventory(tmp / "fleet.py",
                                      {"pbs": (pbs.inventory_entry(data), ["pbs"])})
    first = run_pyinfra(inventory, DEPLOY, "-v")
    second = run_pyinfra(inventory, DEPLOY, "-v")
    return {"pbs": pbs, "first": first, "second": second}


def test_converges_and_secrets_never_printed(deployed: dict[str, Any]) -> None:
    first = deployed["first"].check()
    assert first.changed_ops and first.changed_ops >= 4, first.changed
    second = deployed["second"].check()
    assert second.changed_ops == 0, second.changed
    for run in (deployed["first"], deployed["second"]):
        for secret in (SMTP_PASSWORD, HOOK_TOKEN):
            assert secret not in run.stdout and secret not in run.stderr


def test_real_files_in_pbs_format(deployed: dict[str, Any]) -> None:
    pbs = deployed["pbs"]
    cfg = pbs.exec("cat /etc/proxmox-backup/notifications.cfg").stdout
    assert "smtp: relay\n" in cfg and "\tmode insecure\n" in cfg and "password" not in cfg
    assert "webhook: hook\n" in cfg and "matcher: failures\n" in cfg
    assert SMTP_PASSWORD not in cfg and HOOK_TOKEN not in cfg
    mode = pbs.exec("stat -c %a:%U:%G /etc/proxmox-backup/notifications-priv.cfg").stdout
    assert mode.strip() == "600:root:root"
    ds = pbs.exec("cat /etc/proxmox-backup/datastore.cfg").stdout
    assert "\tnotification-mode notification-system\n" in ds
    assert "\ttuning gc-atime-cutoff=1445\n" in ds


def test_smtp_target_delivers_from_the_files_the_deploy_wrote(
        deployed: dict[str, Any], receivers: dict[str, Any]) -> None:
    pbs = deployed["pbs"]
    proc = pbs.exec("proxmox-backup-manager notification target test relay", check=False)
    assert proc.returncode == 0, proc.stderr
    inbox: Inbox = receivers["inbox"]
    assert inbox.logins == ["pbs-notify"]
    [(mail_from, rcpts, raw)] = inbox.messages
    assert (mail_from, rcpts) == ("pbs@example.org", ["ops@example.org"])
    msg = message_from_bytes(raw)
    assert msg["Subject"] == "Test notification"
    assert msg["Auto-Submitted"] == "auto-generated;"


def test_webhook_target_delivers_from_the_files_the_deploy_wrote(
        deployed: dict[str, Any], receivers: dict[str, Any]) -> None:
    pbs = deployed["pbs"]
    proc = pbs.exec("proxmox-backup-manager notification target test hook", check=False)
    assert proc.returncode == 0, proc.stderr
    [(path, headers, body)] = receivers["got"]
    assert path == "/pbs" and headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert json.loads(body) == {"title": "Test notification", "severity": "info"}
