// Recording rules the dashboard and the alerts build on.
local promql = import '../lib/promql.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.recording',
        rules: [
          {
            record: 'pbs:group_backup_age_seconds',
            expr: 'time() - %s' % m('pbs_group_last_backup_timestamp_seconds'),
          },
          {
            record: 'pbs:datastore_used_ratio',
            expr: '%s / %s' % [m('pbs_api_datastore_used_bytes'), m('pbs_api_datastore_size_bytes')],
          },
          {
            record: 'pbs:datastore_dedup_factor:max7d',
            expr: 'max_over_time(%s[7d])' % m('pbs_datastore_dedup_factor'),
          },
          {
            record: 'pbs:datastore_backup_logical_bytes:rate1h',
            expr: 'sum by (instance, job, datastore) (rate(%s[1h]))'
                  % m('pbs_backup_logical_bytes_total'),
          },
          {
            record: 'pbs:datastore_backup_uploaded_bytes:rate1h',
            expr: 'sum by (instance, job, datastore) (rate(%s[1h]))'
                  % m('pbs_backup_uploaded_bytes_total'),
          },
          {
            record: 'pbs:datastore_disk_temperature_celsius:max',
            expr: 'max by (instance, job, datastore) (%s)' % m('pbs_disk_temperature_celsius'),
          },
          {
            record: 'pbs:datastore_disk_wearout_ratio:max',
            expr: 'max by (instance, job, datastore) (%s)' % m('pbs_disk_wearout_ratio'),
          },
          {
            record: 'pbs:zpool_scrub_age_seconds',
            expr: 'time() - %s' % m('pbs_zpool_last_scrub_end_timestamp_seconds'),
          },
        ],
      },
    ],
  },
} + (import 'coverage.libsonnet')
