"""Build the pbs_agent tarball on the controller (no PyPI on the target)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
from pathlib import Path

AGENT_SOURCE = Path(__file__).resolve().parents[2] / "pbs_agent"


def _files(source: Path) -> list[Path]:
    return sorted(p for p in source.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def tree_digest(source: Path = AGENT_SOURCE) -> str:
    """SHA-256 over every file's relative path and content: the installed version's id."""
    h = hashlib.sha256()
    for path in _files(source):
        h.update(str(path.relative_to(source.parent)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def build_tarball(source: Path = AGENT_SOURCE, out_dir: Path | None = None) -> tuple[Path, str]:
    """Deterministic ``pbs_agent-<digest>.tar`` (fixed mtime/owner); returns (path, digest)."""
    digest = tree_digest(source)
    out_dir = out_dir or Path(tempfile.gettempdir()) / "pbs-fleet-build"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"pbs_agent-{digest[:16]}.tar"
    if target.exists():
        return target, digest
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(source):
            info = tarfile.TarInfo(str(path.relative_to(source.parent)))
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(target)
    return target, digest
