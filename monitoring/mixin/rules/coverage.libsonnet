// Guest coverage: the agent's PBS groups turned into PVE guest ids, and the guests that are
// expected to be backed up. prometheus-pve-exporter (prometheus-pve/prometheus-pve-exporter,
// src/pve_exporter/collector/cluster.py at 316e9d9, release 3.10.0) labels guests with
// id="qemu/<vmid>" / id="lxc/<vmid>" (the /cluster/resources id; pve_not_backed_up_info builds
// the same from type/vmid); pve_guest_info carries node, name, type, template ("0"/"1") and
// tags (";"-separated).
local promql = import '../lib/promql.libsonnet';

{
  _coverage:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    local joinBy = std.join(', ', ['id'] + c.coverageJoinLabels),
    // `namespace` copied into the join label(s) (only pbs_namespace is meaningful there).
    local withJoin(expr) = std.foldl(
      function(e, l) 'label_replace(%s, "%s", "$1", "namespace", "(.*)")' % [e, l],
      c.coverageJoinLabels, expr),
    // One PBS group series per guest id: max over datastores, hosts and namespaces.
    guestSeries(metric):: 'max by (%s) (%s or %s)' % [
      joinBy,
      withJoin('label_replace(%s, "id", "qemu/$1", "backup_id", "(.+)")'
               % m(metric, 'backup_type="vm"')),
      withJoin('label_replace(%s, "id", "lxc/$1", "backup_id", "(.+)")'
               % m(metric, 'backup_type="ct"')),
    ],
    joinBy:: joinBy,
    expected:: (
      local tag = 'tags!~"(.*;)?%s(;.*)?"' % c.coverageExcludeTag;
      local ids = if std.length(c.coverageExcludeIds) == 0 then ''
                  else 'id!~"%s"' % std.join('|', c.coverageExcludeIds);
      'max by (%s, node, name) (pve_guest_info%s)'
      % [joinBy, promql.matchers([c.guestSelector, 'template!="1"',
                                  if c.coverageExcludeTag == '' then '' else tag, ids])]
    ),
  },

  prometheusRules+:: {
    groups+: [
      {
        name: 'pbs-fleet.coverage-recording',
        rules: [
          {
            record: 'pve:guest_backup_expected',
            expr: $._coverage.expected,
          },
          {
            record: 'pbs:guest_last_backup_timestamp_seconds',
            expr: $._coverage.guestSeries('pbs_group_last_backup_timestamp_seconds'),
          },
          {
            record: 'pbs:guest_last_restorable_timestamp_seconds',
            expr: $._coverage.guestSeries('pbs_group_last_restorable_timestamp_seconds'),
          },
          {
            record: 'pbs:guest_last_verified_ok_timestamp_seconds',
            expr: $._coverage.guestSeries('pbs_group_last_verified_ok_timestamp_seconds'),
          },
        ],
      },
    ],
  },
}
