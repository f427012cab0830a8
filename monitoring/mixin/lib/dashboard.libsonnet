// Small builders for the hand-written Grafana dashboard (no grafonnet: the mixin builds
// offline with Debian's jsonnet alone). Panels flow left to right in rows of 24 columns;
// ids, refIds and gridPos are computed, so adding a panel is one entry in a row.
{
  datasource:: { type: 'prometheus', uid: '${DS_PROMETHEUS}' },

  target(expr, legend='', instant=false, table=false):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legend,
  } + (if instant then { instant: true, range: false } else {})
    + (if table then { format: 'table' } else {}),

  panel(type, title, w, h, description, targets, defaults={}, options={}):: {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    size:: { w: w, h: h },
    targets: std.mapWithIndex(
      function(i, t) t { refId: std.char(std.codepoint('A') + i) }, targets
    ),
    fieldConfig: { defaults: defaults, overrides: [] },
    options: options,
  },

  row(title, panels):: { title: title, panels: panels },

  // Thresholds from green up: steps = [[color, value], ...] after the base colour.
  thresholds(base, steps):: {
    mode: 'absolute',
    steps: [{ color: base, value: null }] + [{ color: s[0], value: s[1] } for s in steps],
  },

  // Lays rows out top to bottom: each row header is 1 high, its panels wrap at 24 columns,
  // a new line starts below the tallest panel of the line before.
  layout(rows):: (
    local placeRow(state, row) = (
      local header = { type: 'row', title: row.title, collapsed: false, panels: [],
                       gridPos: { h: 1, w: 24, x: 0, y: state.y } };
      local flow = std.foldl(
        function(s, p)
          local wrap = s.x + p.size.w > 24;
          local x = if wrap then 0 else s.x;
          local y = if wrap then s.y + s.lineH else s.y;
          local lineH = if wrap then p.size.h else std.max(s.lineH, p.size.h);
          { x: x + p.size.w, y: y, lineH: lineH,
            out: s.out + [p { gridPos: { h: p.size.h, w: p.size.w, x: x, y: y } }] },
        row.panels,
        { x: 0, y: state.y + 1, lineH: 0, out: [] }
      );
      { y: flow.y + flow.lineH, out: state.out + [header] + flow.out }
    );
    local placed = std.foldl(placeRow, rows, { y: 0, out: [] }).out;
    std.mapWithIndex(function(i, p) { id: i + 1 } + p, placed)
  ),
}
