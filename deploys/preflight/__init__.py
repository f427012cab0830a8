"""Preflight: survey the host and refuse, before any change, if it cannot run PBS.

Modules: :mod:`.steps` (the ``@deploy`` and its pure :func:`~.steps.evaluate`).
"""
