"""The ``retention`` collector: what the configured prune jobs will do to each group.

Per group of every datastore here (``--datastore`` or the resolver's stores with a directory,
S3-backed ones by their local cache, which holds the snapshot tree), the prune jobs of
``prune.cfg`` that cover its namespace are applied as PBS would run them
(:mod:`pbs_agent.retention`, in this host's local time): how many snapshots the next
prune removes, the oldest finished snapshot it keeps (how far back a restore can go after it),
and per keep rule the slots it asks for but cannot fill (``keep-daily 7`` with 3 distinct days:
shortfall 4). Only directory names are read; every group is exported (no cap).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ..errors import SourceError
from .base import CollectContext, Collector

GROUP_LABELS = ["datastore", "namespace", "backup_type", "backup_id"]


class RetentionCollector(Collector):
    """Prune-job forecast per group: snapshots to remove, oldest kept, retention shortfall."""

    name = "retention"
    interval = 300.0

    def collect(self, ctx: CollectContext) -> Iterable[Metric]:
        from ..datastore import walk_datastore
        from ..retention import plan_group

        remove = GaugeMetricFamily(
            "pbs_group_prune_remove_snapshots",
            "Snapshots the configured prune jobs would remove now (0: none, or no job covers "
            "the group).", labels=GROUP_LABELS)
        oldest = GaugeMetricFamily(
            "pbs_group_oldest_snapshot_timestamp_seconds",
            "Oldest finished snapshot left after the configured prune jobs ran (all of them "
            "when no job covers the group).", labels=GROUP_LABELS)
        short = GaugeMetricFamily(
            "pbs_group_retention_shortfall",
            "Slots a keep rule of the group's prune jobs asks for but the group cannot fill.",
            labels=[*GROUP_LABELS, "rule"])
        stores = self._stores(ctx)
        jobs, broken = ctx.prune_jobs()
        for error in broken:
            ctx.parse_error(str(error))
        walked = 0
        for name, path in sorted(stores.items()):
            if not path.is_dir():
                ctx.parse_error(f"{path}: not a datastore directory")
                continue
            walk = walk_datastore(str(path))
            walked += 1
            for issue in walk.issues:
                ctx.parse_error(f"{issue.path}: {issue.reason}")
            for group in walk.groups:
                p = plan_group(group, jobs=jobs, store=name)
                labels = [name, p.namespace, p.backup_type, p.backup_id]
                remove.add_metric(labels, len(p.removed))
                kept = p.oldest_kept_finished()
                if kept is not None:
                    oldest.add_metric(labels, kept)
                for rule, n in p.shortfall.items():
                    short.add_metric([*labels, rule], n)
        if stores and not walked:
            raise SourceError(str(min(stores.values())), "no datastore directory to walk")
        return [remove, oldest, short]

    @staticmethod
    def _stores(ctx: CollectContext) -> dict[str, Path]:
        """The datastores with a directory here; broken datastore.cfg sections count as parse
        errors (SourceError when datastore.cfg cannot be read)."""
        found = ctx.datastores()
        for error in found.errors:
            ctx.parse_error(str(error))
        return found.present()
