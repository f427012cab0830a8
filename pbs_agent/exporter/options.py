"""The exporter's own flags: ``--web.*`` (serve) and ``--[no-]collector.NAME``.

The source flags and the config file are the host's (:mod:`pbs_agent.host`); the config
file's ``web.*`` and ``collector.*`` keys are checked here.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..host import (
    EXPORTER_PREFIXES,
    Option,
    add_options,
    as_path,
    config_values,
    resolve,
    settings_from_args,
)
from .registry import available_collectors

DEFAULT_LISTEN_ADDRESS = ":9797"


WEB_OPTIONS = (
    Option("web.listen-address", "listen_address", DEFAULT_LISTEN_ADDRESS, str,
           "address to listen on", "[HOST]:PORT"),
    Option("web.config.file", "web_config_file", None, as_path,
           "exporter-toolkit web config (YAML): TLS and basic auth", "FILE"),
)


def add_collector_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--[no-]collector.NAME`` for every collector that can be loaded."""
    cols = parser.add_argument_group("collectors")
    for name, cls in available_collectors().items():
        state = "on" if cls.default_enabled else "off"
        cols.add_argument(f"--collector.{name}", dest=f"collector_{name}", default=None,
                          action=argparse.BooleanOptionalAction,
                          help=f"{plain((cls.__doc__ or name).splitlines()[0])} "
                               f"(default: {state})")


def plain(text: str) -> str:
    """Docstring text for a terminal: RST ``literals`` lose their backticks."""
    return text.replace("``", "")


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--web.listen-address`` and ``--web.config.file`` (serve only)."""
    add_options(parser.add_argument_group("web"), WEB_OPTIONS)


def exporter_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's values, its ``web.*`` and ``collector.*`` keys checked."""
    values = config_values(args)
    path = getattr(args, "config", None)
    web = {o.key for o in WEB_OPTIONS}
    collectors = {f"collector.{n}" for n in available_collectors()}
    for key, val in values.items():
        if key in collectors:
            if not isinstance(val, bool):
                raise ConfigError(f"config file {path}: {key} must be true or false")
        elif key.startswith(EXPORTER_PREFIXES) and key not in web:
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
    return values


def web_options(args: argparse.Namespace) -> tuple[str, Path | None]:
    """``(listen address, web config file or None)`` for ``serve``."""
    exporter_config(args)
    listen, web_config = (resolve(args, o) for o in WEB_OPTIONS)
    return listen, web_config


def enabled_collectors(args: argparse.Namespace) -> list[str]:
    """Names of the collectors to run: ``--[no-]collector.NAME``, config, else the default.

    The ``api`` collector is on by default only when an API token file is configured.
    """
    names = []
    settings = settings_from_args(args)
    config = exporter_config(args)
    for name, cls in available_collectors().items():
        flag = getattr(args, f"collector_{name}", None)
        if flag is None:
            flag = config.get(f"collector.{name}")
        if flag is None:
            flag = cls.default_enabled or (name == "api" and settings.api_token_file is not None)
        if flag:
            names.append(name)
    return names
