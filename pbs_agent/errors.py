"""Typed errors: every problem names the thing it concerns and the reason."""

from __future__ import annotations

from dataclasses import dataclass


class PbsAgentError(Exception):
    """Base class of all errors raised on purpose by pbs_agent."""


class FormatError(PbsAgentError):
    """A file does not have the PBS on-disk format it claims to have.

    >>> str(FormatError("/ds/vm/100/x/a.fidx", "wrong magic"))
    '/ds/vm/100/x/a.fidx: wrong magic'
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class SourceError(PbsAgentError):
    """A source (file, directory, tool) could not be read: vanished, denied, missing."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ConfigError(PbsAgentError):
    """A configuration value or command-line argument is wrong."""


@dataclass(frozen=True, slots=True)
class ScanIssue:
    """One problem met during a scan; the scan goes on and reports it."""

    path: str
    reason: str

    @classmethod
    def from_exc(cls, exc: FormatError | SourceError) -> ScanIssue:
        return cls(exc.path, exc.reason)

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError: 'vanished', 'permission denied', or strerror."""
    import errno

    if exc.errno == errno.ENOENT:
        return "vanished (no such file or directory)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or exc.__class__.__name__
