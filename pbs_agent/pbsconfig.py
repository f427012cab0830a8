"""PBS section-config files (``/etc/proxmox-backup/datastore.cfg`` and friends), read-only.

A section starts with ``<type>: <id>``; property lines are indented ``<key> <value>``.

>>> cfg = parse_section_config("datastore: store1\\n\\tpath /mnt/datastore/store1\\n")
>>> cfg[0].type, cfg[0].id, cfg[0].props["path"]
('datastore', 'store1', '/mnt/datastore/store1')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ConfigError

_HEADER_RE = re.compile(r"^(?P<type>[A-Za-z0-9_-]+):\s+(?P<id>\S+)\s*$")


@dataclass(frozen=True)
class Section:
    type: str
    id: str
    props: dict[str, str] = field(default_factory=dict)


def parse_section_config(text: str, name: str = "<config>",
                         problems: list[ConfigError] | None = None) -> list[Section]:
    """Parse section-config text; ConfigError naming the file and line if malformed.

    With *problems*, each malformed line is appended there instead and parsing goes on
    (the properties under a malformed header are dropped with it).
    """
    sections: list[Section] = []
    skipping = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        error = None
        if line[0] in " \t":
            if skipping:
                continue
            if sections:
                key, _, value = line.strip().partition(" ")
                sections[-1].props[key] = value.strip()
                continue
            error = ConfigError(f"{name}:{lineno}: property outside of a section")
        else:
            m = _HEADER_RE.match(line)
            skipping = m is None
            if m:
                sections.append(Section(m["type"], m["id"]))
                continue
            error = ConfigError(f"{name}:{lineno}: expected '<type>: <id>', got {line[:60]!r}")
        if problems is None:
            raise error
        problems.append(error)
    return sections


def property_string(value: str) -> dict[str, str]:
    """Split a property string ``type=s3,client=x`` (a bare first value goes under ``''``)."""
    out: dict[str, str] = {}
    for part in filter(None, value.split(",")):
        key, sep, val = part.partition("=")
        out[key if sep else ""] = val if sep else key
    return out
