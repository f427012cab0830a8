"""Extract a ttar text archive (node_exporter's fixture format) into a directory.

Records: ``Directory: P`` + ``Mode:``; ``Path: P`` + ``SymlinkTo: T``; ``Path: P`` +
``Lines: N`` + N lines of content + ``Mode:``; records are separated by ``# ttar - - -`` lines.
"""

from __future__ import annotations

import os
from pathlib import Path


def extract(archive: Path, dest: Path) -> None:
    """Write every directory, file and symlink of *archive* under *dest*."""
    lines = archive.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("Directory: "):
            (dest / line[len("Directory: "):]).mkdir(parents=True, exist_ok=True)
        elif line.startswith("Path: "):
            path = dest / line[len("Path: "):]
            path.parent.mkdir(parents=True, exist_ok=True)
            kind, _, value = lines[i].partition(": ")
            i += 1
            if kind == "SymlinkTo":
                os.symlink(value, path)
            elif kind == "Lines":
                count = int(value)
                path.write_text("".join(f"{text}\n" for text in lines[i:i + count]))
                i += count
            else:
                raise ValueError(f"{archive}: line {i}: unknown record {kind!r}")
