local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.datastore',
        rules: [
          {
            alert: 'PbsDedupFactorDropping',
            expr: '%(f)s < %(r)s * max_over_time(%(f)s[%(w)s])'
                  % { f: m('pbs_datastore_dedup_factor'), r: promql.num(c.dedupFloorRatio), w: c.dedupWindow },
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Dedup factor of {{ $labels.datastore }} dropped by more than %d %% within %s'
                       % [promql.percent(1 - c.dedupFloorRatio),
                          std.strReplace(std.strReplace(c.dedupWindow, 'd', ' days'), 'h', ' hours')],
              description: 'Datastore {{ $labels.datastore }} on {{ $labels.instance }} deduplicates {{ $value | printf "%.2f" }}x now: new backups share fewer chunks (encryption change, new guests, changed chunking).',
            },
          },
          {
            alert: 'PbsChunksMissing',
            expr: '%s > 0' % m('pbs_datastore_missing_chunks'),
            'for': '15m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Datastore {{ $labels.datastore }} misses {{ $value }} referenced chunks',
              description: 'Snapshots on {{ $labels.instance }} reference chunks that are not in the chunk store: restores of those snapshots will fail. Run a verify job.',
            },
          },
          {
            alert: 'PbsChunksBad',
            expr: '%s > 0' % m('pbs_datastore_bad_chunks'),
            'for': '15m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Datastore {{ $labels.datastore }} has {{ $value }} bad chunks',
              description: 'Verify renamed corrupt chunks to .bad on {{ $labels.instance }}; the next backups of the affected guests re-upload them.',
            },
          },
          {
            alert: 'PbsGcNotRun',
            expr: 'time() - %s > %d * 86400 or %s == 1'
                  % [m('pbs_gc_last_end_timestamp_seconds'), c.gcMaxAgeDays,
                     m('pbs_job_never_run', 'job_type="garbage_collection"')],
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Garbage collection has not run for %d days on {{ $labels.instance }}'
                       % c.gcMaxAgeDays,
              description: 'Datastore {{ if $labels.datastore }}{{ $labels.datastore }}{{ else }}{{ $labels.job_id }} (GC job never run){{ end }}: without GC, pruned snapshots keep their chunks and the datastore fills up.',
            },
          },
          {
            alert: 'PbsGcFailed',
            expr: '%s == 0' % m('pbs_gc_last_success'),
            'for': '5m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Last garbage collection of {{ $labels.datastore }} failed',
              description: 'The last GC task of datastore {{ $labels.datastore }} on {{ $labels.instance }} ended with an error.',
            },
          },
          {
            alert: 'PbsDatastoreFullSoon',
            expr: '%s - time() < %d * 86400'
                  % [m('pbs_api_datastore_estimated_full_timestamp_seconds'), c.fullForecastDays],
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Datastore {{ $labels.datastore }} is forecast to be full within %d days'
                       % c.fullForecastDays,
              description: 'PBS estimates datastore {{ $labels.datastore }} on {{ $labels.instance }} is full in {{ $value | humanizeDuration }}.',
            },
          },
          {
            // Full before the next GC may remove what a prune freed: used bytes reach the size
            // within the horizon (predict_linear), at a rate that fills the datastore before
            // the pending garbage's atime passes GC's cutoff.
            alert: 'PbsDatastoreFullBeforeGarbageDue',
            expr: |||
              predict_linear(%(used)s[%(w)s], %(h)d) >= on (instance, job, datastore) %(size)s
              and on (instance, job, datastore)
                (%(size)s - %(used)s) / (deriv(%(used)s[%(w)s]) > 0)
                  < on (instance, job, datastore) (%(until)s - time())
              and on (instance, job, datastore) %(pending)s > 0
            ||| % { used: m('pbs_api_datastore_used_bytes'), size: m('pbs_api_datastore_size_bytes'),
                    until: m('pbs_datastore_garbage_pending_until_timestamp_seconds'),
                    pending: m('pbs_datastore_garbage_pending_bytes'),
                    w: c.fillRateWindow, h: c.fillBeforeGarbageHorizonSeconds },
            'for': '30m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Datastore {{ $labels.datastore }} fills up before its pending garbage can be collected',
              description: 'Datastore {{ $labels.datastore }} on {{ $labels.instance }} is forecast to be full (used bytes, %s trend) before the garbage GC must still keep (atime within the cutoff) becomes removable: a GC run will not make room in time. Free space or add capacity now; pruning more does not help before then.' % c.fillRateWindow,
            },
          },
          {
            alert: 'PbsDatastoreAlmostFull',
            expr: '%s / %s > %s' % [m('pbs_api_datastore_used_bytes'),
                                    m('pbs_api_datastore_size_bytes'),
                                    promql.num(c.datastoreFullRatio)],
            'for': '15m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Datastore {{ $labels.datastore }} is more than %d %% full'
                       % promql.percent(c.datastoreFullRatio),
              description: 'Datastore {{ $labels.datastore }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full.',
            },
          },
        ],
      },
    ],
  },
}
