"""Inventory settings: every step module declares its own keys; one validator checks them all.

A step module registers its keys once at import time::

    from deploys import schema
    KEYS = schema.register(__name__, {
        "zfs_pools": schema.Key(list, default=[], item=dict, doc="Pools to create."),
    })

:func:`validate` runs before any other step (``deploys.pbs_host`` calls it first) and raises
:class:`InventoryError` with ONE line naming the host, the key and the problem. Values are read
with :func:`value`, which falls back to the registered default (pyinfra's ``data_defaults`` do
not merge across nested deploys, so defaults live here instead).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api.connectors import get_all_connectors
from pyinfra.api.exceptions import DeployError

_MISSING: Any = object()
#: A value's type, or a tuple of allowed types (``type(None)`` allows None).
TypeSpec = type | tuple[type, ...]
#: Data keys that belong to pyinfra itself or to inventory bookkeeping, not to our steps.
_PYINFRA_KEYS = frozenset({"fake_responses", "fake_delay", "fake_delay_jitter"})


class InventoryError(DeployError):
    """Invalid inventory data: the message is one line naming host, key and problem."""


@dataclass(frozen=True)
class Key:
    """One inventory setting: its type, default, and documentation.

    ``type`` is a type or a tuple of types (``None`` allowed by including ``type(None)``);
    ``item`` checks list elements / dict values; ``check`` returns a problem string or None.
    """

    type: TypeSpec
    default: Any = _MISSING
    doc: str = ""
    item: TypeSpec | None = None
    check: Callable[[Any], str | None] | None = None
    test_only: bool = False
    owner: str = field(default="", compare=False)

    @property
    def required(self) -> bool:
        return self.default is _MISSING


REGISTRY: dict[str, Key] = {}


def register(owner: str, keys: Mapping[str, Key]) -> dict[str, Key]:
    """Register *keys* for module *owner*; a key registered twice by another owner is a bug."""
    out = {}
    for name, key in keys.items():
        previous = REGISTRY.get(name)
        if previous is not None and previous.owner != owner:
            raise ValueError(f"inventory key {name!r} registered by {previous.owner} and {owner}")
        stamped = Key(key.type, key.default, key.doc, key.item, key.check, key.test_only, owner)
        REGISTRY[name] = stamped
        out[name] = stamped
    return out


def load_all() -> dict[str, Key]:
    """Import every module of every concern package (``deploys.apt``, ``deploys.pbs``, …) so
    all keys are known. The entry-point files at the top of ``deploys/`` are not imported."""
    root = importlib.import_module("deploys")
    for concern in pkgutil.iter_modules(root.__path__, "deploys."):
        if not concern.ispkg:
            continue
        package = importlib.import_module(concern.name)
        for info in pkgutil.iter_modules(package.__path__, concern.name + "."):
            importlib.import_module(info.name)
    return REGISTRY


def one_of(*allowed: str) -> Callable[[Any], str | None]:
    """A ``check`` accepting exactly *allowed*: ``Key(str, check=one_of("a", "b"))``."""
    return lambda v: None if v in allowed else f"must be one of {', '.join(allowed)}"


def _type_name(t: type | tuple[type, ...]) -> str:
    types = t if isinstance(t, tuple) else (t,)
    return " or ".join("None" if x is type(None) else x.__name__ for x in types)


def _is_instance(v: Any, t: type | tuple[type, ...]) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(v, bool) and bool not in types:  # True is not an int setting
        return False
    return isinstance(v, types)


def check_value(name: str, key: Key, v: Any) -> str | None:
    """Problem with value *v* for *key*, or None when it is fine."""
    if not _is_instance(v, key.type):
        return f"expected {_type_name(key.type)}, got {type(v).__name__}"
    if key.item is not None and isinstance(v, (list, tuple, dict)):
        items = v.values() if isinstance(v, dict) else v
        for i, element in enumerate(items):
            if not _is_instance(element, key.item):
                return (f"element {i} should be {_type_name(key.item)}, "
                        f"got {type(element).__name__}")
    if key.check is not None:
        return key.check(v)
    return None


def connector_keys() -> frozenset[str]:
    """Data keys every installed pyinfra connector understands (``ssh_port``, …)."""
    keys: set[str] = set(_PYINFRA_KEYS)
    for connector in get_all_connectors().values():  # type: ignore[no-untyped-call]  # unannotated in pyinfra
        keys.update(getattr(connector, "data_meta", {}) or {})
    return frozenset(keys)


def problems(data: Mapping[str, Any], registry: Mapping[str, Key] | None = None,
             ignore: Iterable[str] = ()) -> list[str]:
    """Every problem in *data* as ``key 'x': reason`` strings, in a stable order."""
    registry = REGISTRY if registry is None else registry
    ignored = set(ignore) | connector_keys()
    out = []
    for name in sorted(data):
        if name.startswith("_") or name in ignored:
            continue
        key = registry.get(name)
        if key is None:
            out.append(f"unknown inventory key {name!r} (see docs/deploy.md)")
            continue
        problem = check_value(name, key, data[name])
        if problem:
            out.append(f"inventory key {name!r}: {problem}")
    for name in sorted(registry):
        if registry[name].required and name not in data:
            out.append(f"inventory key {name!r}: required value missing")
    return out


def validate(host: Any) -> None:
    """Raise :class:`InventoryError` (one line) if *host*'s data has any problem."""
    load_all()
    found = problems(host.data.dict())
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise InventoryError(f"{host.name}: {found[0]}{more}")


def value(host: Any, name: str) -> Any:
    """The setting *name* for *host*: inventory data, else the registered default."""
    key = REGISTRY[name]
    found = host.data.get(name, _MISSING)
    if found is _MISSING:
        if key.required:
            raise InventoryError(f"{host.name}: inventory key {name!r}: required value missing")
        return key.default
    return found


def documented() -> list[tuple[str, Key]]:
    """All keys sorted by owner then name (for docs/deploy.md)."""
    return sorted(REGISTRY.items(), key=lambda kv: (kv[1].owner, kv[0]))
