"""The host context: the datastore resolver (datastore.cfg)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.pbs_tree import DATASTORE_CFG
from pbs_agent.errors import ConfigError, SourceError
from pbs_agent.host import DatastoreConfigError, Settings, datastores_from_text, resolve_datastores


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


def test_read_datastores_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"datastore\.cfg"):
        resolve_datastores(Settings(config_dir=tmp_path))
