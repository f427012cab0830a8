local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.jobs',
        rules: [
          {
            alert: 'PbsVerifyFailed',
            expr: '%s == 1 or %s == 0'
                  % [m('pbs_group_last_verify_state', 'state="failed"'),
                     m('pbs_job_last_success', 'job_type="verificationjob"')],
            'for': '5m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Verification failed on {{ $labels.instance }}',
              description: '{{ if $labels.job_id }}Verify job {{ $labels.job_id }}{{ else }}Datastore {{ $labels.datastore }}, {{ $labels.backup_type }}/{{ $labels.backup_id }}{{ end }}: the last verification found corrupt or missing chunks.',
            },
          },
          {
            alert: 'PbsVerifySnapshotsFailed',
            expr: 'increase(%s[%s]) > 0' % [m('pbs_verify_snapshots_total', 'result="failed"'), c.verifyFailedWindow],
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Verify found {{ $value | printf "%.0f" }} failed snapshots on datastore {{ $labels.datastore }}',
              description: "Verify tasks on {{ $labels.instance }} found snapshots of datastore {{ $labels.datastore }} whose archives or manifest did not verify within %s: restores of them may fail. The task log names them ('Failed to verify the following snapshots'); the next backup of each guest re-uploads the bad chunks." % c.verifyFailedWindow,
            },
          },
          {
            alert: 'PbsSyncFailed',
            expr: '%s == 0' % m('pbs_job_last_success', 'job_type="syncjob"'),
            'for': '5m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Sync job {{ $labels.job_id }} failed on {{ $labels.instance }}',
              description: 'The last run of sync job {{ $labels.job_id }} ended with an error: the off-site copy is falling behind.',
            },
          },
          {
            alert: 'PbsSyncNeverRan',
            expr: '%s == 1' % m('pbs_job_never_run', 'job_type="syncjob"'),
            'for': '1d',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Sync job {{ $labels.job_id }} has never run on {{ $labels.instance }}',
              description: 'Sync job {{ $labels.job_id }} exists for a day without a single run: check its schedule, remote and Remote.Audit permission.',
            },
          },
        ],
      },
    ],
  },
}
