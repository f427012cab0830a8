"""``pbs-agent serve``: the Prometheus exporter (``/metrics`` over HTTP or HTTPS)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from ..exporter.options import (
    add_collector_arguments,
    add_web_arguments,
    enabled_collectors,
    web_options,
)
from ..exporter.registry import create_collectors
from ..exporter.runner import Runner
from ..exporter.server import ExporterServer
from ..exporter.webconfig import WebConfigSource
from ..host import add_source_arguments, settings_from_args

HELP = "run the Prometheus exporter (collectors refresh in the background)"
log = logging.getLogger("pbs_agent.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_web_arguments(parser)
    add_source_arguments(parser)
    add_collector_arguments(parser)
    parser.add_argument("--log.level", dest="log_level", default="info",
                        choices=["debug", "info", "warning", "error"], help="log verbosity")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    listen, web_file = web_options(args)
    web = WebConfigSource(web_file)
    names = enabled_collectors(args)
    runner = Runner(create_collectors(names), settings)
    server = ExporterServer(listen, runner, web)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    runner.start()
    scheme = "https" if web.current().tls else "http"
    log.info("listening on %s port %d (%s); collectors: %s",
             server.server_address[0], server.port, scheme, ", ".join(names) or "none")
    try:
        server.serve_forever()
    finally:
        runner.stop()
        server.server_close()
    return 0
