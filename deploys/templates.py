"""Find and render the Jinja2 templates in ``templates/`` from any working directory."""

from __future__ import annotations

import json
import re
from functools import cache
from io import StringIO
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def path(name: str) -> str:
    """Absolute path of template *name* (e.g. ``"nftables/pbs-fleet.nft.j2"``)."""
    found = TEMPLATE_DIR / name
    if not found.is_file():
        raise FileNotFoundError(f"template {name!r} not found in {TEMPLATE_DIR}")
    return str(found)


def toml_value(value: Any) -> str:
    """A TOML literal for a str, bool, int, float or list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def toml_key(key: str) -> str:
    """A bare TOML key when possible, else a quoted one."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


@cache
def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                      autoescape=False)
    env.filters["toml"] = toml_value
    env.filters["tomlkey"] = toml_key
    return env


def render(name: str, **variables: Any) -> str:
    """Render template *name* with *variables* (strict: a missing variable raises)."""
    path(name)
    return _env().get_template(name).render(**variables)


def render_io(name: str, **variables: Any) -> StringIO:
    """Rendered template as a file object for ``files.put`` (idempotent by content hash)."""
    return StringIO(render(name, **variables))
