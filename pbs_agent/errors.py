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


class LimitError(PbsAgentError):
    """A resource limit of this process was reached (memory): the work was stopped cleanly."""


def out_of_memory() -> LimitError:
    """The error for a :class:`MemoryError`: which limit, and what to do."""
    import resource

    limits = []
    for name, which in (("address space", resource.RLIMIT_AS), ("data", resource.RLIMIT_DATA)):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(f"{name} limit {soft >> 20} MiB")
    where = "; ".join(limits) or "no process limit set: the host ran out of memory"
    return LimitError(f"out of memory ({where}); the agent needs about 256 MiB plus 24 bytes "
                      "per chunk: raise the limit (systemd MemoryMax=, prlimit)")


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
        """For output: undecodable bytes of the path are escaped (see :func:`printable`)."""
        return {"path": printable(self.path), "reason": printable(self.reason)}


def printable(text: str) -> str:
    r"""*text* made safe for UTF-8 output. File names are bytes: one that is not valid UTF-8
    reaches Python with surrogate escapes (``os.fsdecode``); those bytes are shown as
    ``\xNN`` (and any other lone surrogate as ``\udNNN``). Valid text is returned unchanged.

    >>> printable("vm/100/dr\udcffive.img.fidx")
    'vm/100/dr\\xffive.img.fidx'
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError: 'vanished', 'permission denied', or strerror."""
    import errno

    if exc.errno == errno.ENOENT:
        return "vanished (no such file or directory)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or exc.__class__.__name__
