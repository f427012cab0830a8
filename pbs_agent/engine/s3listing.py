"""The chunk listing of an S3-backed datastore, from its bucket (PBS 4).

PBS 4 keeps an S3 datastore's chunks in the bucket as ``<store>/.chunks/<4 hex>/<64 hex>``
(the object is the chunk blob, the same bytes as a chunk file on a filesystem datastore) and
verify renames corrupt ones to ``<digest>.<n>.bad`` (pbs-datastore/src/s3.rs, 4.2.3). The
local cache directory only holds markers and an LRU of some chunks, so sizes come from the
bucket listing; the indexes are read from the local cache, where PBS writes them before
uploading (src/api2/backup/environment.rs).

Listing costs money (one LIST request per 1000 chunks), so it is rationed:

* at most ``request_budget`` requests per listing; a listing that would need more stops and
  the datastore gets no report (never numbers from half a bucket) — the error says how many
  objects were seen and which setting to raise;
* at most one listing per ``interval`` seconds: in between, the last complete listing (saved
  in the state directory, 12 bytes per chunk) is used;
* every request, response byte and object listed is added to persistent counters
  (``<state>/s3/<store>/counters.json``), exported as ``pbs_s3_list_*_total``.

Memory: a page (≤ 1000 keys) is turned into numpy arrays at once; only the arrays (12 bytes
per chunk) are kept, as for a filesystem listing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ScanIssue, SourceError
from ..formats import BAD_CHUNK_NAME_RE, CHUNK_NAME_RE
from ..s3 import PAGE_KEYS, Bucket, Page
from .chunks import MAX_CHUNK_FILE, ChunkListing

DEFAULT_REQUEST_BUDGET = 10_000  # 10 M chunks, ~40 TB at PBS's 4 MiB average chunk
DEFAULT_INTERVAL = 6 * 3600.0


@dataclass(frozen=True)
class S3Source:
    """Where an S3-backed datastore's chunks are listed from (no secret: the child reads it
    from ``<config_dir>/s3.cfg``) and how much listing is allowed."""

    config_dir: str
    endpoint: str
    bucket: str
    request_budget: int = DEFAULT_REQUEST_BUDGET
    interval: float = DEFAULT_INTERVAL

    def chunks(self, store: str, state_dir: Path) -> Callable[[], ChunkListing]:
        """The chunk source for :func:`~pbs_agent.engine.scan.scan_datastore`; ConfigError or
        SourceError if the endpoint cannot be read."""
        from ..s3 import read_endpoint

        bucket = Bucket(read_endpoint(Path(self.config_dir), self.endpoint), self.bucket)
        return bucket_listing(bucket, store, state_dir,
                              Rationing(self.request_budget, self.interval))


@dataclass
class Counters:
    """What listing this datastore's bucket has cost since the counters were created."""

    requests: int = 0
    response_bytes: int = 0
    objects: int = 0
    listings: int = 0  # complete listings
    budget_stops: int = 0  # listings stopped by the request budget

    @classmethod
    def load(cls, path: Path) -> Counters:
        try:
            data = json.loads(path.read_text())
            return cls(**{k: int(data.get(k, 0)) for k in asdict(cls())})
        except (OSError, ValueError, TypeError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        os.replace(tmp, path)


def state_dir_of(state_dir: Path, store: str) -> Path:
    return state_dir / "s3" / store


@dataclass(frozen=True)
class Rationing:
    """How much listing is allowed: requests per listing, seconds between listings."""

    request_budget: int = DEFAULT_REQUEST_BUDGET
    interval: float = DEFAULT_INTERVAL
    page_keys: int = PAGE_KEYS


def _page_arrays(page: Page, prefix: str, issues: list[ScanIssue], where: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    good: list[str] = []
    sizes: list[int] = []
    bad: list[str] = []
    for key, size in zip(page.keys, page.sizes, strict=True):
        rest = key[len(prefix):]
        sub, _, name = rest.partition("/")
        if len(name) == 64 and CHUNK_NAME_RE.match(name) and name.startswith(sub):
            if size > MAX_CHUNK_FILE:
                issues.append(ScanIssue(f"{where}/{key}", f"object of {size} bytes is not a "
                                        "chunk (larger than 4 GiB): skipped"))
                continue
            good.append(name[:16])
            sizes.append(size)
        elif BAD_CHUNK_NAME_RE.match(name) and name.startswith(sub):
            bad.append(name[:16])
        else:
            issues.append(ScanIssue(f"{where}/{key}", "not a chunk object: skipped"))

    def prefixes(names: list[str]) -> np.ndarray:
        if not names:
            return np.zeros(0, np.uint64)
        return np.frombuffer(bytes.fromhex("".join(names)), dtype=">u8").astype(np.uint64)

    return prefixes(good), np.asarray(sizes, dtype=np.uint32), prefixes(bad)


def list_bucket(bucket: Bucket, store: str, state: Path, rationing: Rationing,
                now: float | None = None) -> ChunkListing:
    """The chunk listing of *store* in *bucket*: the saved one while it is younger than the
    interval, else a fresh paged listing. SourceError when the bucket cannot be listed or the
    budget runs out before the listing is complete."""
    now = time.time() if now is None else now
    saved = state / "listing.npz"
    counters_path = state / "counters.json"
    meta_path = state / "listing.json"
    try:
        meta = json.loads(meta_path.read_text())
        fresh = now - float(meta["time"]) < rationing.interval and meta["bucket"] == bucket.where
    except (OSError, ValueError, KeyError, TypeError):
        meta, fresh = None, False
    if fresh and meta is not None and saved.exists():
        with np.load(saved) as data:
            arrays = (data["prefixes"], data["sizes"], data["bad"],
                      np.zeros(len(data["prefixes"]), np.uint32))
        kept = [ScanIssue(i["path"], i["reason"]) for i in meta.get("issues", [])]
        return ChunkListing(kept, 0, meta["fingerprint"], arrays, atimes_known=False)

    prefix = f"{store}/.chunks/"
    counters = Counters.load(counters_path)
    issues: list[ScanIssue] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    digest = hashlib.sha256()
    requests = objects = 0
    complete = False
    try:
        for page in bucket.pages(prefix, rationing.request_budget, rationing.page_keys):
            requests += 1
            objects += len(page.keys)
            counters.requests += 1
            counters.response_bytes += page.response_bytes
            counters.objects += len(page.keys)
            for key, size in zip(page.keys, page.sizes, strict=True):
                digest.update(f"{key}\0{size}\n".encode())
            parts.append(_page_arrays(page, prefix, issues, bucket.where))
            complete = page.next_token is None
    finally:
        if not complete and requests >= rationing.request_budget:
            counters.budget_stops += 1
        counters.listings += int(complete)
        counters.save(counters_path)
    if not complete:
        raise SourceError(bucket.where, f"listing of {prefix} stopped at the request budget "
                          f"({requests} requests, {objects} objects listed, not complete): "
                          "raise --s3.request-budget")
    pre = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    sizes = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.uint32)
    bad = np.sort(np.concatenate([p[2] for p in parts])) if parts else np.zeros(0, np.uint64)
    order = np.argsort(pre, kind="stable")
    arrays = (pre[order], sizes[order], bad, np.zeros(len(pre), np.uint32))
    fingerprint = "s3:" + digest.hexdigest()
    state.mkdir(parents=True, exist_ok=True)
    tmp = state / "listing.tmp.npz"
    np.savez(tmp, prefixes=arrays[0], sizes=arrays[1], bad=arrays[2])
    os.replace(tmp, saved)
    meta_path.write_text(json.dumps({"time": now, "bucket": bucket.where,
                                     "fingerprint": fingerprint,
                                     "issues": [i.as_dict() for i in issues[:1000]]}))
    # GC judges an S3 chunk by the atime of its local cache marker, which is not listed here
    return ChunkListing(issues, 0, fingerprint, arrays, atimes_known=False)


def bucket_listing(bucket: Bucket, store: str, state_dir: Path,
                   rationing: Rationing) -> Callable[[], ChunkListing]:
    """A chunk source for :func:`~pbs_agent.engine.scan.scan_datastore`."""
    return lambda: list_bucket(bucket, store, state_dir_of(state_dir, store), rationing)
