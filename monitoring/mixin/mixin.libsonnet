// pbs-fleet monitoring mixin: alerts, recording rules and the Grafana dashboard, with one
// `_config` (config.libsonnet) for selectors and thresholds. Build: `make monitoring`.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
