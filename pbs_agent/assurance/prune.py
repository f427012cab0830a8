"""PBS's prune selection, faithfully: which snapshots of one group a prune keeps, and why.

Follows ``compute_prune_info`` in proxmox/proxmox-backup ``pbs-datastore/src/prune.rs``
(read at 4940514b0f05d6cd6a5f711edfdd47c1fa41b537, PBS 3.2.4):

1. Sort newest first. Walking newest → oldest, the newest snapshot gets ``keep-partial`` if it
   is unfinished (no ``index.json.blob``); every other unfinished one gets ``remove``.
2. One pass per set option in the fixed order last, hourly, daily, weekly (ISO ``%G/%V``),
   monthly, yearly. A pass maps each snapshot to a slot id in the host's **local time**. Slots
   of snapshots already marked ``keep`` by an earlier pass are "already included" and skipped;
   a snapshot with any mark is skipped; a protected one is marked ``protected`` (no slot);
   the first snapshot of a new slot is kept until *n* slots are taken (then the pass stops);
   an older snapshot of a slot this pass already took is marked ``remove``.
3. Protected snapshots end as ``protected`` whatever happened; unmarked ones are removed.

The callers (prune jobs, the group prune API) keep everything when no option is > 0
(``KeepOptions::keeps_something``): that is :func:`plan`, while :func:`compute_prune_info`
is the bare algorithm the PBS test vectors exercise.

>>> from datetime import UTC
>>> day = 86400
>>> snaps = [SnapshotInfo(1575288000 + i * day) for i in range(4)]  # 2019-12-02 .. 05, noon UTC
>>> [d.mark.value for d in plan(snaps, KeepOptions(daily=2), tz=UTC)]
['keep', 'keep', 'remove', 'remove']
>>> [d.mark.value for d in plan(snaps, KeepOptions(), tz=UTC)]
['keep', 'keep', 'keep', 'keep']
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo

from ..errors import ConfigError

#: The keep options in PBS's pass order, as they are spelled in prune.cfg and on the CLI.
RULES = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
KEEP_ALL = "keep-all"  # rule name shown when no option keeps anything (PBS keeps all)
MAX_KEEP = 1 << 32  # PBS's schema limit is far below; anything larger is a typo


class Mark(enum.Enum):
    """PBS's ``PruneMark``, printed as PBS prints it."""

    PROTECTED = "protected"
    KEEP = "keep"
    KEEP_PARTIAL = "keep-partial"
    REMOVE = "remove"

    @property
    def keep(self) -> bool:
        return self is not Mark.REMOVE


@dataclass(frozen=True, slots=True)
class KeepOptions:
    """``keep-*`` options; None = not set (a set 0 runs its pass and keeps nothing)."""

    last: int | None = None
    hourly: int | None = None
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    yearly: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                  or not 0 <= v < MAX_KEEP):
                raise ConfigError(f"keep-{f.name}: {v!r} is not a count >= 0")

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str = "prune options") -> KeepOptions:
        """From section-config or CLI style keys (``keep-daily``: ``"7"``)."""
        values: dict[str, int] = {}
        for rule in RULES:
            raw = props.get(rule)
            if raw is None:
                continue
            text = str(raw).strip()
            if not text.isdigit():
                raise ConfigError(f"{where}: {rule} {raw!r} is not a count >= 0")
            values[rule.removeprefix("keep-")] = int(text)
        return cls(**values)

    def items(self) -> list[tuple[str, int]]:
        """(rule, n) of the options that are set, in PBS's pass order."""
        out = []
        for rule in RULES:
            n = getattr(self, rule.removeprefix("keep-"))
            if n is not None:
                out.append((rule, n))
        return out

    def keeps_something(self) -> bool:
        """PBS's ``keeps_something``: the sum of all options is > 0."""
        return sum(n for _, n in self.items()) > 0

    def __str__(self) -> str:
        return " ".join(f"--{r} {n}" for r, n in self.items()) or "(no keep options)"


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """What prune looks at: the backup time (epoch s), finished (has a manifest), protected."""

    time: int
    finished: bool = True
    protected: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """One snapshot's fate; *rule* names what kept it (``keep-daily``, ``protected``,
    ``keep-partial`` or ``keep-all``), None when it is removed."""

    snapshot: SnapshotInfo
    mark: Mark
    rule: str | None

    @property
    def keep(self) -> bool:
        return self.mark.keep


def _local(t: int, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(t, tz)  # tz None: the host's local time, like strftime_local


def slot_selector(rule: str, tz: tzinfo | None = None) -> Callable[[SnapshotInfo], Hashable]:
    """The slot id function of a rule (equal ids: the same hour/day/ISO week/month/year).

    >>> from datetime import UTC
    >>> s = SnapshotInfo(1577577600)  # 2019-12-29 00:00 UTC: ISO week 2019-W52
    >>> slot_selector("keep-weekly", UTC)(s), slot_selector("keep-yearly", UTC)(s)
    ((2019, 52), 2019)
    """
    if rule == "keep-last":
        return lambda s: s.time
    if rule == "keep-hourly":
        return lambda s: _local(s.time, tz).timetuple()[:4]
    if rule == "keep-daily":
        return lambda s: _local(s.time, tz).timetuple()[:3]
    if rule == "keep-weekly":
        return lambda s: tuple(_local(s.time, tz).isocalendar())[:2]  # %G/%V
    if rule == "keep-monthly":
        return lambda s: _local(s.time, tz).timetuple()[:2]
    if rule == "keep-yearly":
        return lambda s: _local(s.time, tz).year
    raise ConfigError(f"unknown prune rule {rule!r}")


def _mark_selections(marks: dict[int, tuple[Mark, str | None]], snaps: Sequence[SnapshotInfo],
                     keep: int, rule: str, select: Callable[[SnapshotInfo], Hashable]) -> None:
    """One pass (``mark_selections``); *marks* is keyed by position in *snaps* (newest first)."""
    already = {select(s) for i, s in enumerate(snaps)
               if marks.get(i, (None,))[0] is Mark.KEEP}
    taken: set[Hashable] = set()
    for i, s in enumerate(snaps):
        if i in marks:
            continue
        if s.protected:
            marks[i] = (Mark.PROTECTED, "protected")
            continue
        sel = select(s)
        if sel in already:
            continue
        if sel not in taken:
            if len(taken) >= keep:
                break
            taken.add(sel)
            marks[i] = (Mark.KEEP, rule)
        else:
            marks[i] = (Mark.REMOVE, None)


def compute_prune_info(snapshots: Iterable[SnapshotInfo], options: KeepOptions,
                       tz: tzinfo | None = None) -> list[Decision]:
    """PBS's ``compute_prune_info``: a decision per snapshot, newest first.

    No keep-all override here (see :func:`plan`); *tz* None is the host's local time."""
    snaps = sorted(snapshots, key=lambda s: s.time, reverse=True)
    marks: dict[int, tuple[Mark, str | None]] = {}
    keep_unfinished = True  # remove_incomplete_snapshots
    for i, s in enumerate(snaps):
        if s.finished:
            keep_unfinished = False
        else:
            marks[i] = (Mark.KEEP_PARTIAL, "keep-partial") if keep_unfinished \
                else (Mark.REMOVE, None)
            keep_unfinished = False
    for rule, n in options.items():
        _mark_selections(marks, snaps, n, rule, slot_selector(rule, tz))
    out = []
    for i, s in enumerate(snaps):
        if s.protected:
            out.append(Decision(s, Mark.PROTECTED, "protected"))
        else:
            mark, kept_by = marks.get(i, (Mark.REMOVE, None))
            out.append(Decision(s, mark, kept_by))
    return out


def plan(snapshots: Iterable[SnapshotInfo], options: KeepOptions,
         tz: tzinfo | None = None) -> list[Decision]:
    """What a prune job or the prune API does to one group: :func:`compute_prune_info`, but
    everything is kept when no option keeps anything (``keep_all`` in PBS's callers)."""
    decisions = compute_prune_info(snapshots, options, tz)
    if options.keeps_something():
        return decisions
    return [d if d.mark is Mark.PROTECTED else Decision(d.snapshot, Mark.KEEP, KEEP_ALL)
            for d in decisions]


def shortfall(decisions: Iterable[Decision], options: KeepOptions) -> dict[str, int]:
    """Per set rule: slots it asks for that the group cannot fill (``keep-daily 7`` with only
    3 distinct days left beyond what earlier rules kept: 4). Empty when nothing is pruned.

    >>> from datetime import UTC
    >>> snaps = [SnapshotInfo(1575288000 + i * 86400) for i in range(3)]
    >>> shortfall(plan(snaps, KeepOptions(daily=7), tz=UTC), KeepOptions(daily=7))
    {'keep-daily': 4}
    """
    if not options.keeps_something():
        return {}
    kept: dict[str, int] = {}
    for d in decisions:
        if d.mark is Mark.KEEP and d.rule is not None:
            kept[d.rule] = kept.get(d.rule, 0) + 1
    return {rule: max(n - kept.get(rule, 0), 0) for rule, n in options.items()}


__all__ = ["KEEP_ALL", "RULES", "Decision", "KeepOptions", "Mark", "SnapshotInfo",
           "compute_prune_info", "plan", "shortfall", "slot_selector"]
