"""Processes the exporter tests start: ``pbs-agent serve`` and its helpers."""

from __future__ import annotations

import socket
import subprocess
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def only(*names: str) -> list[str]:
    from pbs_agent.exporter.registry import available_collectors

    return [f"--no-collector.{n}" for n in available_collectors() if n not in names]


class Agent:
    """``pbs-agent serve`` as a subprocess; learns its port from the start-up log line."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True)
        self.log: list[str] = []
        self.port: int | None = None
        self._got_port = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._got_port.wait(60):
            self.stop()
            raise AssertionError("agent did not start:\n" + "".join(self.log))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if " port " in line and "listening on" in line:
                self.port = int(line.split(" port ")[1].split()[0])
                self._got_port.set()
        self._got_port.set()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
