"""The repository's layout rules: nothing outside tests/ imports from tests/."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Not source of this project: virtualenv, caches, build output.
SKIP_DIRS = {"tests", "build", "dist", "node_modules", "__pycache__"}


def python_sources(root: Path) -> Iterator[Path]:
    """Every Python file outside tests/: ``*.py`` and executables with a python shebang."""
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.name.endswith(".egg-info"):
            continue
        if path.is_dir():
            if path.name not in SKIP_DIRS:
                yield from python_sources(path)
        elif path.suffix == ".py":
            yield path
        elif path.suffix == "" and path.is_file():
            with path.open("rb") as fh:
                first = fh.readline(200)
            if first.startswith(b"#!") and b"python" in first:
                yield path


def imports_of_tests(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) of every import of ``tests`` or ``tests.*`` in *source*, including
    ``importlib.import_module("tests...")`` and ``__import__("tests...")`` with a literal."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("import_module", "__import__")):
            names = [node.args[0].value]
        found += [(node.lineno, name) for name in names
                  if name == "tests" or name.startswith("tests.")]
    return found


def test_the_checker_finds_every_form_of_import() -> None:
    source = ("import os\nimport tests.harness\nfrom tests import x\nfrom tests.a.b import c\n"
              "import testsuite\nfrom .tests import y\nimportlib.import_module('tests.z')\n"
              "__import__('tests')\n")
    assert imports_of_tests(source) == [
        (2, "tests.harness"), (3, "tests"), (4, "tests.a.b"), (7, "tests.z"), (8, "tests")]


def test_the_walk_covers_the_lab_scripts_benchmarks_and_simulators() -> None:
    seen = {path.relative_to(REPO).as_posix() for path in python_sources(REPO)}
    assert {"scripts/demo_sandbox.py", "benchmarks/bench_deploy.py", "lab/sandbox/session.py",
            "lab/simulators/proxmox-backup-manager", "pbs_agent/cli.py"} <= seen
    assert not any(name.startswith("tests/") for name in seen)


def test_nothing_outside_tests_imports_from_tests() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line}: imports {module}"
                 for path in python_sources(REPO)
                 for line, module in imports_of_tests(path.read_text(), str(path))]
    assert not offenders, "move what they need out of tests/ (e.g. into lab/):\n" + \
        "\n".join(offenders)
