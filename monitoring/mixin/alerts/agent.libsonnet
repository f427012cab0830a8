local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local m(name, extra='') = name + promql.matchers([c.pbsSelector, extra]),
    groups+: [
      {
        name: 'pbs-fleet.agent',
        rules: [
          {
            alert: 'PbsAgentDown',
            expr: 'up%s == 0' % promql.matchers([c.agentSelector]),
            'for': '5m',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'pbs-agent on {{ $labels.instance }} is down',
              description: 'Prometheus cannot scrape {{ $labels.instance }} (job {{ $labels.job }}): no backup, datastore or hardware metrics from this host.',
            },
          },
          {
            alert: 'PbsAgentCollectorFailing',
            expr: '%s == 0' % m('pbs_agent_collector_success'),
            'for': '15m',
            labels: { severity: 'warning' },
            annotations: {
              summary: 'pbs-agent collector {{ $labels.collector }} fails on {{ $labels.instance }}',
              description: "The {{ $labels.collector }} collector cannot read its source (missing tool, unreachable API, unreadable log); its metrics are stale or absent. See the agent's log.",
            },
          },
        ],
      },
    ],
  },
}
