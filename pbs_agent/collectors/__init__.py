"""Collectors: one module per source, each exporting a Collector subclass."""
