"""Job states: ``<lib-dir>/jobstates/<jobtype>-<jobid>.json``, parsed.

A job state is ``created`` (never ran), ``started`` (running, with its UPID) or ``finished``
(UPID, task state, update time). Both serde layouts are accepted: externally tagged
``{"finished": {...}}`` and internally tagged ``{"state": "finished", ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError
from .tasklog import parse_upid

#: Job types whose name contains '-' (the file name is split after the longest match).
_DASHED_TYPES = ("tape-backup-job",)
_STATES = ("created", "started", "finished")
_TASK_STATES = {"ok": 1, "warning": 1, "error": 0, "unknown": 0}


@dataclass(frozen=True)
class JobState:
    job_type: str
    job_id: str
    state: str  # created | started | finished
    last_run: float | None  # task end (finished) or start (started)
    success: int | None  # finished only: 1 ok/warning, 0 error/unknown


def split_job_name(stem: str) -> tuple[str, str]:
    """``garbage_collection-store1`` → (``garbage_collection``, ``store1``)."""
    for dashed in _DASHED_TYPES:
        if stem.startswith(dashed + "-"):
            return dashed, stem[len(dashed) + 1:]
    job_type, sep, job_id = stem.partition("-")
    if not sep or not job_id:
        raise FormatError(stem, "job state file name is not '<jobtype>-<jobid>.json'")
    return job_type, job_id


def _variant(obj: Any, names: Iterable[str], what: str) -> tuple[str, dict[str, Any]]:
    """The enum variant of a serde value in either layout, and its fields."""
    if isinstance(obj, dict):
        if isinstance(obj.get("state"), str) and obj["state"].lower() in names:
            return obj["state"].lower(), obj
        for key, val in obj.items():
            if key.lower() in names and isinstance(val, dict):
                return key.lower(), val
    raise FormatError(what, f"expected one of {'/'.join(names)}")


def parse_job_state(text: str, job_type: str, job_id: str, what: str) -> JobState:
    """Parse one job state file's JSON text."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise FormatError(what, f"not JSON: {exc}") from None
    state, fields = _variant(obj, _STATES, what)
    if state == "created":
        return JobState(job_type, job_id, state, None, None)
    upid = parse_upid(str(fields.get("upid", "")))
    if state == "started":
        return JobState(job_type, job_id, state, float(upid.starttime), None)
    task_state, task = _variant(fields.get("state"), _TASK_STATES, f"{what}: task state")
    end = task.get("endtime", fields.get("updated", upid.starttime))
    if not isinstance(end, int | float):
        raise FormatError(what, "endtime is not a number")
    return JobState(job_type, job_id, state, float(end), _TASK_STATES[task_state])
