"""Compare what PBS has (facts, JSON) with what it should have (desired) — pure functions.

Values are compared in PBS's rendering: booleans ``true``/``false``, numbers as text, property
strings as key/value maps (so ``a=1,b=2`` equals ``b=2,a=1``).

    >>> diff_options({"keep-daily": 7, "schedule": "daily"}, {"keep-daily": 8,
    ...               "schedule": "daily"}, managed=("keep-daily", "keep-weekly", "schedule"))
    ({'keep-daily': 8}, [])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from deploys.pbs.commands import render_value
from deploys.pbs.desired import PROPERTY_STRINGS, Acl


def parse_property_string(text: str, default_key: str | None = None) -> dict[str, str]:
    """``a=1,b=x`` → ``{"a": "1", "b": "x"}``; a bare value goes to *default_key*."""
    out: dict[str, str] = {}
    for part in [p for p in str(text).replace(";", ",").split(",") if p]:
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
        elif default_key:
            out[default_key] = key.strip()
    return out


def normalize(key: str, value: Any) -> Any:
    """One comparable form for a current or desired option value."""
    if key in PROPERTY_STRINGS:
        default = "type" if key == "maintenance-mode" else None
        parsed = value if isinstance(value, Mapping) else parse_property_string(value, default)
        return {k: render_value(v) for k, v in parsed.items()}
    if isinstance(value, list):
        return [render_value(v) for v in value]
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                    "no", "off") and key in BOOL_KEYS:
        return "true" if value.lower() in ("1", "true", "yes", "on") else "false"
    return render_value(value)


BOOL_KEYS = frozenset({"verify-new", "disable", "ignore-verified", "remove-vanished",
                       "enable"})


def diff_options(current: Mapping[str, Any], desired: Mapping[str, Any],
                 managed: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """(options to set, managed properties to delete) turning *current* into *desired*."""
    sets = {k: v for k, v in desired.items()
            if k not in current or normalize(k, current[k]) != normalize(k, v)}
    deletes = sorted(k for k in managed if k in current and k not in desired)
    return sets, deletes


def acl_changes(current: Iterable[Mapping[str, Any]], desired: set[Acl],
                managed_ids: set[str]) -> tuple[list[Acl], list[Acl]]:
    """(ACLs to add, ACLs of managed ids to delete). Others' ACLs are never touched.

    An entry with the wrong ``propagate`` flag counts as missing (``acl update`` sets it).
    """
    have = {Acl(e["path"], e["ugid"], e["roleid"], bool(e.get("propagate", True)))
            for e in current if e.get("ugid_type", "user") == "user"}
    add = sorted(desired - have, key=_acl_key)
    remove = sorted((a for a in have - desired if a.auth_id in managed_ids
                     and not any(d.path == a.path and d.auth_id == a.auth_id
                                 and d.role == a.role for d in desired)),
                    key=_acl_key)
    return add, remove


def _acl_key(acl: Acl) -> tuple[str, str, str]:
    return acl.path, acl.auth_id, acl.role


def by_id(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """List output → {id: properties without the id}."""
    return {row[key]: {k: v for k, v in row.items() if k != key} for row in rows}
