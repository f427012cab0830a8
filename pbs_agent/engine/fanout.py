"""Run a list of independent parts in this process and in one forked child at once.

Used to list the chunk store on two cores: the Python work per chunk file is serialised by
the GIL, so threads cannot share it, a second process can. The parts are handed out through
a pipe holding their numbers (2-byte tokens; every read takes exactly one token, and pipe
reads are atomic), so whichever process gets more CPU simply takes more parts. The child
sends each result back pickled (numpy arrays travel as raw buffers) and, last, the peak of
its own traced allocations (tracemalloc, only when the caller traces). A part the child
claimed but did not deliver (crash, kill, error) is run again here: a failed child costs
time, never a part of the result. ``os.fork`` is used directly, not ``multiprocessing.Process``:
the scan lists from a worker thread, and a Process forked from one exits with status 1 after
its work (``threading._shutdown`` in the child), which would read as a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe  # imported now, not in a traced scan
from typing import Any

TOKEN = 2  # bytes per part number in the hand-out pipe
MAX_PARTS = min(1 << (8 * TOKEN), 16384)  # 2 bytes each: the pipe holds them all (64 KiB)
STALL_S = 60.0  # a child silent this long (and STALL_FACTOR x our slowest part) is stopped
STALL_FACTOR = 20


@dataclass(slots=True)
class Split:
    """Results in part order, plus how the work went."""

    results: list[Any]
    by_child: int = 0  # parts the child delivered
    rerun: int = 0  # parts the child claimed but never delivered, run again here
    child_peak_traced: int = 0  # bytes, 0 unless tracemalloc traces
    parent_peak_traced: int = 0  # this process's traced peak so far when the child had exited
    child_stopped: bool = False  # killed after staying silent too long (e.g. a hung child)
    _last: float = 0.0  # when the child last delivered (monotonic)
    child_failed: bool = False
    _got: dict[int, Any] = field(default_factory=dict, repr=False)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _claim(fd: int) -> int | None:
    """Take one part number from the hand-out pipe (None: all taken)."""
    raw = os.read(fd, TOKEN)
    return int.from_bytes(raw, "little") if len(raw) == TOKEN else None


def _child(fn: Callable[[Any], Any], parts: Sequence[Any], tokens: int,
           conn: Connection) -> None:
    """Child body: claim, run, send; finally report the traced peak."""
    tracing = tracemalloc.is_tracing()
    base = tracemalloc.get_traced_memory()[0] if tracing else 0
    if tracing:
        tracemalloc.reset_peak()
    while (i := _claim(tokens)) is not None:
        conn.send(("part", i, fn(parts[i])))
    conn.send(("done", tracemalloc.get_traced_memory()[1] - base if tracing else 0))


def _fork_child(fn: Callable[[Any], Any], parts: Sequence[Any], tokens: int, recv: Connection,
                send: Connection) -> int:
    """Fork; the child runs :func:`_child` and leaves with ``os._exit`` (no atexit
    handlers, no inherited cleanup: it may be forked from any thread)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        recv.close()
        _child(fn, parts, tokens, send)
        code = 0
    except BaseException:  # quiet: the parent runs the undelivered parts itself
        pass
    finally:
        os._exit(code)


def _receive(conn: Connection, out: Split, on_result: Callable[[Any], object]) -> None:
    """Parent thread: collect the child's results until it says done or its end closes."""
    try:
        while True:
            kind, *rest = conn.recv()
            if kind == "done":
                out.child_peak_traced = rest[0]
                return
            out._got[rest[0]] = rest[1]
            out._last = time.monotonic()
            on_result(rest[1])
    except (EOFError, OSError):  # died, possibly mid-message
        out.child_failed = True


def run_split(fn: Callable[[Any], Any], parts: Sequence[Any],
              on_result: Callable[[Any], object] = lambda r: None) -> Split:
    """``[fn(p) for p in parts]``, computed by this process and a forked child together.

    *fn* runs in both processes (fork: no pickling of *fn* or *parts*; results must pickle).
    *on_result* is called here for every result, from a helper thread for the child's.
    Raises OSError only when no child can be forked (then nothing has run yet).
    """
    if len(parts) > MAX_PARTS:
        raise ValueError(f"at most {MAX_PARTS} parts, got {len(parts)}")
    tok_r, tok_w = os.pipe()
    try:
        os.write(tok_w, b"".join(i.to_bytes(TOKEN, "little") for i in range(len(parts))))
    finally:
        os.close(tok_w)
    recv, send = Pipe(duplex=False)
    out = Split([])
    try:
        pid = _fork_child(fn, parts, tok_r, recv, send)
        send.close()
        reader = threading.Thread(target=_receive, args=(recv, out, on_result), daemon=True)
        reader.start()
        mine, slowest = _run_mine(fn, parts, tok_r, on_result)
        _await(reader, pid, out, max(STALL_S, STALL_FACTOR * slowest))
        _, status = os.waitpid(pid, 0)
        out.child_failed = out.child_failed or status != 0
        if tracemalloc.is_tracing():
            out.parent_peak_traced = tracemalloc.get_traced_memory()[1]
    finally:
        os.close(tok_r)
        recv.close()
        send.close()  # no-op when already closed
    return _merge(fn, parts, mine, out, on_result)


def _run_mine(fn: Callable[[Any], Any], parts: Sequence[Any], tokens: int,
              on_result: Callable[[Any], object]) -> tuple[dict[int, Any], float]:
    """Our share of the parts, and the longest one took (seconds)."""
    mine: dict[int, Any] = {}
    slowest = 0.0
    while (i := _claim(tokens)) is not None:
        t = time.monotonic()
        mine[i] = fn(parts[i])
        slowest = max(slowest, time.monotonic() - t)
        on_result(mine[i])
    return mine, slowest


def _await(reader: threading.Thread, pid: int, out: Split, stall: float) -> None:
    """Wait for the child's results; a child silent for *stall* seconds is killed (its
    undelivered parts are then run here), so a hung child never hangs the scan."""
    since = time.monotonic()
    while True:
        reader.join(min(1.0, stall))
        if not reader.is_alive():
            return
        if time.monotonic() - max(since, out._last) > stall:
            out.child_stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            reader.join()
            return


def _merge(fn: Callable[[Any], Any], parts: Sequence[Any], mine: dict[int, Any], out: Split,
           on_result: Callable[[Any], object]) -> Split:
    out.by_child = len(out._got)
    for i in range(len(parts)):
        if i not in mine and i not in out._got:  # claimed by a child that failed
            mine[i] = fn(parts[i])
            on_result(mine[i])
            out.rerun += 1
    out.results = [mine[i] if i in mine else out._got[i] for i in range(len(parts))]
    out._got = {}
    return out
