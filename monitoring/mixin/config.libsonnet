// The one place for selectors and thresholds of the pbs-fleet mixin. Override in your own
// jsonnet:  (import 'mixin.libsonnet') + { _config+:: { pbsSelector: 'job="pbs-agent"' } }
{
  _config+:: {
    // Scrape job(s) of pbs-agent; used where a generic series (`up`) must be narrowed to it.
    agentSelector: 'job=~".*pbs.*"',
    // Extra label matchers added to every pbs_* series in alerts, recording rules and the
    // dashboard (e.g. 'job="pbs-agent",env="prod"'); empty: match by metric name alone.
    pbsSelector: '',

    // Backups
    backupStaleHours: 36,
    // Datastore
    dedupFloorRatio: 0.8,  // alert when the dedup factor falls below this share of its 7-day max
    dedupWindow: '7d',
    gcMaxAgeDays: 8,
    fullForecastDays: 7,
    datastoreFullRatio: 0.9,
    verifyFailedWindow: '1d',  // PbsVerifySnapshotsFailed: failed snapshots within this window
    // Hardware
    diskHotCelsius: 55,  // SATA/SAS
    nvmeHotCelsius: 70,
    ssdWearoutRatio: 0.8,
    scrubMaxAgeDays: 40,
    checksumGrowthWindow: '1h',  // PbsZpoolChecksumErrorsGrowing: any growth within this window

    // Dashboard
    dashboardUid: 'pbs-fleet',
    dashboardTitle: 'PBS fleet',
    dashboardTags: ['pbs', 'proxmox-backup-server', 'pbs-fleet'],
    dashboardRefresh: '1m',
    dashboardTimeFrom: 'now-7d',
  },
}
