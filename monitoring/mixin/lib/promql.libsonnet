// PromQL helpers shared by alerts, rules and dashboards.
{
  // A selector `{...}` from the non-empty matcher strings, or '' when there are none.
  matchers(parts):: (
    local kept = std.filter(function(p) p != '', parts);
    if std.length(kept) == 0 then '' else '{' + std.join(',', kept) + '}'
  ),
  // A number as PromQL text: 0.8, not jsonnet's 0.80000000000000004.
  num(x):: '%.15g' % x,
  // A whole percentage of a ratio (0.9 -> 90), rounded to the nearest integer.
  percent(ratio):: std.floor(ratio * 100 + 0.5),
}
