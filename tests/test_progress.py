"""Progress lines: drawn on a terminal, gone when the work is done, silent elsewhere."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbs_agent.progress import Progress, Steps


def screen(raw: str) -> list[str]:
    """What a terminal shows after *raw*: carriage return, erase-to-end-of-line, newline."""
    lines, cur, col = [], [], 0
    i = 0
    while i < len(raw):
        if raw.startswith("\x1b[K", i):
            del cur[col:]
            i += 3
            continue
        ch = raw[i]
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(cur))
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = ch
            else:
                cur.append(ch)
            col += 1
        i += 1
    if cur:
        lines.append("".join(cur))
    return lines


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_screen_model() -> None:
    assert screen("abc\r\x1b[Kxy\n") == ["xy"]
    assert screen("abc\rx\n") == ["xbc"]


def test_progress_line_is_drawn_then_cleared() -> None:
    out = _Tty()
    bar = Progress("scan", total=4, unit=" dirs", stream=out, interval=0)
    bar.advance(2)
    assert "scan:  50.0% (2/4 dirs)" in out.getvalue()
    bar.close()
    assert screen(out.getvalue()) == []  # nothing left behind for the next output line


def test_no_stream_no_output() -> None:
    bar = Progress("scan", total=1, stream=None)
    bar.advance()
    bar.close()


def test_estimate_with_nothing_readable_on_a_terminal(tmp_path: Path) -> None:
    """Nothing readable: n/a instead of factors of 1.00, and no progress line left on screen."""
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "pbs_agent", "estimate", str(empty),
                           str(tmp_path / "nope")], stdin=subprocess.DEVNULL, stdout=slave,
                          stderr=slave, timeout=120, env=dict(os.environ, COLUMNS="100"))
    os.close(slave)
    raw = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    shown = screen(raw.decode().replace("\r\n", "\n"))
    assert proc.returncode == 1
    assert not [ln for ln in shown if ln.startswith("estimate:")], shown
    assert "Dedup factor:       n/a" in shown and "Compression factor: n/a" in shown
    assert not [ln for ln in shown if "1.00" in ln], shown


def test_estimate_with_only_unreadable_inputs_prints_no_totals(tmp_path: Path, capsys) -> None:
    from pbs_agent.cli import main

    assert main(["estimate", str(tmp_path / "nope")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nope: no such file or directory" in captured.err
    assert "nothing readable, no estimate" in captured.err


def test_steps_tick_on_a_terminal_and_end_with_their_duration() -> None:
    out = _Tty()
    steps = Steps(2, stream=out, interval=0.05)
    with steps.step("build root filesystem"):
        time.sleep(0.2)
    with pytest.raises(RuntimeError), steps.step("deploy run 1"):
        raise RuntimeError("boom")
    raw = out.getvalue()
    assert "[1/2] build root filesystem … 0s" in raw  # the line ticked while it ran
    shown = screen(raw)
    assert len(shown) == 2
    assert shown[0].startswith("[1/2] build root filesystem: done in 0.")
    assert shown[1].startswith("[2/2] deploy run 1: failed after 0.")


def test_steps_are_silent_in_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()  # stderr redirected to a log: not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    with Steps(1, interval=0.01).step("x"):
        time.sleep(0.05)
    assert log.getvalue() == ""
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with Steps(1, interval=0.01).step("x"):
        pass
    assert "[1/1] x: done in" in tty.getvalue()
