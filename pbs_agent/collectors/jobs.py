"""The ``jobs`` collector: job health from ``<lib-dir>/jobstates/<jobtype>-<jobid>.json``."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import FormatError, SourceError, os_reason
from ..tasks.jobstate import JobState, parse_job_state, split_job_name
from .base import CollectContext, Collector


class JobsCollector(Collector):
    """Last run, success and never-run per PBS job (GC, sync, verify, prune, tape)."""

    name = "jobs"
    interval = 30.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        jobs = list(self._read(ctx))
        lab = ["job_type", "job_id"]
        last = GaugeMetricFamily("pbs_job_last_run_timestamp_seconds",
                                 "End of the job's last finished run (start if running).",
                                 labels=lab)
        ok = GaugeMetricFamily("pbs_job_last_success",
                               "1 if the job's last finished run succeeded (OK or warnings).",
                               labels=lab)
        never = GaugeMetricFamily("pbs_job_never_run", "1 if the job was created but never ran.",
                                  labels=lab)
        running = GaugeMetricFamily("pbs_job_running", "1 if the job is running now.", labels=lab)
        for job in sorted(jobs, key=lambda j: (j.job_type, j.job_id)):
            labels = [job.job_type, job.job_id]
            never.add_metric(labels, int(job.state == "created"))
            running.add_metric(labels, int(job.state == "started"))
            if job.last_run is not None:
                last.add_metric(labels, job.last_run)
            if job.success is not None:
                ok.add_metric(labels, job.success)
        return [last, ok, never, running]

    @staticmethod
    def _read(ctx: CollectContext) -> Iterable[JobState]:
        directory = ctx.settings.lib_dir / "jobstates"
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return  # no job ever configured
        except OSError as exc:
            raise SourceError(str(directory), os_reason(exc)) from None
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = directory / name
            try:
                job_type, job_id = split_job_name(name[:-5])
                yield parse_job_state(path.read_text(errors="replace"), job_type, job_id, str(path))
            except FormatError as exc:
                ctx.parse_error(str(exc))
            except OSError:
                continue  # vanished between listdir and read
