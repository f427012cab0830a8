"""Command-line flags and config file shared by ``serve``, ``metrics`` and ``doctor``.

Flags are Prometheus style (``--pbs.log-dir``, ``--collector.NAME``). The config file
(``--config FILE``) is TOML whose keys are the flag names without dashes, written as dotted
keys, plus a ``[datastore]`` table::

    pbs.log-dir = "/var/log/proxmox-backup"
    web.listen-address = ":9797"
    collector.api = true
    [datastore]
    store1 = "/mnt/datastore/store1"

A flag on the command line wins over the config file, which wins over the default.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import DEFAULT_LISTEN_ADDRESS, Settings
from .registry import available_collectors


@dataclass(frozen=True)
class Option:
    key: str  # flag name without dashes, also the config-file key
    dest: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    metavar: str = "DIR"


def _path(v: Any) -> Path:
    return Path(str(v))


def _band(v: Any) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in str(v).split(":"))
    except ValueError:
        raise ConfigError(f"inlet band {v!r}: expected LOW:HIGH in °C, e.g. 15:25") from None
    if low >= high:
        raise ConfigError(f"inlet band {v!r}: low must be below high")
    return low, high


def _positive_int(v: Any) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"{v!r}: expected a positive integer")
    return n


_D = Settings()
SOURCE_OPTIONS = (
    Option("pbs.log-dir", "log_dir", _D.log_dir, _path, "PBS log directory (task logs)"),
    Option("pbs.lib-dir", "lib_dir", _D.lib_dir, _path, "PBS state directory (jobstates)"),
    Option("pbs.config-dir", "config_dir", _D.config_dir, _path,
           "PBS configuration directory (datastore.cfg)"),
    Option("path.sysfs", "sysfs", _D.sysfs, _path, "sysfs mount point"),
    Option("path.procfs", "procfs", _D.procfs, _path, "procfs mount point"),
    Option("path.devfs", "devfs", _D.devfs, _path, "devfs mount point"),
    Option("state-dir", "state_dir", _D.state_dir, _path,
           "where the agent keeps its caches and counters"),
    Option("pbs.api-url", "api_url", _D.api_url, str, "PBS API base URL (api collector)", "URL"),
    Option("pbs.api-token-file", "api_token_file", None, _path,
           "file holding 'USER@REALM!TOKEN:SECRET'; enables the api collector", "FILE"),
    Option("pbs.api-fingerprint", "api_fingerprint", None, str,
           "SHA-256 fingerprint of the API certificate (default: that of "
           "<config-dir>/proxy.pem when readable, else CA verification)", "SHA256"),
    Option("dedup.max-groups", "max_groups", _D.max_groups, _positive_int,
           "groups per datastore exported individually (the rest: backup_id=__other__)", "N"),
    Option("thermal.inlet-band", "inlet_band", "15:25", _band,
           "comfortable inlet temperature band LOW:HIGH in °C", "LOW:HIGH"),
)
WEB_OPTIONS = (
    Option("web.listen-address", "listen_address", DEFAULT_LISTEN_ADDRESS, str,
           "address to listen on", "[HOST]:PORT"),
    Option("web.config.file", "web_config_file", None, _path,
           "exporter-toolkit web config (YAML): TLS and basic auth", "FILE"),
)


def _add(parser: argparse.ArgumentParser, opts: tuple[Option, ...]) -> None:
    for o in opts:
        default = f" (default: {o.default})" if o.default is not None else ""
        parser.add_argument(f"--{o.key}", dest=o.dest, default=None, metavar=o.metavar,
                            help=o.help + default)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the source flags (paths, datastores, API, collectors, --config) to *parser*."""
    group = parser.add_argument_group("sources")
    _add(group, SOURCE_OPTIONS)  # type: ignore[arg-type]
    group.add_argument("--datastore", action="append", default=None, metavar="NAME=PATH",
                       help="a datastore to scan (repeatable; default: from datastore.cfg)")
    group.add_argument("--config", type=Path, default=None, metavar="FILE",
                       help="TOML config file with the same settings (flags win)")
    group.add_argument("--tool-fixtures", type=Path, default=None, help=argparse.SUPPRESS)
    cols = parser.add_argument_group("collectors")
    for name, cls in available_collectors().items():
        state = "on" if cls.default_enabled else "off"
        cols.add_argument(f"--collector.{name}", dest=f"collector_{name}", default=None,
                          action=argparse.BooleanOptionalAction,
                          help=f"{(cls.__doc__ or name).splitlines()[0]} (default: {state})")


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--web.listen-address`` and ``--web.config.file`` (serve only)."""
    _add(parser.add_argument_group("web"), WEB_OPTIONS)  # type: ignore[arg-type]


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in table.items():
        full = f"{prefix}{key}"
        if isinstance(val, dict) and full != "datastore":
            out.update(_flatten(val, full + "."))
        else:
            out[full] = val
    return out


def load_config_file(path: Path | None) -> dict[str, Any]:
    """The config file as flat ``{flag-name: value}``; ConfigError naming a bad key or file."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    flat = _flatten(data)
    known = {o.key for o in (*SOURCE_OPTIONS, *WEB_OPTIONS)} | {"datastore"}
    collectors = {f"collector.{n}" for n in available_collectors()}
    for key, val in flat.items():
        if key in collectors:
            if not isinstance(val, bool):
                raise ConfigError(f"config file {path}: {key} must be true or false")
        elif key not in known:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
    return flat


def _config(args: argparse.Namespace) -> dict[str, Any]:
    cached = getattr(args, "_config_values", None)
    if cached is None:
        cached = load_config_file(getattr(args, "config", None))
        args._config_values = cached
    return cached


def resolve(args: argparse.Namespace, opt: Option) -> Any:
    """The value of *opt*: command line, else config file, else default."""
    value = getattr(args, opt.dest, None)
    if value is None:
        value = _config(args).get(opt.key, opt.default)
    return None if value is None else opt.convert(value)


def parse_datastores(items: list[str] | dict[str, Any] | None) -> dict[str, Path]:
    """``["store1=/mnt/x"]`` (flags) or ``{"store1": "/mnt/x"}`` (config) → name → path."""
    if isinstance(items, dict):
        items = [f"{k}={v}" for k, v in items.items()]
    out: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = str(item).partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--datastore {item!r}: expected NAME=PATH")
        out[name] = Path(path)
    return out


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build :class:`Settings` from parsed flags, the config file and the defaults."""
    values = {o.dest: resolve(args, o) for o in SOURCE_OPTIONS}
    band = values.pop("inlet_band")
    stores = args.datastore if args.datastore is not None else _config(args).get("datastore")
    return Settings(**values, inlet_band_celsius=band, datastores=parse_datastores(stores),
                    tool_fixtures=getattr(args, "tool_fixtures", None))


def web_options(args: argparse.Namespace) -> tuple[str, Path | None]:
    """``(listen address, web config file or None)`` for ``serve``."""
    listen, web_config = (resolve(args, o) for o in WEB_OPTIONS)
    return listen, web_config


def enabled_collectors(args: argparse.Namespace) -> list[str]:
    """Names of the collectors to run: ``--[no-]collector.NAME``, config, else the default.

    The ``api`` collector is on by default only when an API token file is configured.
    """
    names = []
    settings = settings_from_args(args)
    for name, cls in available_collectors().items():
        flag = getattr(args, f"collector_{name}", None)
        if flag is None:
            flag = _config(args).get(f"collector.{name}")
        if flag is None:
            flag = cls.default_enabled or (name == "api" and settings.api_token_file is not None)
        if flag:
            names.append(name)
    return names
