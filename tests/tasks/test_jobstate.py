"""Job state files (jobstates/*.json): both serde layouts, bad files, file names."""

from __future__ import annotations

import pytest

from lab.pbs_tasks import make_upid
from lab.pbs_tree import T0
from pbs_agent.errors import FormatError
from pbs_agent.tasks.jobstate import parse_job_state, split_job_name


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
