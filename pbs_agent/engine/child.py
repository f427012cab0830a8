"""Run dedup scans in a child process, so the exporter's HTTP thread never waits for them.

A scan is CPU-bound Python and numpy; in the exporter's own process it would hold the GIL and
delay every scrape by milliseconds per socket operation. The child prints one JSON object,
:meth:`ScanResults.as_dict`: ``{"reports": {name: report}, "failures": {name: {"path",
"reason"}}}``; the parent decodes it back into the engine's types (:meth:`ScanResults.from_dict`,
which fails loudly on a missing or renamed field).

    python3 -m pbs_agent.engine.child STATE_DIR NAME=PATH [NAME=PATH ...] [--s3=JSON] [--gc=JSON]

``--s3`` maps the names of S3-backed datastores (PATH is their local cache) to
:class:`~pbs_agent.engine.s3listing.S3Source` fields: their chunks are listed from the bucket.
``--gc`` maps names to :class:`~pbs_agent.assurance.reclaim.GcRule` fields (cutoff, oldest
running writer) for the reclaim forecast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..assurance.reclaim import GcRule
from ..errors import FormatError, PbsAgentError, ScanIssue, SourceError, out_of_memory
from .model import DatastoreReport, decode
from .s3listing import S3Source
from .scan import scan_datastore

CHILD = "dedup scan"


@dataclass
class ScanResults:
    """The reports of the datastores that were scanned, and why the others were not."""

    reports: dict[str, DatastoreReport] = field(default_factory=dict)
    failures: dict[str, ScanIssue] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"reports": {n: r.as_dict() for n, r in self.reports.items()},
                "failures": {n: f.as_dict() for n, f in self.failures.items()}}

    @classmethod
    def from_dict(cls, data: Any) -> ScanResults:
        """The inverse of :meth:`as_dict`; FormatError naming what does not fit."""
        if not isinstance(data, dict) or set(data) != {"reports", "failures"}:
            raise FormatError(CHILD, "expected {'reports': ..., 'failures': ...}")
        reports, failures = data["reports"], data["failures"]
        if not isinstance(reports, dict) or not isinstance(failures, dict):
            raise FormatError(CHILD, "reports and failures must be objects")
        return cls(
            {n: DatastoreReport.from_dict(r, f"{CHILD}: report of {n}")
             for n, r in reports.items()},
            {n: decode(ScanIssue, f, f"{CHILD}: failure of {n}") for n, f in failures.items()})


def scan_all(stores: dict[str, Path], state_dir: Path,
             s3: dict[str, S3Source] | None = None,
             gc: dict[str, GcRule] | None = None) -> ScanResults:
    """Scan every datastore (those in *s3* from their bucket listing; *gc*: the GC rule of a
    store for its reclaim forecast); a failing one is recorded, the others still scanned."""
    results = ScanResults()
    for name, path in stores.items():
        try:
            source = (s3 or {}).get(name)
            chunks = source.chunks(name, state_dir) if source is not None else None
            results.reports[name] = scan_datastore(str(path), state_dir=str(state_dir),
                                                   chunks=chunks, gc_rule=(gc or {}).get(name))
        except PbsAgentError as exc:
            results.failures[name] = ScanIssue(getattr(exc, "path", str(path)),
                                               getattr(exc, "reason", str(exc)))
        except MemoryError:  # this store is too big for the limit: the others may fit
            results.failures[name] = ScanIssue(str(path), str(out_of_memory()))
    return results


def scan_in_child(stores: dict[str, Path], state_dir: Path,
                  s3: dict[str, S3Source] | None = None,
                  gc: dict[str, GcRule] | None = None) -> ScanResults:
    """:func:`scan_all` in a fresh interpreter; SourceError if the child itself fails,
    FormatError if what it printed does not decode into the engine's types."""
    argv = [sys.executable, "-m", __name__, str(state_dir),
            *(f"{name}={path}" for name, path in stores.items())]
    if s3:
        argv.append("--s3=" + json.dumps({n: asdict(src) for n, src in s3.items()}))
    if gc:
        argv.append("--gc=" + json.dumps({n: asdict(rule) for n, rule in gc.items()}))
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise SourceError(CHILD, tail[0][:300])
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise SourceError(CHILD, "child printed no JSON report") from None
    return ScanResults.from_dict(data)


def main(argv: list[str]) -> int:
    state_dir, *pairs = argv
    s3 = {n: S3Source(**spec) for p in pairs if p.startswith("--s3=")
          for n, spec in json.loads(p[len("--s3="):]).items()}
    gc = {n: GcRule(**spec) for p in pairs if p.startswith("--gc=")
          for n, spec in json.loads(p[len("--gc="):]).items()}
    stores = {name: Path(path) for name, _, path in (p.partition("=") for p in pairs
                                                     if not p.startswith(("--s3=", "--gc=")))}
    json.dump(scan_all(stores, Path(state_dir), s3, gc).as_dict(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
