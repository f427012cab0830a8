// All alert groups; one file per concern. Thresholds come from config.libsonnet.
(import 'backups.libsonnet') +
(import 'coverage.libsonnet') +
(import 'datastore.libsonnet') +
(import 'jobs.libsonnet') +
(import 'hardware.libsonnet') +
(import 'agent.libsonnet')
