"""The Prometheus exporter: settings, collectors, background refresh and HTTP server."""
