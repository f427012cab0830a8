"""Audit: the auditors' own tools (ssh-audit, testssl.sh, lynis, OpenSCAP, systemd-analyze
security) run on each host, their scores in the hardening report.

Modules: :mod:`.tools` (commands, parsers, scores, the regression gate), :mod:`.steps` (the
``@deploy``).
"""
