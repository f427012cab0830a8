"""The command table: every command resolves to a module with the expected interface."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from pbs_agent.cli import COMMANDS, _chosen_command, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_module_interface(name: str) -> None:
    mod = importlib.import_module(COMMANDS[name][0])
    assert callable(mod.add_arguments) and callable(mod.run)
    assert isinstance(mod.HELP, str) and mod.HELP


def test_chosen_command_skips_options() -> None:
    assert _chosen_command(["--version"]) is None
    assert _chosen_command(["report", "--json", "x"]) == "report"
    assert _chosen_command(["nonsense"]) is None


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_one_command_does_not_import_the_others() -> None:
    code = (
        "import sys; from pbs_agent.cli import build_parser; build_parser(['bench']); "
        "print(sorted(m for m in sys.modules if m.startswith('pbs_agent.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['pbs_agent.commands.bench']"


@pytest.mark.parametrize("argv", [["nosuch"], ["report"], ["bench", "--seconds", "x"]])
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 64
    assert "usage: pbs-agent" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_has_no_rst_markup(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Docstrings feed some help texts: ``literal`` must not reach the terminal."""
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert "`" not in capsys.readouterr().out
