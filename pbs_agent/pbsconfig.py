"""PBS section-config files (``/etc/proxmox-backup/datastore.cfg`` and friends), read-only.

A section starts with ``<type>: <id>``; property lines are indented ``<key> <value>``.

>>> cfg = parse_section_config("datastore: store1\\n\\tpath /mnt/datastore/store1\\n")
>>> cfg[0].type, cfg[0].id, cfg[0].props["path"]
('datastore', 'store1', '/mnt/datastore/store1')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, SourceError, os_reason

_HEADER_RE = re.compile(r"^(?P<type>[A-Za-z0-9_-]+):\s+(?P<id>\S+)\s*$")
REMOVABLE_MOUNT_BASE = Path("/mnt/datastore")


@dataclass(frozen=True)
class Section:
    type: str
    id: str
    props: dict[str, str] = field(default_factory=dict)


def parse_section_config(text: str, name: str = "<config>") -> list[Section]:
    """Parse section-config text; ConfigError naming the file and line if malformed."""
    sections: list[Section] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t":
            if not sections:
                raise ConfigError(f"{name}:{lineno}: property outside of a section")
            key, _, value = line.strip().partition(" ")
            sections[-1].props[key] = value.strip()
            continue
        m = _HEADER_RE.match(line)
        if not m:
            raise ConfigError(f"{name}:{lineno}: expected '<type>: <id>', got {line[:60]!r}")
        sections.append(Section(m["type"], m["id"]))
    return sections


def property_string(value: str) -> dict[str, str]:
    """Split a property string ``type=s3,client=x`` (a bare first value goes under ``''``)."""
    out: dict[str, str] = {}
    for part in filter(None, value.split(",")):
        key, sep, val = part.partition("=")
        out[key if sep else ""] = val if sep else key
    return out


@dataclass(frozen=True)
class DatastoreConfig:
    name: str
    path: Path
    backend_type: str = "filesystem"  # "s3": the local path is only a cache
    maintenance: str | None = None


def datastores_from_text(text: str, name: str = "datastore.cfg") -> list[DatastoreConfig]:
    """The datastores of a ``datastore.cfg`` text."""
    out = []
    for sec in parse_section_config(text, name):
        if sec.type != "datastore":
            continue
        raw = sec.props.get("path")
        if not raw:
            raise ConfigError(f"{name}: datastore {sec.id!r} has no path")
        path = Path(raw)
        if not path.is_absolute() and "backing-device" in sec.props:
            path = REMOVABLE_MOUNT_BASE / sec.id / raw  # removable: path is mount-relative
        backend = property_string(sec.props.get("backend", "")).get("type", "filesystem")
        maint = property_string(sec.props.get("maintenance-mode", ""))
        out.append(DatastoreConfig(sec.id, path, backend, maint.get("type") or maint.get("")))
    return out


def read_datastores(config_dir: Path) -> list[DatastoreConfig]:
    """Datastores from ``<config_dir>/datastore.cfg``; SourceError if it cannot be read."""
    path = config_dir / "datastore.cfg"
    try:
        text = path.read_text()
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    return datastores_from_text(text, str(path))
