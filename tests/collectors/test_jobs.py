"""The jobs collector: job health from jobstates/*.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.pbs_tree import DAY, T0
from pbs_agent.collectors.jobs import JobsCollector
from pbs_agent.errors import SourceError
from pbs_agent.host import Settings

from .conftest import collect, value


def test_jobs_from_scenario(settings: Settings) -> None:
    smp, ctx = collect(JobsCollector(), settings)
    gc = {"job_type": "garbage_collection", "job_id": "store1"}
    assert value(smp, "pbs_job_last_run_timestamp_seconds", **gc) == T0 + 2 * DAY + 3700
    assert value(smp, "pbs_job_last_success", **gc) == 1
    assert value(smp, "pbs_job_never_run", **gc) == 0
    sync = {"job_type": "syncjob", "job_id": "s-remote1"}
    assert value(smp, "pbs_job_last_success", **sync) == 0
    verify = {"job_type": "verificationjob", "job_id": "v-daily"}
    assert value(smp, "pbs_job_last_success", **verify) == 1  # warnings count as success
    prune = {"job_type": "prunejob", "job_id": "p-weekly"}
    assert value(smp, "pbs_job_never_run", **prune) == 1
    assert ("pbs_job_last_success", tuple(sorted(prune.items()))) not in smp
    tape = {"job_type": "tape-backup-job", "job_id": "t1"}
    assert value(smp, "pbs_job_running", **tape) == 1
    assert value(smp, "pbs_job_last_run_timestamp_seconds", **tape) == T0 + 3 * DAY
    assert ctx.parse_errors == 2  # broken JSON, UPID that is not one


def test_no_jobstates_dir_is_fine_unreadable_is_not(tmp_path: Path) -> None:
    smp, _ = collect(JobsCollector(), Settings(lib_dir=tmp_path))
    assert smp == {}
    (tmp_path / "jobstates").write_text("a file, not a directory")
    with pytest.raises(SourceError):
        collect(JobsCollector(), Settings(lib_dir=tmp_path))
