// Grafana dashboards of the mixin, keyed by output file name.
import 'pbs-fleet.libsonnet'
