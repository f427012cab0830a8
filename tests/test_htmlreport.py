"""`pbs-agent report --html`: one self-contained page whose numbers are the JSON report's,
looked at in Debian's headless Chromium at desktop and phone width (overflow, legibility)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pbs_agent.cli import main
from pbs_agent.units import human_bytes

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: viewport widths in CSS px: a laptop, a phone (iPhone 12-15 logical width)
WIDTHS = {"desktop": 1280, "phone": 390}
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="Debian's chromium (scripts/apt-packages-test.txt)")

#: Test-only probe page: the report in an iframe exactly WIDTH CSS px wide (headless Chromium's
#: own window is at least 500 px), measured from outside once it has loaded; the result lands
#: in the DOM that --dump-dom prints. Needs --allow-file-access-from-files.
PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="%(src)s" style="border:0;width:%(width)dpx;height:900px"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const w = document.getElementById('f').contentWindow, d = w.document;
  const out = {innerWidth: w.innerWidth, scrollWidth: d.documentElement.scrollWidth,
               small: [], clipped: [], offscreen: [], minFont: 1e9, texts: 0};
  for (const el of d.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter(n => n.nodeType === 3)
                  .map(n => n.textContent).join('').trim();
    if (!text) continue;
    out.texts++;
    const cs = w.getComputedStyle(el);
    const size = parseFloat(cs.fontSize);
    out.minFont = Math.min(out.minFont, size);
    if (size < 12) out.small.push(`${el.tagName} ${size}px: ${text.slice(0, 40)}`);
    if (cs.display !== 'inline' && el.scrollWidth > el.clientWidth + 1)
      out.clipped.push(`${el.tagName}: ${text.slice(0, 40)}`);
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > w.innerWidth + 0.5 || r.left < -0.5))
      out.offscreen.push(`${el.tagName} ${r.left.toFixed(0)}..${r.right.toFixed(0)}: ` +
                         text.slice(0, 40));
  }
  out.dom = d.documentElement.outerHTML;
  document.body.setAttribute('data-layout', JSON.stringify(out));
});
</script></body></html>"""


class _Numbers(HTMLParser):
    """Every element with data-key: (key, data-value, its text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []
        self._open: list[list[str]] = []
        self.external: list[str] = []
        self.layout: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("src", "href", "xlink:href"):
            if a.get(name):
                self.external.append(f"{tag} {name}={a[name]}")
        if tag in ("link", "iframe", "object", "embed", "img"):
            self.external.append(tag)
        if tag == "body" and a.get("data-layout"):
            self.layout = a["data-layout"]
        if "data-key" in a:
            self._open.append([a["data-key"] or "", a.get("data-value") or "", ""])

    def handle_data(self, data: str) -> None:
        for item in self._open:
            item[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open:
            self.found.append(tuple(self._open.pop()))  # type: ignore[arg-type]


def _parse(text: str) -> _Numbers:
    p = _Numbers()
    p.feed(text)
    return p


def _json_value(report: dict[str, Any], key: str) -> Any:
    m = re.fullmatch(r"datastore\.(\w+)", key)
    if m:
        return report["datastore"][m.group(1)]
    m = re.fullmatch(r"groups\[(.+)\]\.(\w+)", key)
    assert m, key
    name, field = m.groups()
    for g in report["groups"]:
        base = f"{g['backup_type']}/{g['backup_id']}"
        if (f"{g['namespace']}:{base}" if g["namespace"] else base) == name:
            return g[field]
    raise AssertionError(f"no group {name}")


def _assert_numbers_match(page: str, report: dict[str, Any]) -> int:
    found = _parse(page).found
    for key, raw, text in found:
        want = _json_value(report, key)
        assert raw == ("null" if want is None else repr(want)), key
        if key.endswith("_bytes"):
            assert text == human_bytes(want), key
        elif key.endswith("dedup_factor"):
            assert text == ("n/a" if want is None else f"{want:.2f}×"), key
        else:
            assert text == str(want), key
    return len(found)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo datastore with garbage, missing and bad chunks, its JSON report and its page."""
    root = tmp_path_factory.mktemp("html")
    ds, state, page = root / "ds", root / "state", root / "report.html"
    assert main(["demo", str(ds), "--vms", "4", "--cts", "2", "--days", "10", "--garbage", "3",
                 "--missing", "2", "--bad", "1"]) == 0
    args = [str(ds), "--state-dir", str(state), "--pbs.config-dir", str(root / "no-etc")]
    assert main(["report", "--json", "--html", str(page), *args]) == 0
    return {"root": root, "ds": ds, "page": page, "args": args}


def _report(demo: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", "--json", *demo["args"]]) == 0
    return json.loads(capsys.readouterr().out)


def test_numbers_on_the_page_are_the_json_reports(demo, capsys) -> None:
    report = _report(demo, capsys)
    page = demo["page"].read_text()
    n = _assert_numbers_match(page, report)
    keys = {k for k, _, _ in _parse(page).found}
    assert {"datastore.logical_bytes", "datastore.physical_bytes", "datastore.dedup_factor",
            "datastore.garbage_bytes", "datastore.missing_chunks", "datastore.bad_chunks"} <= keys
    for g in report["groups"]:  # every group: space split and what its last backup added
        name = f"{g['namespace']}:" * bool(g["namespace"]) + f"{g['backup_type']}/{g['backup_id']}"
        assert {f"groups[{name}].exclusive_bytes", f"groups[{name}].last_new_bytes",
                f"groups[{name}].snapshots"} <= keys
    assert n >= 6 + 5 * len(report["groups"])


def test_a_wrong_number_is_caught(demo, capsys) -> None:
    """The comparison can fail: one altered value on the page is found."""
    report = _report(demo, capsys)
    page = demo["page"].read_text()
    raw = repr(report["datastore"]["logical_bytes"])
    bad = page.replace(f'data-value="{raw}"', f'data-value="{int(raw) + 1}"', 1)
    with pytest.raises(AssertionError, match="logical_bytes"):
        _assert_numbers_match(bad, report)


def test_page_is_self_contained(demo) -> None:
    page = demo["page"].read_text()
    parsed = _parse(page)
    assert parsed.external == []
    assert "<script" not in page and "url(" not in page and "@import" not in page
    assert "http://" not in page and "https://" not in page
    assert page.count("<svg") >= 2 * 6  # a bar per group in two charts


def test_retention_from_the_prune_jobs(demo, tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "datastore.cfg").write_text(f"datastore: demo\n\tpath {demo['ds']}\n")
    (etc / "prune.cfg").write_text("prune: daily\n\tstore demo\n\tschedule daily\n"
                                   "\tkeep-last 3\n")
    page = tmp_path / "r.html"
    assert main(["report", str(demo["ds"]), "--state-dir", str(demo["root"] / "state"),
                 "--pbs.config-dir", str(etc), "--html", str(page)]) == 0
    text = page.read_text()
    assert "Next prune: the prune jobs of datastore demo" in text
    assert "3 kept, 7 removed" in text  # 10 daily snapshots, keep-last 3 (protected: kept too)


def test_no_prune_job_known_says_so(demo) -> None:
    assert "Retention unknown, no PBS configuration read" in demo["page"].read_text()


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--force-device-scale-factor=1",
                           "--no-first-run", "--disable-extensions", *args],
                          capture_output=True, text=True, timeout=180)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@needs_chromium
@pytest.mark.parametrize("view", sorted(WIDTHS))
def test_in_chromium_no_overflow_and_legible(demo, view: str, capsys) -> None:
    width = WIDTHS[view]
    probe = demo["root"] / f"probe-{view}.html"
    probe.write_text(PROBE % {"src": demo["page"].name, "width": width})
    proc = _chromium(f"--window-size={width + 40},1000", "--allow-file-access-from-files",
                     "--dump-dom", probe.as_uri())
    parsed = _parse(proc.stdout)
    assert parsed.layout, proc.stderr[-2000:]
    layout = json.loads(parsed.layout)
    assert layout["innerWidth"] == width
    assert layout["scrollWidth"] <= width, "horizontal overflow"
    assert layout["texts"] > 50
    assert layout["minFont"] >= 12 and layout["small"] == []
    assert layout["clipped"] == [] and layout["offscreen"] == []
    # what Chromium rendered (not just the file) carries the JSON's numbers
    assert _assert_numbers_match(layout["dom"], _report(demo, capsys)) > 20


@needs_chromium
@pytest.mark.parametrize("view", sorted(WIDTHS))
def test_screenshots(demo, view: str) -> None:
    """Screenshots at both widths; PBS_AGENT_UPDATE_SCREENSHOTS=1 refreshes docs/."""
    shot = demo["root"] / f"report-{view}.png"
    proc = _chromium(f"--window-size={WIDTHS[view]},1800", f"--screenshot={shot}",
                     demo["page"].as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    assert _png_size(shot) == (WIDTHS[view], 1800)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    if os.environ.get("PBS_AGENT_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, DOCS / f"report-html-{view}.png")
