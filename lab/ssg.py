"""Debian's SCAP content for the OpenSCAP audit of sandbox hosts (tests/sandbox).

Debian 12's ``ssg-debian`` (0.1.65) ships content for Debian 10 and 11 only, so on a Debian 12
host every rule of it is "notapplicable". Debian 13's ``ssg-debian`` (0.1.76, architecture
``all``: XML only) has the Debian 12 content. :func:`datastream` downloads that package with
apt (a private list directory, through the lab's apt cache), extracts
``ssg-debian<N>-ds.xml`` and keeps it in the cache; the audit uploads it to the host
(``audit_ssg_datastream``).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from lab.sandbox.config import APT_PROXY_URL, HarnessError, Paths

CONTENT_DIR = "usr/share/xml/scap/ssg/content"
SOURCES = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
           "http://deb.debian.org/debian {suite} main\n")


def datastream(debian_version: int, suite: str = "trixie",
               paths: Paths | None = None) -> tuple[Path, str]:
    """``(path, "ssg-debian <version> (<suite>)")`` of ``ssg-debian<debian_version>-ds.xml``
    from *suite*'s ssg-debian package; HarnessError when that package has no such content."""
    paths = paths or Paths.from_env()
    root = paths.cache / "ssg" / suite
    found = sorted(root.glob(f"ssg-debian_*/{CONTENT_DIR}/ssg-debian{debian_version}-ds.xml"))
    if not found:
        _fetch(root, suite)
        found = sorted(root.glob(f"ssg-debian_*/{CONTENT_DIR}/"
                                 f"ssg-debian{debian_version}-ds.xml"))
    if not found:
        raise HarnessError(f"ssg-debian of {suite} has no content for Debian {debian_version}")
    version = found[-1].parts[-len(Path(CONTENT_DIR).parts) - 2].removeprefix("ssg-debian_")
    return found[-1], f"ssg-debian {version} ({suite})"


def _fetch(root: Path, suite: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pf-ssg-") as tmp:
        work = Path(tmp)
        (work / "lists/partial").mkdir(parents=True)
        (work / "cache/archives/partial").mkdir(parents=True)
        (work / "sources.list").write_text(SOURCES.format(suite=suite))
        options = ["-o", f"Dir::Etc::SourceList={work}/sources.list",
                   "-o", "Dir::Etc::SourceParts=/dev/null",
                   "-o", f"Dir::State::Lists={work}/lists", "-o", f"Dir::Cache={work}/cache",
                   "-o", f"Acquire::http::Proxy={APT_PROXY_URL}", "-q"]
        for argv in (["apt-get", *options, "update"],
                     ["apt-get", *options, "download", "ssg-debian"]):
            proc = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=600,
                                  check=False)
            if proc.returncode != 0:
                raise HarnessError(f"{' '.join(argv[:1] + argv[-1:])} for {suite}'s ssg-debian "
                                   f"failed: {proc.stderr.strip()[-400:]}")
        for deb in work.glob("ssg-debian_*_all.deb"):
            target = root / deb.name.removesuffix("_all.deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True, timeout=120)

