local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.backups',
        rules: [
          {
            alert: 'PbsBackupStale',
            expr: 'time() - %s > %d * 3600'
                  % [m('pbs_group_last_backup_timestamp_seconds', 'backup_id!="__other__"'),
                     c.backupStaleHours],
            'for': '30m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'No new backup of {{ $labels.backup_type }}/{{ $labels.backup_id }} for %d h'
                       % c.backupStaleHours,
              description: "Datastore {{ $labels.datastore }} on {{ $labels.instance }}: the newest snapshot of {{ $labels.backup_type }}/{{ $labels.backup_id }} (namespace '{{ $labels.namespace }}') is {{ $value | humanizeDuration }} old.",
            },
          },
          {
            alert: 'PbsBackupFailed',
            expr: '%s == 0' % m('pbs_backup_last_success'),
            'for': '5m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Last backup of {{ $labels.backup_type }}/{{ $labels.backup_id }} failed',
              description: 'Datastore {{ $labels.datastore }} on {{ $labels.instance }}: the last backup task of {{ $labels.backup_type }}/{{ $labels.backup_id }} ended with an error.',
            },
          },
        ],
      },
    ],
  },
}
