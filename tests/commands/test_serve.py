"""``pbs-agent serve`` as a process: start-up, SIGTERM, configuration errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from .procs import Agent, only


def test_serve_answers_and_stops_cleanly_on_sigterm(pbs_tree: dict[str, Path],
                                                    tmp_path: Path) -> None:
    agent = Agent([sys.executable, "-m", "pbs_agent", "serve", "--web.listen-address",
                   "127.0.0.1:0", "--pbs.log-dir", str(pbs_tree["log"]), "--pbs.lib-dir",
                   str(pbs_tree["lib"]), "--state-dir", str(tmp_path / "state"),
                   *only("tasks", "jobs")])
    try:
        url = f"http://127.0.0.1:{agent.port}"
        with urllib.request.urlopen(f"{url}/-/healthy", timeout=10) as resp:
            assert resp.read() == b"OK\n"
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(15) == 0
    finally:
        if agent.proc.poll() is None:
            agent.stop()


def test_bad_web_config_is_a_clean_error(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /x.key\n")
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "serve", "--web.config.file",
                           str(web), "--web.listen-address", "127.0.0.1:0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "cannot load /nonexistent.crt" in proc.stderr and "Traceback" not in proc.stderr


def test_port_in_use_is_a_clean_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "pbs_agent", "serve", "--web.listen-address",
                               f"127.0.0.1:{port}", "--state-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
