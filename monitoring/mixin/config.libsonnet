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
    // Reclaim forecast: PbsDatastoreFullBeforeGarbageDue looks this far ahead (default: GC's
    // 24 h 5 min cutoff, the longest unreferenced chunks stay pending without a writer) with
    // predict_linear over fillRateWindow of used bytes.
    fillBeforeGarbageHorizonSeconds: 86700,
    fillRateWindow: '6h',

    // Guest coverage: prometheus-pve-exporter's pve_guest_info / pve_not_backed_up_info
    // joined to the agent's groups (vm/ID <-> qemu/ID, ct/ID <-> lxc/ID).
    guestSelector: '',  // extra matchers on the pve_* series, e.g. 'job="pve"'
    // Labels both sides carry to tell clusters apart: with one PBS namespace per PVE cluster
    // (the hand-off), relabel the PVE exporter's target with pbs_namespace="<namespace>" and
    // set ['pbs_namespace'] here; the agent's namespace label is copied into it. Empty: a
    // guest id matches a group of that id in any namespace.
    coverageJoinLabels: [],
    coverageRpoHours: 26,  // GuestBackupStale / GuestRestorePointMissing: older than this
    coverageVerifyDays: 8,  // GuestBackupNotVerified: no verified-ok snapshot this recent
    coverageGrace: '26h',  // GuestNotBackedUp: a new guest gets until its first nightly backup
    coverageExcludeTag: 'no-backup',  // PVE tag of guests that are not backed up on purpose
    coverageExcludeIds: [],  // or their ids, e.g. ['qemu/9000', 'lxc/105']

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
