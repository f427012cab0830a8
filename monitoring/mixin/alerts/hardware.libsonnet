local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.hardware',
        rules: [
          {
            alert: 'PbsDiskHot',
            expr: '%s > %d or %s > %d'
                  % [m('pbs_disk_temperature_celsius', 'device!~"nvme.*"'), c.diskHotCelsius,
                     m('pbs_disk_temperature_celsius', 'device=~"nvme.*"'), c.nvmeHotCelsius],
            'for': '15m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Disk {{ $labels.device }} of datastore {{ $labels.datastore }} is at {{ $value }} °C',
              description: "A disk of pool '{{ $labels.pool }}' under datastore {{ $labels.datastore }} on {{ $labels.instance }} runs hot (limits: %d °C for SATA/SAS, %d °C for NVMe). Check the inlet temperature and the fans."
                           % [c.diskHotCelsius, c.nvmeHotCelsius],
            },
          },
          {
            alert: 'PbsInletOutsideBand',
            expr: |||
              %(t)s > on (instance, job) group_left () %(high)s
              or
              %(t)s < on (instance, job) group_left () %(low)s
            ||| % {
              t: m('pbs_thermal_inlet_celsius'),
              high: m('pbs_thermal_inlet_band_celsius', 'bound="high"'),
              low: m('pbs_thermal_inlet_band_celsius', 'bound="low"'),
            },
            'for': '15m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Inlet air of {{ $labels.instance }} is {{ $value }} °C, outside its band',
              description: "BMC sensor '{{ $labels.sensor }}' reads {{ $value }} °C, outside the configured comfort band (pbs_thermal_inlet_band_celsius).",
            },
          },
          {
            alert: 'PbsSsdWornOut',
            expr: '%s > %s' % [m('pbs_disk_wearout_ratio'), promql.num(c.ssdWearoutRatio)],
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'SSD {{ $labels.device }} has used {{ $value | humanizePercentage }} of its rated endurance',
              description: "Plan the replacement of {{ $labels.device }} (pool '{{ $labels.pool }}', datastore {{ $labels.datastore }}) on {{ $labels.instance }}.",
            },
          },
          {
            alert: 'PbsDiskSmartFailed',
            expr: '%s == 0' % m('pbs_disk_smart_healthy'),
            'for': '5m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Disk {{ $labels.device }} of datastore {{ $labels.datastore }} fails its SMART health check',
              description: "smartctl -H says FAILED for {{ $labels.device }} (pool '{{ $labels.pool }}') on {{ $labels.instance }}: the disk predicts its own failure. Replace it while the pool still has redundancy.",
            },
          },
          {
            alert: 'PbsNvmeCriticalWarning',
            expr: '%s > 0' % m('pbs_disk_nvme_critical_warning'),
            'for': '5m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'NVMe {{ $labels.device }} of datastore {{ $labels.datastore }} raises critical warning {{ $value }}',
              description: "The critical warning bits of {{ $labels.device }} on {{ $labels.instance }} are set (1 spare low, 2 temperature, 4 reliability degraded, 8 read-only, 16 volatile memory backup failed): see 'smartctl -a' and plan the replacement.",
            },
          },
          {
            alert: 'PbsZpoolDegraded',
            expr: '%s == 1' % m('pbs_zpool_state', 'state="DEGRADED"'),
            'for': '5m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'ZFS pool {{ $labels.pool }} on {{ $labels.instance }} is DEGRADED',
              description: "A device of pool {{ $labels.pool }} failed or is missing; redundancy is reduced. See 'zpool status {{ $labels.pool }}'.",
            },
          },
          {
            alert: 'PbsZpoolFailed',
            expr: '%s == 1' % m('pbs_zpool_state', 'state=~"SUSPENDED|FAULTED|UNAVAIL"'),
            labels: { severity: 'critical' },
            annotations: {
              summary: 'ZFS pool {{ $labels.pool }} on {{ $labels.instance }} is {{ $labels.state }}',
              description: "Pool {{ $labels.pool }} does not serve I/O: backups and restores on its datastores hang or fail. See 'zpool status {{ $labels.pool }}'.",
            },
          },
          {
            alert: 'PbsZpoolVdevNotOnline',
            expr: '%s == 1' % m('pbs_zpool_vdev_state', 'state!~"ONLINE|AVAIL|INUSE"'),
            'for': '5m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Vdev {{ $labels.vdev }} of pool {{ $labels.pool }} is {{ $labels.state }}',
              description: "ZFS reports {{ $labels.vdev }} of pool {{ $labels.pool }} on {{ $labels.instance }} as {{ $labels.state }}, even if the pool still says ONLINE. See 'zpool status -v {{ $labels.pool }}'.",
            },
          },
          {
            alert: 'PbsZpoolChecksumErrorsGrowing',
            expr: 'increase(%s[%s]) > 0' % [m('pbs_zpool_vdev_errors', 'kind="checksum"'), c.checksumGrowthWindow],
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Checksum errors on {{ $labels.vdev }} of pool {{ $labels.pool }} are growing',
              description: '{{ $labels.vdev }} on {{ $labels.instance }} returned {{ $value | printf "%%.0f" }} more blocks with bad checksums in the last %s: the disk, its cable or its controller corrupts data. ZFS repairs from redundancy while it has some.' % c.checksumGrowthWindow,
            },
          },
          {
            alert: 'PbsZpoolVdevErrors',
            expr: '%s > 0' % m('pbs_zpool_vdev_errors'),
            'for': '15m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Vdev {{ $labels.vdev }} of pool {{ $labels.pool }} has {{ $value }} {{ $labels.kind }} errors',
              description: "ZFS counted {{ $labels.kind }} errors on {{ $labels.vdev }} ({{ $labels.instance }}). Check the disk and cabling, then 'zpool clear {{ $labels.pool }}'.",
            },
          },
          {
            alert: 'PbsZpoolDataErrors',
            expr: '%s > 0' % m('pbs_zpool_data_errors'),
            labels: { severity: 'critical' },
            annotations: {
              summary: 'ZFS pool {{ $labels.pool }} has {{ $value }} permanent data errors',
              description: "Some blocks of pool {{ $labels.pool }} on {{ $labels.instance }} cannot be repaired; 'zpool status -v {{ $labels.pool }}' lists the files.",
            },
          },
          {
            alert: 'PbsZpoolScrubOverdue',
            expr: |||
              time() - %s > %d * 86400
              unless on (instance, job, pool) %s == 1
            ||| % [m('pbs_zpool_last_scrub_end_timestamp_seconds'), c.scrubMaxAgeDays,
                   m('pbs_zpool_scan_in_progress', 'kind="scrub"')],
            'for': '1h',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'ZFS pool {{ $labels.pool }} was last scrubbed {{ $value | humanizeDuration }} ago',
              description: 'Debian scrubs every pool monthly (second Sunday); pool {{ $labels.pool }} on {{ $labels.instance }} missed it.',
            },
          },
        ],
      },
    ],
  },
}
