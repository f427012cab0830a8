"""An independent writer of PBS snapshot trees for the retention tests.

Shares no code with pbs_agent: the layout (``[ns/<a>/]<type>/<id>/<RFC 3339 UTC>/``), the
uncompressed DataBlob of the manifest (magic = first 8 bytes of sha256 of PBS's magic string,
crc32 of the payload, payload) and the ``.protected`` marker are written here from
pbs-internals.md §1 and PBS's ``pbs-datastore/src/data_blob.rs``.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time
import zlib

BLOB_MAGIC = hashlib.sha256(b"Proxmox Backup uncompressed blob v1.0").digest()[:8]


def blob(payload: bytes) -> bytes:
    return BLOB_MAGIC + struct.pack("<I", zlib.crc32(payload)) + payload


def snapshot_dir(root: str, ns: str, btype: str, bid: str, t: int) -> str:
    parts = [p for seg in ns.split("/") if seg for p in ("ns", seg)]
    return os.path.join(root, *parts, btype, bid, time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime(t)))


def write_snapshot(root: str, ns: str, btype: str, bid: str, t: int, *,
                   finished: bool = True, protected: bool = False) -> str:
    path = snapshot_dir(root, ns, btype, bid, t)
    os.makedirs(path)
    if finished:
        manifest = {"backup-type": btype, "backup-id": bid, "backup-time": t, "files": [],
                    "signature": None, "unprotected": {}}
        with open(os.path.join(path, "index.json.blob"), "wb") as fh:
            fh.write(blob(json.dumps(manifest).encode()))
    if protected:
        open(os.path.join(path, ".protected"), "wb").close()
    with open(os.path.join(os.path.dirname(path), "owner"), "w") as fh:
        fh.write("root@pam\n")
    return path
