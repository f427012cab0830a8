"""`pbs-agent report --html FILE`: the dedup report as one self-contained page.

No external asset (air-gapped hosts): inline CSS, charts as inline SVG bars drawn here, no
script. The page is built from the same dict as ``report --json``; every number shown carries
``data-key``/``data-value`` with the JSON's exact value, so a test can hold the page to it.
Labels are HTML (never SVG text), so they keep their size on a phone.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from typing import Any

from .units import human_bytes

#: Groups drawn in the charts (the table lists all of them).
CHART_GROUPS = 30
COLORS = {"exclusive": "#2f6db5", "shared": "#9cc0e8", "new": "#d9822b", "logical": "#6b7c93",
          "physical": "#2f6db5"}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:#1d2733;background:#f4f6f9}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0 .1em;overflow-wrap:anywhere}
h2{font-size:1.2rem;margin:1.6em 0 .5em}
p.sub{margin:0 0 1em;color:#4a5868;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
.card .label{font-size:.85rem;color:#4a5868}
.card .num{font-size:1.35rem;font-weight:600;overflow-wrap:anywhere}
.card.bad .num{color:#b3261e}
.card.ok .num{color:#1e7b34}
.panel{background:#fff;border-radius:8px;padding:12px;box-shadow:0 1px 2px #0002}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.9rem;margin:0 0 8px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.row{display:grid;grid-template-columns:minmax(0,14em) minmax(0,1fr) 15em;gap:4px 10px;
align-items:center;padding:3px 0}
.row .name{overflow-wrap:anywhere;font-size:.95rem}
.row .val{font-size:.9rem;text-align:right;white-space:nowrap}
svg.bar{display:block;width:100%;height:14px}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e3e8ee;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap}
td.t{white-space:nowrap}
.muted{color:#4a5868}
ul.faults{margin:.4em 0;padding-left:1.2em;overflow-wrap:anywhere}
footer{margin:2em 0 1em;font-size:.85rem;color:#4a5868}
@media (max-width:700px){
main{padding:10px}
.row{grid-template-columns:minmax(0,1fr) auto}
.row svg.bar{grid-column:1/-1;order:3}
table.groups thead{display:none}
table.groups,table.groups tbody,table.groups tr,table.groups td{display:block;width:100%}
table.groups tr{background:#fff;border-bottom:2px solid #e3e8ee;padding:6px 0}
table.groups td{border:0;padding:2px 4px;text-align:left;white-space:normal}
table.groups td::before{content:attr(data-label) ": ";color:#4a5868;font-size:.9rem}
table.groups td.name::before{content:""}
table.groups td.name{font-weight:600}
}
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(key: str, value: int | float | None, text: str | None = None) -> str:
    """A number bound to its JSON path: the test compares data-value with the report."""
    shown = text if text is not None else ("n/a" if value is None else str(value))
    raw = "null" if value is None else repr(value)
    return f'<span data-key="{_esc(key)}" data-value="{_esc(raw)}">{_esc(shown)}</span>'


def _bytes(key: str, value: int) -> str:
    return _num(key, value, human_bytes(value))


def _factor(key: str, value: float | None) -> str:
    return _num(key, value, "n/a" if value is None else f"{value:.2f}×")


def _when(epoch: int | None, utc: bool = True) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M" + " UTC" * utc, time.gmtime(epoch))


def _bar(parts: Iterable[tuple[float, str]], scale: float, label: str) -> str:
    """One horizontal bar of stacked parts (value, colour), *scale* = value of full width."""
    x, rects = 0.0, []
    for value, color in parts:
        w = 1000.0 * value / scale if scale > 0 else 0.0
        if w > 0:
            rects.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="14" fill="{color}"/>')
        x += w
    return (f'<svg class="bar" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img" '
            f'aria-label="{_esc(label)}"><rect x="0" y="0" width="1000" height="14" '
            f'fill="#eef1f5"/>{"".join(rects)}</svg>')


def _legend(*items: tuple[str, str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><span class="sw" style="background:{COLORS[k]}"></span>{_esc(t)}</span>'
        for k, t in items) + "</div>"


def _gkey(g: dict[str, Any]) -> str:
    base = f"{g['backup_type']}/{g['backup_id']}"
    return f"{g['namespace']}:{base}" if g["namespace"] else base


def _card(label: str, body: str, cls: str = "") -> str:
    return (f'<div class="card {cls}"><div class="label">{_esc(label)}</div>'
            f'<div class="num">{body}</div></div>')


def _summary(d: dict[str, Any], groups: int) -> str:
    return '<div class="cards">' + "".join([
        _card("Snapshots", f'{_num("datastore.snapshots", d["snapshots"])} in {groups} groups'),
        _card("Logical data", _bytes("datastore.logical_bytes", d["logical_bytes"])),
        _card("On disk (referenced)", _bytes("datastore.physical_bytes", d["physical_bytes"])),
        _card("Dedup factor", _factor("datastore.dedup_factor", d["dedup_factor"])),
        _card("Referenced chunks", _num("datastore.chunks_referenced", d["chunks_referenced"])),
        _card("Chunk files", _num("datastore.chunks_on_disk", d["chunks_on_disk"])),
        _card("Garbage", _bytes("datastore.garbage_bytes", d["garbage_bytes"]) + " in "
              + _num("datastore.garbage_chunks", d["garbage_chunks"]) + " chunks"),
        _card("Missing chunks", _num("datastore.missing_chunks", d["missing_chunks"]),
              "bad" if d["missing_chunks"] else "ok"),
        _card("Bad chunks (.bad)", _num("datastore.bad_chunks", d["bad_chunks"]),
              "bad" if d["bad_chunks"] else "ok"),
    ]) + "</div>"


def _space(groups: list[dict[str, Any]]) -> str:
    shown = sorted(groups, key=lambda g: -g["referenced_bytes"])[:CHART_GROUPS]
    scale = max((g["referenced_bytes"] for g in shown), default=0)
    rows = []
    for g in shown:
        k = _gkey(g)
        shared = g["referenced_bytes"] - g["exclusive_bytes"]
        rows.append(
            f'<div class="row"><span class="name">{_esc(k)}</span>'
            + _bar([(g["exclusive_bytes"], COLORS["exclusive"]), (shared, COLORS["shared"])],
                   scale, f"{k}: exclusive {human_bytes(g['exclusive_bytes'])}, shared "
                          f"{human_bytes(shared)}")
            + f'<span class="val">{_bytes(f"groups[{k}].exclusive_bytes", g["exclusive_bytes"])}'
              f' + {human_bytes(shared)} shared</span></div>')
    more = (f'<p class="muted">{len(groups) - len(shown)} smaller groups are in the table '
            f'below.</p>' if len(groups) > len(shown) else "")
    return ('<div class="panel">'
            + _legend(("exclusive", "exclusive: freed if the group is deleted"),
                      ("shared", "shared with other groups"))
            + ("".join(rows) or '<p class="muted">No groups.</p>') + more + "</div>")


def _added(groups: list[dict[str, Any]]) -> str:
    shown = sorted(groups, key=lambda g: -g["last_new_bytes"])[:CHART_GROUPS]
    scale = max((g["last_new_bytes"] for g in shown), default=0)
    rows = []
    for g in shown:
        k = _gkey(g)
        rows.append(
            f'<div class="row"><span class="name">{_esc(k)}<br><span class="muted">'
            f'{_esc(_when(g["last_backup_time"]))}</span></span>'
            + _bar([(g["last_new_bytes"], COLORS["new"])], scale,
                   f"{k}: last backup added {human_bytes(g['last_new_bytes'])}")
            + f'<span class="val">{_bytes(f"groups[{k}].last_new_bytes", g["last_new_bytes"])}'
              f'</span></div>')
    return ('<div class="panel">' + _legend(("new", "new chunks the newest snapshot added "
                                              "(on disk)"))
            + ("".join(rows) or '<p class="muted">No groups.</p>') + "</div>")


def _dedup(d: dict[str, Any]) -> str:
    scale = max(d["logical_bytes"], d["physical_bytes"])
    return ('<div class="panel">'
            + '<div class="row"><span class="name">logical</span>'
            + _bar([(d["logical_bytes"], COLORS["logical"])], scale, "logical bytes")
            + f'<span class="val">{human_bytes(d["logical_bytes"])}</span></div>'
            + '<div class="row"><span class="name">on disk</span>'
            + _bar([(d["physical_bytes"], COLORS["physical"])], scale, "on-disk bytes")
            + f'<span class="val">{human_bytes(d["physical_bytes"])}</span></div>'
            + '<p class="muted">The snapshots hold the logical bytes; their chunks take the '
              'on-disk bytes. Dedup factor = logical / on disk.</p></div>')


def _faults(d: dict[str, Any], groups: list[dict[str, Any]], errors: list[dict[str, str]]
            ) -> str:
    items = []
    for g in groups:
        if g["missing_chunks"] or g["bad_chunks"]:
            k = _gkey(g)
            items.append(f"<li>{_esc(k)}: "
                         f'{_num(f"groups[{k}].missing_chunks", g["missing_chunks"])} missing, '
                         f'{_num(f"groups[{k}].bad_chunks", g["bad_chunks"])} bad — run a '
                         f"verify; its next backup re-uploads them</li>")
    for e in errors[:50]:
        items.append(f"<li>{_esc(e['path'])}: {_esc(e['reason'])}</li>")
    if len(errors) > 50:
        items.append(f"<li>… {len(errors) - 50} more problems (see report --json)</li>")
    garbage = (f"<p>Garbage: {human_bytes(d['garbage_bytes'])} in {d['garbage_chunks']} chunk "
               f"files no snapshot references; the next garbage collection removes those older "
               f"than about 24 h.</p>")
    body = f'<ul class="faults">{"".join(items)}</ul>' if items else \
        '<p class="ok">No missing or bad chunks, no unreadable files.</p>'
    return f'<div class="panel">{garbage}{body}</div>'


def _retention_cell(plan: dict[str, Any] | None) -> str:
    if plan is None:
        return '<span class="muted">no prune job</span>'
    kept = plan["keep"]
    oldest = min((k["time"] for k in kept), default=None)
    return (f"{len(kept)} kept, {len(plan['remove'])} removed"
            + (f"; oldest kept {_esc(_when(oldest))}" if oldest is not None else ""))


def _table(groups: list[dict[str, Any]], retention: dict[str, dict[str, Any]] | None) -> str:
    head = ["Group", "Restorable points", "Newest (UTC)", "Oldest (UTC)", "Referenced", "Exclusive",
            "Last added", "Verify"]
    if retention is not None:
        head.append("Next prune")
    rows = []
    for g in sorted(groups, key=lambda g: -g["exclusive_bytes"]):
        k = _gkey(g)
        protected = (f" ({g['protected_snapshots']} protected)"
                     if g["protected_snapshots"] else "")
        cells = [
            ("name", "Group", _esc(k)),
            ("n", head[1], _num(f"groups[{k}].snapshots", g["snapshots"]) + protected),
            ("t", head[2], _esc(_when(g["last_backup_time"], utc=False))),
            ("t", head[3], _esc(_when(g["first_backup_time"], utc=False))),
            ("n", head[4], _bytes(f"groups[{k}].referenced_bytes", g["referenced_bytes"])),
            ("n", head[5], _bytes(f"groups[{k}].exclusive_bytes", g["exclusive_bytes"])),
            ("n", head[6], human_bytes(g["last_new_bytes"])),
            ("", head[7], _esc(g["last_verify_state"])),
        ]
        if retention is not None:
            cells.append(("", head[8], _retention_cell(retention.get(k))))
        rows.append("<tr>" + "".join(f'<td class="{c}" data-label="{_esc(lab)}">{v}</td>'
                                     for c, lab, v in cells) + "</tr>")
    ths = "".join(f'<th class="{"n" if i in (1, 4, 5, 6) else ""}">{_esc(h)}</th>'
                  for i, h in enumerate(head))
    return (f'<div class="panel"><table class="groups"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def render_html(report: dict[str, Any], retention: dict[str, dict[str, Any]] | None = None,
                retention_note: str = "", generated: int | None = None) -> str:
    """The page for *report* (``DatastoreReport.as_dict()``); *retention*: group name ->
    ``prune-plan --json`` entry of that group, None when no prune policy is known."""
    d, groups, errors = report["datastore"], report["groups"], report["errors"]
    stamp = _when(int(time.time()) if generated is None else generated)
    sections = [
        "<h2>Summary</h2>", _summary(d, len(groups)),
        "<h2>Space per group: exclusive and shared</h2>", _space(groups),
        "<h2>What the last backup of each group added</h2>", _added(groups),
        "<h2>Deduplication</h2>", _dedup(d),
        "<h2>Garbage and faults</h2>", _faults(d, groups, errors),
        "<h2>Groups and restorable points</h2>",
        f'<p class="muted">{_esc(retention_note)}</p>' if retention_note else "",
        _table(groups, retention),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>pbs-agent report: {_esc(d['path'])}</title><style>{CSS}</style></head>"
        f"<body><main><h1>Datastore {_esc(d['path'])}</h1>"
        f'<p class="sub">pbs-agent dedup report, {_esc(stamp)} (read-only scan)</p>'
        + "".join(sections)
        + "<footer>Exclusive bytes are freed when a group is deleted (after the next garbage "
          "collection); shared bytes stay while any other group references them.</footer>"
        "</main></body></html>\n"
    )
