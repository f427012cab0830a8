"""The dedup engine: what each group really uses, read directly from a datastore.

>>> from pbs_agent.engine import scan_datastore  # doctest: +SKIP
>>> rep = scan_datastore("/mnt/datastore/store1", state_dir="/var/lib/pbs-agent")  # doctest: +SKIP
>>> rep.as_dict()["datastore"]["dedup_factor"]  # doctest: +SKIP
"""

from .model import DatastoreReport, DatastoreTotals, GroupReport, ScanStats
from .scan import referenced_digest_prefixes, scan_datastore

__all__ = [
    "DatastoreReport",
    "DatastoreTotals",
    "GroupReport",
    "ScanStats",
    "referenced_digest_prefixes",
    "scan_datastore",
]
