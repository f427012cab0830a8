"""pyinfra's conventions hold for every operation and fact under deploys/.

Each ``@operation`` documents every argument with a ``+ arg:`` line and shows an example, as
pyinfra's own operations do; each fact documents the arguments of its ``command()`` the same
way. Checked on the source (AST), so a new module is covered without registering it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from deploys import conventions

DEPLOYS = Path(__file__).resolve().parents[2] / "deploys"


def _documented_args(node: ast.FunctionDef | ast.ClassDef) -> list[str] | None:
    """The arguments *node* must document, or None if it is neither an operation nor a fact."""
    if isinstance(node, ast.FunctionDef):
        if not any("operation" in ast.unparse(d) for d in node.decorator_list):
            return None
        return [a.arg for a in node.args.args + node.args.kwonlyargs]
    if not any("FactBase" in ast.unparse(b) for b in node.bases):
        return None
    if any("HashFileFactBase" in ast.unparse(b) for b in node.bases):
        return ["path"]
    command = next((n for n in node.body
                    if isinstance(n, ast.FunctionDef) and n.name == "command"), None)
    return [a.arg for a in command.args.args[1:]] if command else []


def undocumented(source: str) -> list[str]:
    """``name: problem`` for every operation or fact in *source* that breaks the convention."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        args = _documented_args(node)
        if args is None:
            continue
        doc = ast.get_docstring(node) or ""
        missing = [a for a in args if f"+ {a}:" not in doc]
        if missing:
            problems.append(f"{node.name}: no '+ arg:' line for {', '.join(missing)}")
        if "**Example:**" not in doc:
            problems.append(f"{node.name}: no **Example:**")
    return problems


def test_the_check_finds_a_missing_arg_line_and_example() -> None:
    source = ('from pyinfra.api import FactBase, operation\n'
              '@operation()\ndef op(path: str, mode: str):\n'
              '    """Do it.\n\n    + path: the file\n    """\n'
              'class Fact(FactBase):\n    def command(self, keys):\n        return ""\n')
    assert undocumented(source) == ["op: no '+ arg:' line for mode", "op: no **Example:**",
                                    "Fact: no '+ arg:' line for keys", "Fact: no **Example:**"]


def test_every_operation_and_fact_follows_pyinfra_conventions() -> None:
    found = {str(path.relative_to(DEPLOYS.parent)): undocumented(path.read_text())
             for path in sorted(DEPLOYS.rglob("*.py"))}
    assert sum("operations" in name or "facts" in name for name in found) >= 10
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_one_list_of_debian_releases_feeds_every_room():
    from deploys.apt.steps import KEYRINGS
    from lab.sandbox import rootfs
    from lab.vm.image import DEFAULT_SUITE

    codenames = [release.codename for release in conventions.DEBIAN_RELEASES]
    assert conventions.DEFAULT_DEBIAN.codename == "trixie" == DEFAULT_SUITE  # PBS 4 by default
    assert list(rootfs.SUITES) == codenames  # the lab builds a rootfs for every release
    assert sorted(KEYRINGS) == sorted(codenames)  # and the deploy pins a keyring for each
    assert conventions.debian_release("12") == conventions.debian_release("bookworm")
    assert conventions.debian_release("12").pbs_major == 3  # type: ignore[union-attr]
    assert conventions.debian_release("11") is None
