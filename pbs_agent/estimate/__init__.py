"""`pbs-agent estimate`: what would PBS store for these images or directories?

Images (regular files, block devices) are cut into fixed 4 MiB chunks like VM disks;
directories are cut with PBS's Buzhash chunker (see :mod:`.buzhash`, :mod:`.tree`). Every
chunk gets its SHA-256 digest and its zstd level 1 DataBlob size; dedup runs across all
inputs in order and, with ``against``, against the chunks an existing datastore references.
"""

from .runner import EstimateReport, InputResult, estimate

__all__ = ["EstimateReport", "InputResult", "estimate"]
