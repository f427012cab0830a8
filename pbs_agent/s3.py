"""A small read-only S3 client on the standard library: what the agent needs of an S3-backed
datastore's bucket (paged ListObjectsV2), with PBS's endpoint semantics.

Why not boto3: the agent runs on Debian's python3 with Debian-packaged dependencies only.
python3-boto3 is packaged, but it pulls botocore (tens of MB of service models) onto a backup
server for one read-only call, and its certificate handling cannot express PBS's
``fingerprint`` (trust exactly the certificate with this SHA-256, the way PBS talks to a
self-signed radosgw or MinIO). This client is AWS Signature V4 with ``hmac``/``hashlib``
(checked against botocore's signer in the tests), ``http.client`` over TLS only (PBS has no
plain-HTTP S3), path-style or virtual-host-style like proxmox-s3-client, and it reads
nothing it was not asked for: each response body is capped, XML with a DOCTYPE is refused.

Endpoint settings come from PBS's ``/etc/proxmox-backup/s3.cfg`` (section ``s3-endpoint``:
``endpoint`` with ``{{bucket}}``/``{{region}}`` templates, ``port``, ``region``,
``fingerprint``, ``access-key``, ``secret-key``, ``path-style``).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import ConfigError, SourceError, os_reason
from .pbsconfig import parse_section_config

#: proxmox-s3-client's region when none is configured.
DEFAULT_REGION = "us-west-1"
#: ListObjectsV2 pages are at most 1000 keys (S3's maximum); a page's XML is ~200 B per key.
PAGE_KEYS = 1000
MAX_RESPONSE_BYTES = 4 << 20
TIMEOUT = 60.0


@dataclass(frozen=True)
class Endpoint:
    """One ``s3-endpoint`` section of s3.cfg (the secret stays in memory, never printed)."""

    id: str
    endpoint: str
    access_key: str
    secret_key: str
    port: int = 443
    region: str = DEFAULT_REGION
    fingerprint: str | None = None
    path_style: bool = False

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback
        return f"Endpoint(id={self.id!r}, endpoint={self.endpoint!r}, port={self.port})"


def read_endpoint(config_dir: Path, endpoint_id: str) -> Endpoint:
    """The endpoint *endpoint_id* of ``<config_dir>/s3.cfg``; SourceError if the file cannot be
    read (the agent must be in group ``backup``: PBS writes it 0640 root:backup), ConfigError
    if the section is missing or broken."""
    path = config_dir / "s3.cfg"
    try:
        text = path.read_text()
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    problems: list[ConfigError] = []
    for sec in parse_section_config(text, str(path), problems):
        if sec.type != "s3-endpoint" or sec.id != endpoint_id:
            continue
        p = sec.props
        missing = [k for k in ("endpoint", "access-key", "secret-key") if not p.get(k)]
        if missing:
            raise ConfigError(f"{path}: s3-endpoint {endpoint_id!r} has no {missing[0]}")
        try:
            port = int(p.get("port", "443"))
        except ValueError:
            raise ConfigError(f"{path}: s3-endpoint {endpoint_id!r}: port "
                              f"{p['port']!r} is not a number") from None
        return Endpoint(endpoint_id, p["endpoint"], p["access-key"], p["secret-key"], port,
                        p.get("region") or DEFAULT_REGION, p.get("fingerprint") or None,
                        p.get("path-style", "false").lower() in ("1", "true", "yes", "on"))
    raise ConfigError(f"{path}: no s3-endpoint {endpoint_id!r}")


def _uri_encode(text: str, slash: bool = True) -> str:
    """SigV4's encoding: every byte but ``A-Za-z0-9-_.~`` (and ``/`` in paths)."""
    return quote(text, safe="/-_.~" if slash else "-_.~")


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(method: str, host: str, path: str, query: dict[str, str], ep: Endpoint,
         now: datetime.datetime, payload_hash: str) -> dict[str, str]:
    """The headers of an AWS Signature V4 request (``host``, ``x-amz-*``, ``authorization``)."""
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical_query = "&".join(f"{_uri_encode(k, False)}={_uri_encode(v, False)}"
                               for k, v in sorted(query.items()))
    canonical = "\n".join([method, _uri_encode(path), canonical_query,
                           "".join(f"{k}:{headers[k]}\n" for k in sorted(headers)),
                           signed, payload_hash])
    scope = f"{day}/{ep.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    signature = hmac.new(signing_key(ep.secret_key, day, ep.region), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ep.access_key}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    return headers


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 response: the keys and sizes, and what it cost."""

    keys: list[str]
    sizes: list[int]
    response_bytes: int
    next_token: str | None


class Bucket:
    """Read-only access to one bucket of an endpoint."""

    def __init__(self, ep: Endpoint, bucket: str) -> None:
        self.ep, self.bucket = ep, bucket
        host = ep.endpoint.replace("{{region}}", ep.region)
        if ep.path_style:
            host = host.replace("{{bucket}}.", "")
            self.base = f"/{bucket}"
        else:
            host = host.replace("{{bucket}}", bucket) if "{{bucket}}" in host \
                else f"{bucket}.{host}"
            self.base = "/"
        self.host = host
        self.where = f"s3://{bucket} at {host}:{ep.port}"

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.ep.fingerprint:  # trust exactly this certificate (self-signed endpoints)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx

    def get(self, query: dict[str, str]) -> bytes:
        """GET the bucket with *query*; SourceError naming the bucket on any failure."""
        host_header = self.host if self.ep.port == 443 else f"{self.host}:{self.ep.port}"
        now = datetime.datetime.now(datetime.UTC)
        headers = sign("GET", host_header, self.base, query, self.ep, now,
                       hashlib.sha256(b"").hexdigest())
        target = _uri_encode(self.base) + "?" + "&".join(
            f"{_uri_encode(k, False)}={_uri_encode(v, False)}" for k, v in sorted(query.items()))
        conn = http.client.HTTPSConnection(self.host, self.ep.port, context=self._context(),
                                           timeout=TIMEOUT)
        try:
            conn.connect()
            self._check_pin(conn)
            conn.request("GET", target, headers=headers)
            resp = conn.getresponse()
            body = resp.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(self.where, f"request failed: {exc}") from None
        finally:
            conn.close()
        if len(body) > MAX_RESPONSE_BYTES:
            raise SourceError(self.where, f"response larger than {MAX_RESPONSE_BYTES} bytes")
        if resp.status != 200:
            code = _error_code(body)
            raise SourceError(self.where, f"HTTP {resp.status}" + (f" {code}" if code else ""))
        return body

    def _check_pin(self, conn: http.client.HTTPSConnection) -> None:
        if not self.ep.fingerprint:
            return
        sock = conn.sock
        der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        got = hashlib.sha256(der or b"").hexdigest()
        if got != self.ep.fingerprint.replace(":", "").lower():
            raise SourceError(self.where, "certificate fingerprint does not match s3.cfg's "
                              "fingerprint (not trusted)")

    def pages(self, prefix: str, max_requests: int, page_keys: int = PAGE_KEYS
              ) -> Iterator[Page]:
        """ListObjectsV2 pages below *prefix*, at most *max_requests* of them."""
        token: str | None = None
        for _ in range(max_requests):
            query = {"list-type": "2", "prefix": prefix, "max-keys": str(page_keys)}
            if token:
                query["continuation-token"] = token
            body = self.get(query)
            page = parse_list_page(body, self.where)
            yield page
            token = page.next_token
            if token is None:
                return


def _error_code(body: bytes) -> str:
    try:
        return (_xml(body, "").findtext("Code") or "")[:80]
    except SourceError:
        return ""


def _xml(body: bytes, where: str) -> ET.Element:
    head = body[:1024].lower()
    if b"<!doctype" in head or b"<!entity" in head:
        raise SourceError(where, "response XML has a DOCTYPE/ENTITY (refused)")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SourceError(where, f"response is not XML: {exc}") from None
    for el in root.iter():  # drop the S3 namespace: tags become plain names
        el.tag = el.tag.rpartition("}")[2]
    return root


def parse_list_page(body: bytes, where: str) -> Page:
    """A ListObjectsV2 result; SourceError if it is not one."""
    root = _xml(body, where)
    if root.tag != "ListBucketResult":
        raise SourceError(where, f"expected ListBucketResult, got {root.tag[:40]!r}")
    keys, sizes = [], []
    for item in root.iter("Contents"):
        key, size = item.findtext("Key"), item.findtext("Size")
        if key is None or size is None or not size.isdigit():
            raise SourceError(where, "a Contents entry without Key or numeric Size")
        keys.append(key)
        sizes.append(int(size))
    truncated = root.findtext("IsTruncated") == "true"
    token = root.findtext("NextContinuationToken") if truncated else None
    if truncated and not token:
        raise SourceError(where, "truncated listing without NextContinuationToken")
    return Page(keys, sizes, len(body), token)
