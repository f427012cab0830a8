"""Job states (jobstates/*.json) and datastore.cfg parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.pbs_tasks import make_upid
from lab.pbs_tree import DATASTORE_CFG, DAY, T0
from pbs_agent.collectors.jobs import JobsCollector
from pbs_agent.errors import ConfigError, FormatError, SourceError
from pbs_agent.host import DatastoreConfigError, Settings, datastores_from_text, resolve_datastores
from pbs_agent.pbsconfig import parse_section_config
from pbs_agent.tasks.jobstate import parse_job_state, split_job_name

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


def test_job_state_layouts() -> None:
    up = make_upid(T0, "garbage_collection", "s")
    ext = parse_job_state(f'{{"finished":{{"upid":"{up}","state":{{"error":{{"message":"x",'
                          f'"endtime":{T0 + 5}}}}}}}}}', "garbage_collection", "s", "f")
    assert (ext.state, ext.last_run, ext.success) == ("finished", T0 + 5, 0)
    internal = parse_job_state(f'{{"finished":{{"upid":"{up}","state":{{"state":"unknown",'
                               f'"endtime":{T0 + 9}}}}}}}', "x", "y", "f")
    assert (internal.last_run, internal.success) == (T0 + 9, 0)
    created = parse_job_state('{"created":{"time":5}}', "prunejob", "p", "f")
    assert (created.state, created.last_run, created.success) == ("created", None, None)


_BOGUS = '{"finished":{"upid":"UPID","state":{"state":"bogus"}}}'.replace(
    "UPID", make_upid(1, "a", "b"))


@pytest.mark.parametrize("text", ['[]', '{"finished":{"upid":"UPID:x"}}', '{"weird":{}}',
                                  _BOGUS, "null"])
def test_bad_job_states_raise_format_error(text: str) -> None:
    with pytest.raises(FormatError):
        parse_job_state(text, "t", "i", "file.json")


def test_job_file_names() -> None:
    assert split_job_name("garbage_collection-store1") == ("garbage_collection", "store1")
    assert split_job_name("syncjob-s-3f2a-1b") == ("syncjob", "s-3f2a-1b")
    assert split_job_name("tape-backup-job-weekly") == ("tape-backup-job", "weekly")
    with pytest.raises(FormatError):
        split_job_name("nodash")


def test_no_jobstates_dir_is_fine_unreadable_is_not(tmp_path: Path) -> None:
    smp, _ = collect(JobsCollector(), Settings(lib_dir=tmp_path))
    assert smp == {}
    (tmp_path / "jobstates").write_text("a file, not a directory")
    with pytest.raises(SourceError):
        collect(JobsCollector(), Settings(lib_dir=tmp_path))


def test_datastore_cfg() -> None:
    stores = {d.name: d for d in datastores_from_text(DATASTORE_CFG)}
    assert stores["store1"].path == Path("/mnt/datastore/store1")
    assert stores["store2"].maintenance == "read-only"
    assert stores["s3cache"].backend == "s3"
    assert stores["usb1"].path == Path("/mnt/datastore/usb1/usb1-data")


@pytest.mark.parametrize(("text", "match"), [
    ("\tpath /x\n", "outside of a section"),
    ("datastore store1\n", "expected '<type>: <id>'"),
    ("datastore: s\n\tcomment no path\n", "has no path"),
])
def test_bad_section_config(text: str, match: str) -> None:
    errors = datastores_from_text(text).errors
    assert len(errors) == 1 and isinstance(errors[0], DatastoreConfigError)
    assert isinstance(errors[0], ConfigError) and match in str(errors[0])


def test_section_config_other_types_and_comments() -> None:
    secs = parse_section_config("# c\nsync: s1\n    store a\n    remote r\n\nprune: p\n")
    assert [(s.type, s.id, s.props) for s in secs] == [
        ("sync", "s1", {"store": "a", "remote": "r"}), ("prune", "p", {})]


def test_read_datastores_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"datastore\.cfg"):
        resolve_datastores(Settings(config_dir=tmp_path))
