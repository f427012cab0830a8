"""An S3-backed datastore (PBS 4) on moto's S3 server, a STAND-IN for S3 on loopback (TLS,
pinned fingerprint): the agent's report against an independent computation over the bucket
listing (boto3's paginator + the naive set-based reference), the request budget and interval,
the counters, the signer against botocore's, and a wrong certificate refused."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import unittest.mock
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from lab import s3_standin
from pbs_agent.demo import build_demo
from pbs_agent.engine import scan_datastore
from pbs_agent.engine.s3listing import Counters, Rationing, bucket_listing, list_bucket
from pbs_agent.errors import SourceError
from pbs_agent.s3 import Bucket, Endpoint, read_endpoint, sign

from .conftest import SMALL, normalized, reference_report

STORE, BUCKET = "s3store", "pbs-lab"
SMALL_PAGES = Rationing(page_keys=7)  # many pages from a small demo


@dataclass(frozen=True)
class S3Store:
    server: s3_standin.StandIn
    source: Path  # the same datastore on a filesystem
    cache: Path  # the local cache PBS keeps: indexes and manifests, empty chunk markers
    config: Path  # /etc/proxmox-backup with s3.cfg
    extra_garbage: int  # size of a chunk object only the bucket has


def _upload(client, src: Path) -> tuple[list[str], int]:
    """Put *src* into the bucket the way PBS 4 lays it out; return the chunk keys."""
    keys = []
    for dirpath, _, files in os.walk(src):
        for name in files:
            path = Path(dirpath) / name
            rel = path.relative_to(src)
            if rel.parts[0] == ".chunks":
                key = f"{STORE}/.chunks/{rel.parts[1]}/{name}"
                keys.append(key)
            elif name.startswith("."):
                continue  # .lock, .gc-status: local only
            else:
                key = f"{STORE}/.cnt/{rel}"
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    client.put_object(Bucket=BUCKET, Key=f"{STORE}/.in-use", Body=b'{"hostname":"lab"}')
    garbage = os.urandom(3000)
    digest = "ff00" + "ab" * 30
    client.put_object(Bucket=BUCKET, Key=f"{STORE}/.chunks/ff00/{digest}", Body=garbage)
    client.put_object(Bucket=BUCKET, Key=f"{STORE}/.chunks/ff00/stray.txt", Body=b"x")
    client.put_object(Bucket=BUCKET, Key=f"other/.chunks/0000/{'00' * 32}", Body=b"y" * 99)
    return keys, len(garbage)


def _cache_from(src: Path, cache: Path) -> None:
    """PBS's local cache: the non-chunk files, and one empty marker per chunk."""
    shutil.copytree(src, cache, ignore=lambda d, names: names if d.endswith(".chunks")
                    or "/.chunks/" in d + "/" else [])
    for sub in (src / ".chunks").iterdir():
        (cache / ".chunks" / sub.name).mkdir(parents=True, exist_ok=True)
        for chunk in sub.iterdir():
            (cache / ".chunks" / sub.name / chunk.name).touch()


@pytest.fixture(scope="module")
def s3store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Store]:
    base = tmp_path_factory.mktemp("s3ds")
    with s3_standin.running(base) as server:
        src = base / "src"
        build_demo(str(src), **SMALL)
        client = server.boto3()
        s3_standin.make_bucket(client, BUCKET)
        _, extra = _upload(client, src)
        _cache_from(src, base / "cache")
        config = base / "etc"
        config.mkdir()
        opts = server.endpoint_options()
        (config / "s3.cfg").write_text("s3-endpoint: lab\n" + "".join(
            f"\t{k} {v}\n" for k, v in sorted(opts.items())))
        yield S3Store(server, src, base / "cache", config, extra)


def _bucket(st: S3Store, **change: object) -> Bucket:
    ep = read_endpoint(st.config, "lab")
    return Bucket(Endpoint(**{**ep.__dict__, **change}), BUCKET)


def _independent(st: S3Store, where: Path) -> dict:
    """The naive reference over a tree whose chunk files have the sizes boto3 lists."""
    tree = where / "reference"
    shutil.copytree(st.cache, tree, ignore=lambda d, names: names if "/.chunks" in d else [])
    pages = st.server.boto3().get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{STORE}/.chunks/")
    for page in pages:
        for obj in page.get("Contents", []):
            sub, name = obj["Key"].split("/")[-2:]
            (tree / ".chunks" / sub).mkdir(parents=True, exist_ok=True)
            with (tree / ".chunks" / sub / name).open("wb") as fh:
                fh.truncate(obj["Size"])
    return reference_report(str(tree))


def test_report_matches_an_independent_computation_over_the_bucket(
        s3store: S3Store, tmp_path: Path) -> None:
    rep = scan_datastore(str(s3store.cache), state_dir=str(tmp_path / "state"),
                         chunks=bucket_listing(_bucket(s3store), STORE, tmp_path / "state",
                                               SMALL_PAGES)).as_dict()
    ref = _independent(s3store, tmp_path)
    assert {k: rep["datastore"][k] for k in ref["datastore"]} == ref["datastore"]
    got = {(g["namespace"], g["backup_type"], g["backup_id"]): g for g in rep["groups"]}
    assert len(got) == len(ref["groups"]) >= 4
    for g in ref["groups"]:
        assert {k: got[(g["namespace"], g["backup_type"], g["backup_id"])][k] for k in g} == g
    # the bucket-only chunk is garbage; the stray object is named, the other store not seen
    local = scan_datastore(str(s3store.source)).as_dict()
    assert rep["datastore"]["garbage_bytes"] == local["datastore"]["garbage_bytes"] \
        + s3store.extra_garbage
    assert rep["datastore"]["dedup_factor"] == local["datastore"]["dedup_factor"]
    assert normalized(rep)["groups"] == normalized(local)["groups"]
    stray = [e for e in rep["errors"] if e["path"].endswith("/stray.txt")]
    assert stray and stray[0]["reason"] == "not a chunk object: skipped"


def test_budget_interval_and_counters(s3store: S3Store, tmp_path: Path) -> None:
    state = tmp_path / "s3state"
    n_chunks = sum(1 for _ in (s3store.source / ".chunks").rglob("*")
                   if _.is_file()) + 2  # + the bucket-only chunk and the stray object
    pages = -(-n_chunks // 7)
    with pytest.raises(SourceError, match=r"request budget \(3 requests, 21 objects listed, "
                                          r"not complete\): raise --s3.request-budget"):
        list_bucket(_bucket(s3store), STORE, state, Rationing(request_budget=3, page_keys=7))
    after_stop = Counters.load(state / "counters.json")
    assert (after_stop.requests, after_stop.objects, after_stop.budget_stops) == (3, 21, 1)
    assert after_stop.response_bytes > 3 * 300
    now = 1_800_000_000.0
    rationing = Rationing(request_budget=1000, interval=3600, page_keys=7)
    first = list_bucket(_bucket(s3store), STORE, state, rationing, now=now)
    counted = Counters.load(state / "counters.json")
    assert counted.requests == 3 + pages and counted.objects == 21 + n_chunks
    assert counted.listings == 1
    again = list_bucket(_bucket(s3store), STORE, state, rationing, now=now + 3599)
    assert Counters.load(state / "counters.json") == counted  # no request within the interval
    assert again.fingerprint == first.fingerprint
    assert (again.sizes == first.sizes).all() and (again.prefixes == first.prefixes).all()
    list_bucket(_bucket(s3store), STORE, state, rationing, now=now + 3601)
    assert Counters.load(state / "counters.json").requests == counted.requests + pages


def test_wrong_certificate_is_not_trusted(s3store: S3Store, tmp_path: Path) -> None:
    bucket = _bucket(s3store, fingerprint=":".join(["ab"] * 32))
    with pytest.raises(SourceError, match="certificate fingerprint does not match"):
        list_bucket(bucket, STORE, tmp_path, Rationing())
    unpinned = _bucket(s3store, fingerprint=None)  # then the system CAs decide: not trusted
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        list_bucket(unpinned, STORE, tmp_path, Rationing())


def test_secret_is_not_in_the_repr(s3store: S3Store) -> None:
    ep = read_endpoint(s3store.config, "lab")
    assert s3_standin.SECRET_KEY not in repr(ep) and s3_standin.SECRET_KEY not in repr(
        _bucket(s3store).__dict__)


def test_signature_matches_botocore() -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    ep = Endpoint("x", "s3.example.org", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                  8443, "eu-central-1", None, True)
    query = {"list-type": "2", "prefix": "store 1/.chunks/", "max-keys": "1000",
             "continuation-token": "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="}
    now = datetime.datetime(2026, 7, 14, 12, 30, 5, tzinfo=datetime.UTC)
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    mine = sign("GET", "s3.example.org:8443", "/pbs-bucket", query, ep, now, empty)
    url = "https://s3.example.org:8443/pbs-bucket?" + "&".join(
        f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    req = AWSRequest("GET", url, headers={"x-amz-content-sha256": empty})
    auth = S3SigV4Auth(Credentials(ep.access_key, ep.secret_key), "s3", ep.region)
    with unittest.mock.patch("botocore.auth.get_current_datetime",
                             return_value=now.replace(tzinfo=None)):
        auth.add_auth(req)
    assert mine["authorization"] == req.headers["Authorization"], json.dumps(
        {"mine": mine["authorization"], "botocore": req.headers["Authorization"]})


def test_dedup_collector_scans_the_bucket_in_its_child(s3store: S3Store, tmp_path: Path) -> None:
    """datastore.cfg + s3.cfg as PBS writes them → the exporter's metrics for the S3 store."""
    from pbs_agent.collectors.base import CollectContext
    from pbs_agent.collectors.dedup import DedupCollector
    from pbs_agent.host import Settings

    config = tmp_path / "etc"
    shutil.copytree(s3store.config, config)
    (config / "datastore.cfg").write_text(
        f"datastore: {STORE}\n\tbackend bucket={BUCKET},client=lab,type=s3\n"
        f"\tpath {s3store.cache}\n")
    settings = Settings(config_dir=config, state_dir=tmp_path / "state", s3_request_budget=50)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in DedupCollector().collect(CollectContext(settings))
               for s in fam.samples}
    key = (("datastore", STORE),)
    assert samples[("pbs_datastore_scan_success", key)] == 1
    ref = _independent(s3store, tmp_path)["datastore"]
    assert samples[("pbs_datastore_physical_bytes", key)] == ref["physical_bytes"]
    assert samples[("pbs_datastore_garbage_bytes", key)] == ref["garbage_bytes"]
    assert samples[("pbs_datastore_backend_info", (("backend", "s3"), *key))] == 1
    assert samples[("pbs_s3_list_requests_total", key)] == 1  # 1000 keys a page
    assert samples[("pbs_s3_list_objects_total", key)] == ref["chunks_on_disk"] + 2
    assert samples[("pbs_s3_list_response_bytes_total", key)] > 1000
