// Every guest has a fresh, verified, restorable backup: prometheus-pve-exporter's guests
// (pve:guest_backup_expected) against the agent's groups (rules/coverage.libsonnet).
{
  prometheusAlerts+:: {
    local c = $._config,
    local by = $._coverage.joinBy,
    local expected = 'pve:guest_backup_expected',
    local age(rec) = '(time() - %s)' % rec,
    local named(expr) = '(%s) * on (%s) group_left (node, name) %s' % [expr, by, expected],
    local rpo = '%d * 3600' % c.coverageRpoHours,
    groups+: [
      {
        name: 'pbs-fleet.coverage',
        rules: [
          {
            alert: 'GuestNotBackedUp',
            expr: '(%(e)s unless on (%(by)s) pbs:guest_last_backup_timestamp_seconds) or (%(e)s and on (id) pve_not_backed_up_info%(g)s)'
                  % { e: expected, by: by,
                      g: if c.guestSelector == '' then '' else '{%s}' % c.guestSelector },
            'for': c.coverageGrace,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Guest {{ $labels.id }} ({{ $labels.name }}) has no backup on PBS',
              description: 'Guest {{ $labels.id }} "{{ $labels.name }}" on node {{ $labels.node }} is in no PVE backup job or has no backup group on any PBS datastore. Add it to a backup job, or tag it %s if it is not backed up on purpose.' % c.coverageExcludeTag,
            },
          },
          {
            alert: 'GuestBackupStale',
            expr: named('%s > %s' % [age('pbs:guest_last_backup_timestamp_seconds'), rpo]),
            'for': '30m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Newest backup of guest {{ $labels.id }} ({{ $labels.name }}) is older than %d h' % c.coverageRpoHours,
              description: 'Guest {{ $labels.id }} "{{ $labels.name }}" on node {{ $labels.node }}: the newest snapshot on PBS is {{ $value | humanizeDuration }} old (RPO %d h).' % c.coverageRpoHours,
            },
          },
          {
            alert: 'GuestRestorePointMissing',
            expr: named('(%s > %s) unless on (%s) (%s > %s)'
                        % [age('pbs:guest_last_restorable_timestamp_seconds'), rpo, by,
                           age('pbs:guest_last_backup_timestamp_seconds'), rpo]),
            'for': '30m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Guest {{ $labels.id }} ({{ $labels.name }}) is backed up but has no restorable snapshot within %d h' % c.coverageRpoHours,
              description: 'Guest {{ $labels.id }} "{{ $labels.name }}" on node {{ $labels.node }}: recent snapshots exist, but the newest one that can be restored (manifest not failed, every chunk present) is {{ $value | humanizeDuration }} old. Run a verify job and check the datastore for missing or bad chunks.',
            },
          },
          {
            alert: 'GuestBackupNotVerified',
            expr: named('%s > %d * 86400'
                        % [age('pbs:guest_last_verified_ok_timestamp_seconds'), c.coverageVerifyDays]),
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'No snapshot of guest {{ $labels.id }} ({{ $labels.name }}) verified ok within %d days' % c.coverageVerifyDays,
              description: 'Guest {{ $labels.id }} "{{ $labels.name }}" on node {{ $labels.node }}: the newest snapshot that verify found ok is {{ $value | humanizeDuration }} old (or none ever). Schedule a verify job for its datastore.',
            },
          },
        ],
      },
    ],
  },
}
