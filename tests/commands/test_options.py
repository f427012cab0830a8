"""Shared flags and the TOML config file (pbs_agent.host, pbs_agent.exporter.options)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from pbs_agent.errors import ConfigError
from pbs_agent.exporter.options import (
    DEFAULT_LISTEN_ADDRESS,
    add_collector_arguments,
    add_web_arguments,
    enabled_collectors,
    web_options,
)
from pbs_agent.exporter.registry import available_collectors
from pbs_agent.host import Settings, add_source_arguments, settings_from_args


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_web_arguments(p)
    add_source_arguments(p)
    add_collector_arguments(p)
    return p.parse_args(argv)


def test_defaults_are_the_pbs_paths() -> None:
    s = settings_from_args(parse())
    assert s == Settings()
    assert web_options(parse()) == (DEFAULT_LISTEN_ADDRESS, None)


def test_flags(tmp_path: Path) -> None:
    args = parse("--pbs.log-dir", "/x/log", "--pbs.lib-dir", "/x/lib", "--path.sysfs", "/x/sys",
                 "--datastore", "a=/d/a", "--datastore", "b=/d/b", "--state-dir", str(tmp_path),
                 "--dedup.max-groups", "7", "--thermal.inlet-band", "18:27",
                 "--web.listen-address", "127.0.0.1:9999", "--tool-fixtures", "/fx")
    s = settings_from_args(args)
    assert s.log_dir == Path("/x/log") and s.lib_dir == Path("/x/lib")
    assert s.sysfs == Path("/x/sys") and s.state_dir == tmp_path
    assert s.datastores == {"a": Path("/d/a"), "b": Path("/d/b")}
    assert s.max_groups == 7 and s.inlet_band_celsius == (18.0, 27.0)
    assert s.tool_fixtures == Path("/fx")
    assert web_options(args)[0] == "127.0.0.1:9999"


def test_config_file_and_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('pbs.log-dir = "/cfg/log"\nstate-dir = "/cfg/state"\n'
                   'web.listen-address = ":9123"\nweb.config.file = "/cfg/web.yml"\n'
                   "collector.dedup = false\n"
                   '[datastore]\nstore1 = "/mnt/datastore/store1"\n')
    args = parse("--config", str(cfg), "--state-dir", "/flag/state")
    s = settings_from_args(args)
    assert s.log_dir == Path("/cfg/log")  # from the file
    assert s.state_dir == Path("/flag/state")  # the flag wins
    assert s.datastores == {"store1": Path("/mnt/datastore/store1")}
    assert web_options(args) == (":9123", Path("/cfg/web.yml"))
    assert "dedup" not in enabled_collectors(args)
    assert "dedup" in enabled_collectors(parse("--config", str(cfg), "--collector.dedup"))


@pytest.mark.parametrize(("text", "match"), [
    ("pbs.log-dirr = '/x'\n", "unknown setting 'pbs.log-dirr'"),
    ("collector.dedup = 'yes'\n", "must be true or false"),
    ("collector.nosuch = true\n", "unknown setting 'collector.nosuch'"),
    ("web.listen-adress = ':1'\n", "unknown setting 'web.listen-adress'"),
    ("this is = not toml\n", "not valid TOML"),
    ("dedup.max-groups = 0\n", "positive integer"),
    ("thermal.inlet-band = '30:20'\n", "low must be below high"),
])
def test_bad_config_files(tmp_path: Path, text: str, match: str) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(text)
    args = parse("--config", str(cfg))
    with pytest.raises(ConfigError, match=match):  # what serve and metrics read
        settings_from_args(args)
        enabled_collectors(args)
        web_options(args)


def test_other_commands_leave_the_exporter_keys_alone(tmp_path: Path) -> None:
    """doctor shares the config file: web.* and collector.* keys are the exporter's."""
    cfg = tmp_path / "agent.toml"
    cfg.write_text("collector.dedup = false\nweb.listen-address = ':1'\npbs.log-dir = '/l'\n")
    p = argparse.ArgumentParser()
    add_source_arguments(p)
    assert settings_from_args(p.parse_args(["--config", str(cfg)])).log_dir == Path("/l")


def test_bad_flags() -> None:
    with pytest.raises(ConfigError, match="NAME=PATH"):
        settings_from_args(parse("--datastore", "nopath"))
    with pytest.raises(ConfigError, match=r"missing\.toml"):
        settings_from_args(parse("--config", "/nonexistent/missing.toml"))


def test_collector_switches() -> None:
    names = set(available_collectors())
    assert {"dedup", "tasks", "jobs", "api"} <= names
    default = set(enabled_collectors(parse()))
    assert {"dedup", "tasks", "jobs"} <= default and "api" not in default
    assert "api" in enabled_collectors(parse("--pbs.api-token-file", "/etc/tok"))
    assert "api" not in enabled_collectors(parse("--pbs.api-token-file", "/t",
                                                 "--no-collector.api"))
    assert "tasks" not in enabled_collectors(parse("--no-collector.tasks"))


def test_token_is_never_a_flag_value() -> None:
    p = argparse.ArgumentParser()
    add_source_arguments(p)
    add_collector_arguments(p)
    flags = {a for action in p._actions for a in action.option_strings}
    assert "--pbs.api-token-file" in flags
    assert not any(f.endswith(("api-token", "token-secret", "password")) for f in flags)
