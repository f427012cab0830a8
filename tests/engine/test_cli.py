"""`pbs-agent report` and `pbs-agent demo` through the real command line entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pbs_agent.cli import main
from pbs_agent.units import human_bytes

from .conftest import assert_matches_reference

KEYS_DS = {"path", "snapshots", "index_files", "logical_bytes", "chunks_referenced",
           "physical_bytes", "dedup_factor", "chunks_on_disk", "garbage_chunks",
           "garbage_bytes", "missing_chunks", "bad_chunks"}
KEYS_GROUP = {"namespace", "backup_type", "backup_id", "owner", "snapshots",
              "protected_snapshots", "first_backup_time", "last_backup_time",
              "last_logical_bytes", "referenced_bytes", "exclusive_bytes", "last_new_bytes",
              "last_verify_state"}


def test_report_json_contract(small_demo: str, tmp_path: Path, capsys) -> None:
    assert main(["report", "--json", small_demo, "--state-dir", str(tmp_path / "st")]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["datastore"].keys() >= KEYS_DS
    assert all(g.keys() >= KEYS_GROUP for g in rep["groups"])
    assert rep["errors"] == []
    assert_matches_reference(rep, small_demo)


def test_report_human_summary(small_demo: str, tmp_path: Path, capsys) -> None:
    assert main(["report", small_demo, "--top", "2", "--state-dir", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"Datastore {small_demo}"
    assert "dedup factor" in out and "MiB" in out
    top = lines.index("Top 2 groups by exclusive bytes (what deleting them frees):")
    assert lines[top + 1].split()[0] == "GROUP" and len(lines) == top + 4


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 5 * 2**30)] == [
        "0 B", "1023 B", "1.00 KiB", "5.00 GiB"]


def test_demo_command_and_force_guard(tmp_path: Path, capsys) -> None:
    ds = tmp_path / "demo"
    args = ["demo", str(ds), "--vms", "1", "--cts", "1", "--days", "2", "--missing", "1"]
    assert main(args) == 0
    assert "2 groups, 4 snapshots" in capsys.readouterr().out
    assert main(args) == 2  # exists: refused without --force, which is named
    err = capsys.readouterr().err
    assert "not an empty directory" in err and "--force" in err
    assert main([*args, "--force"]) == 0
    other = tmp_path / "precious"
    other.mkdir()
    (other / "data").write_text("keep me")
    assert main(["demo", str(other), "--force"]) == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert (other / "data").read_text() == "keep me"


def test_demo_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    from pbs_agent.demo import build_demo

    def content(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                if p.is_file()}

    for name in ("a", "b"):
        build_demo(str(tmp_path / name), vms=1, cts=1, days=2, seed=3, garbage=1, bad=1)
    assert content(tmp_path / "a") == content(tmp_path / "b")
    build_demo(str(tmp_path / "c"), vms=1, cts=1, days=2, seed=4, garbage=1, bad=1)
    assert content(tmp_path / "a") != content(tmp_path / "c")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_default_state_dir_unwritable_as_non_root(small_demo_template, world_readable_tmp):
    """As a non-root user /var/lib/pbs-agent is not writable: one warning, report still 0."""
    import shutil

    root = os.path.join(world_readable_tmp, "ds")
    shutil.copytree(small_demo_template, root)
    code = "import sys; from pbs_agent.cli import main; sys.exit(main(sys.argv[1:]))"
    state = "/var/lib/pbs-agent-test-unwritable"
    os.makedirs(state, mode=0o755, exist_ok=True)
    try:
        out = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-c", code, "report", root, "--state-dir", state],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2])))
    finally:
        os.rmdir(state)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("\n") == 1 and "without persisted state" in out.stderr
    assert out.stdout.startswith(f"Datastore {root}")


def test_report_on_a_directory_that_is_not_a_datastore(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path), "--state-dir", str(tmp_path / "st")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{tmp_path}: not a PBS datastore (no .chunks)" in captured.err


def test_demo_and_report_count_the_same_things(tmp_path: Path, capsys) -> None:
    """`--missing 2 --bad 1 --garbage 3`: the demo's words and the report's agree, and a chunk
    renamed to .bad is not also counted as missing."""
    ds = str(tmp_path / "ds")
    assert main(["demo", ds, "--vms", "2", "--cts", "1", "--days", "3", "--garbage", "3",
                 "--missing", "2", "--bad", "1"]) == 0
    demo_out = capsys.readouterr().out
    assert main(["report", "--json", ds, "--state-dir", str(tmp_path / "st")]) == 0
    d = json.loads(capsys.readouterr().out)["datastore"]
    assert (d["missing_chunks"], d["bad_chunks"], d["garbage_chunks"]) == (2, 1, 3)
    assert f"{d['chunks_on_disk']} chunk files ({d['garbage_chunks']} unreferenced)" in demo_out
    assert "1 renamed to .bad" in demo_out and "2 referenced chunks deleted" in demo_out
    assert main(["report", ds, "--state-dir", str(tmp_path / "st")]) == 0
    text = capsys.readouterr().out
    assert f"chunk files     {d['chunks_on_disk']} in .chunks, 3 of them garbage" in text
    assert f"{d['chunks_referenced']} chunks" in text and "2 of them missing" in text
    assert "1 marked bad (.bad file)" in text


def test_demo_suggests_the_command_as_it_was_run(tmp_path: Path) -> None:
    """Run as .venv/bin/pbs-agent (the README's install), the next step names that path."""
    exe = Path(sys.executable).with_name("pbs-agent")
    if not exe.exists():
        pytest.skip("no pbs-agent console script next to this interpreter")
    ds = tmp_path / "ds"
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([str(exe), "demo", str(ds), "--vms", "1", "--cts", "0", "--days", "1"],
                         capture_output=True, text=True, timeout=120, cwd=repo,
                         env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert out.returncode == 0, out.stderr
    shown = os.path.relpath(exe, repo) if exe.is_relative_to(repo) else str(exe)
    assert f"next: {shown} report {ds}" in out.stdout  # e.g. .venv/bin/pbs-agent
    on_path = subprocess.run(["pbs-agent", "demo", str(ds), "--force", "--vms", "1", "--cts",
                              "0", "--days", "1"], capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PATH=f"{exe.parent}:/usr/bin:/bin"))
    assert f"next: pbs-agent report {ds}" in on_path.stdout
