"""The Prometheus exporter: the collector registry, background refresh, the HTTP(S) server with
its web config, and the ``--web.*`` / ``--collector.*`` flags (the rest is pbs_agent.host's)."""
