"""The exporter tests use the collector tests' scenario tree, settings and TLS files."""

from tests.collectors.conftest import pbs_tree, settings, tls_files

__all__ = ["pbs_tree", "settings", "tls_files"]
