"""The host as every command sees it: settings (path roots), tools, and the datastores.

:class:`Settings` says where the agent looks; every path can be re-rooted (tests point it at
fixture trees). :class:`Host` runs read-only tools and holds the one datastore resolver,
:func:`resolve_datastores`: ``--datastore NAME=PATH`` flags, else ``datastore.cfg`` parsed once
into typed :class:`Datastore` records (backend, removable and mounted or not) plus a typed
:class:`DatastoreConfigError` per broken section. Each caller decides what it looks at
(:meth:`Datastores.local`, :meth:`Datastores.present`) and what it does with the errors.

The source flags (``--pbs.*``, ``--path.*``, ``--datastore``, ``--config`` …) are shared by
``serve``, ``metrics`` and ``doctor``. The config file (``--config FILE``) is TOML whose keys
are the flag names without dashes, written as dotted keys, plus a ``[datastore]`` table::

    pbs.log-dir = "/var/log/proxmox-backup"
    web.listen-address = ":9797"
    collector.api = true
    [datastore]
    store1 = "/mnt/datastore/store1"

A flag on the command line wins over the config file, which wins over the default. The
``web.*`` and ``collector.*`` keys belong to the exporter (:mod:`pbs_agent.exporter.options`),
which checks them; the other commands leave them alone, so all share one file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assurance.prune import KeepOptions
from .errors import ConfigError, SourceError, os_reason
from .hw.mounts import Mount, parse_mountinfo, read_mountinfo
from .pbsconfig import parse_section_config, property_string

#: Where PBS mounts a removable datastore's device: ``/mnt/datastore/<name>``.
REMOVABLE_MOUNT_BASE = Path("/mnt/datastore")
BACKENDS = ("filesystem", "s3")
#: Config-file key prefixes owned by the exporter (checked by pbs_agent.exporter.options).
EXPORTER_PREFIXES = ("web.", "collector.")


@dataclass(frozen=True)
class Settings:
    """Where the agent looks. Every path can be re-rooted for tests (fixture trees)."""

    log_dir: Path = Path("/var/log/proxmox-backup")
    lib_dir: Path = Path("/var/lib/proxmox-backup")
    config_dir: Path = Path("/etc/proxmox-backup")
    sysfs: Path = Path("/sys")
    procfs: Path = Path("/proc")
    devfs: Path = Path("/dev")
    state_dir: Path = Path("/var/lib/pbs-agent")
    datastores: Mapping[str, Path] = field(default_factory=dict)  # name -> path; {} = datastore.cfg
    # Directory of recorded tool outputs (tests): "<tool>.<args joined by _>" files
    # replace running the tool. None = run the real tools from PATH.
    tool_fixtures: Path | None = None
    max_groups: int = 200
    inlet_band_celsius: tuple[float, float] = (15.0, 25.0)
    api_url: str = "https://127.0.0.1:8007"
    api_token_file: Path | None = None
    # SHA-256 fingerprint (colon hex) the API certificate must have; None = proxy.pem's or CA.
    api_fingerprint: str | None = None
    s3_request_budget: int = 10_000  # LIST requests per bucket listing (1000 keys each)
    s3_list_interval: int = 6 * 3600  # seconds between listings of a bucket


# --- datastores ---------------------------------------------------------------------------


class DatastoreConfigError(ConfigError):
    """A broken ``datastore.cfg`` section (or line): the file, the datastore, the reason."""

    def __init__(self, path: str, datastore: str | None, reason: str) -> None:
        where = f"{path}: datastore {datastore!r}" if datastore else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.datastore = datastore
        self.reason = reason


@dataclass(frozen=True)
class Datastore:
    """One datastore as PBS would open it.

    ``path`` is the absolute directory PBS uses: the datastore itself, or for an S3-backed
    store its local cache (the chunks live in the bucket). A removable datastore (one with
    a ``backing-device``) is at ``/mnt/datastore/<name>`` (PBS bind-mounts the device's ``<path>``
    there) and is ``mounted`` only while its device is mounted there.
    """

    name: str
    path: Path
    backend: str = "filesystem"  # one of BACKENDS
    removable: bool = False
    mounted: bool = True
    maintenance: str | None = None
    backing_device: str | None = None  # the filesystem UUID of a removable store
    s3_endpoint: str | None = None  # an S3-backed store's s3.cfg endpoint id (``client``)
    bucket: str | None = None  # and its bucket
    gc_atime_cutoff: int | None = None  # tuning gc-atime-cutoff (minutes); None: PBS's default

    @property
    def cache_path(self) -> Path | None:
        """The local cache directory of an S3-backed datastore; None for a filesystem one."""
        return self.path if self.backend == "s3" else None

    @property
    def local(self) -> bool:
        """Its chunks are files under ``path`` that can be read now (filesystem, mounted)."""
        return self.backend == "filesystem" and self.mounted


@dataclass(frozen=True)
class Datastores:
    """The resolver's answer: the datastores, and the broken sections left out of them."""

    stores: tuple[Datastore, ...] = ()
    errors: tuple[DatastoreConfigError, ...] = ()

    def __iter__(self) -> Iterator[Datastore]:
        return iter(self.stores)

    def __len__(self) -> int:
        return len(self.stores)

    def local(self) -> dict[str, Path]:
        """Name → path of the stores whose chunks are readable files here (what a scan reads):
        filesystem backend and mounted. S3-backed and unmounted removable ones are left out."""
        return {d.name: d.path for d in self.stores if d.local}

    def s3(self) -> dict[str, Datastore]:
        """Name → record of the S3-backed stores (scanned from their bucket listing)."""
        return {d.name: d for d in self.stores if d.backend == "s3" and d.mounted}

    def present(self) -> dict[str, Path]:
        """Name → directory of every store with a directory here now: mounted ones, S3-backed
        ones by their local cache. Unmounted removable stores are left out."""
        return {d.name: d.path for d in self.stores if d.mounted}


def _maintenance(props: Mapping[str, str]) -> str | None:
    maint = property_string(props.get("maintenance-mode", ""))
    return maint.get("type") or maint.get("") or None


def _section(name: str, props: Mapping[str, str], file: str) -> Datastore:
    """One ``datastore:`` section as a record; DatastoreConfigError if it is broken."""
    raw = props.get("path")
    if not raw:
        raise DatastoreConfigError(file, name, "has no path")
    backend_props = property_string(props.get("backend", ""))
    backend = backend_props.get("type") or backend_props.get("") or "filesystem"
    if backend not in BACKENDS:
        raise DatastoreConfigError(file, name, f"unknown backend type {backend!r} "
                                   f"(expected {' or '.join(BACKENDS)})")
    if backend == "s3" and not (backend_props.get("client") and backend_props.get("bucket")):
        raise DatastoreConfigError(file, name, "S3 backend without client or bucket")
    device = props.get("backing-device")
    path = Path(raw)
    if device is not None:
        path = REMOVABLE_MOUNT_BASE / name  # DataStoreConfig::absolute_path (pbs-api-types)
    elif not path.is_absolute():
        raise DatastoreConfigError(file, name, f"path {raw!r} is not absolute")
    cutoff = property_string(props.get("tuning", "")).get("gc-atime-cutoff")
    if cutoff is not None and not cutoff.isdigit():
        raise DatastoreConfigError(file, name, f"tuning gc-atime-cutoff {cutoff!r} is not a "
                                   "number of minutes")
    return Datastore(name, path, backend, device is not None, True, _maintenance(props),
                     device, backend_props.get("client"), backend_props.get("bucket"),
                     int(cutoff) if cutoff is not None else None)


def datastores_from_text(text: str, name: str = "datastore.cfg") -> Datastores:
    """The datastores of a ``datastore.cfg`` text; a broken section is an error, not a store.

    Whether removable stores are mounted is not known from the text: they are all marked
    mounted here (:func:`resolve_datastores` looks at the mount table).
    """
    problems: list[ConfigError] = []
    stores: list[Datastore] = []
    errors: list[DatastoreConfigError] = []
    seen: set[str] = set()
    for sec in parse_section_config(text, name, problems):
        if sec.type != "datastore":
            continue
        if sec.id in seen:
            errors.append(DatastoreConfigError(name, sec.id, "defined twice (first one used)"))
            continue
        seen.add(sec.id)
        try:
            stores.append(_section(sec.id, sec.props, name))
        except DatastoreConfigError as exc:
            errors.append(exc)
    errors[:0] = [DatastoreConfigError(name, None, "line " + str(p).removeprefix(f"{name}:"))
                  for p in problems]
    return Datastores(tuple(stores), tuple(errors))


def gc_atime_cutoffs(config_dir: Path) -> dict[str, int]:
    """``gc-atime-cutoff`` (minutes) of the datastores in ``<config_dir>/datastore.cfg`` that
    tune it, also when ``--datastore`` flags name the stores; {} when the file cannot be read
    (PBS's default cutoff applies then)."""
    try:
        text = (config_dir / "datastore.cfg").read_text()
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        found = datastores_from_text(text)
    except ConfigError:
        return {}
    return {d.name: d.gc_atime_cutoff for d in found if d.gc_atime_cutoff is not None}


def device_mounted_at(mounts: Sequence[Mount], mount_point: Path, uuid: str,
                      devfs: Path) -> bool:
    """PBS's ``is_datastore_mounted_at``: a mount at *mount_point* whose source is the block
    device ``<devfs>/disk/by-uuid/<uuid>`` points to (same rdev). No udev link: not mounted."""
    try:
        want = os.stat(devfs / "disk" / "by-uuid" / uuid)
    except OSError:
        return False
    if not stat.S_ISBLK(want.st_mode):
        return False
    for m in mounts:
        if m.mountpoint != str(mount_point) or not m.source.startswith("/"):
            continue
        try:
            st = os.stat(m.source)
        except OSError:
            continue
        if stat.S_ISBLK(st.st_mode) and st.st_rdev == want.st_rdev:
            return True
    return False


def resolve_datastores(settings: Settings) -> Datastores:
    """THE answer to "which datastores are there": ``--datastore`` flags, else datastore.cfg.

    Flags name filesystem datastores. From ``<config-dir>/datastore.cfg``, every section is
    a :class:`Datastore` or a :class:`DatastoreConfigError` in ``errors`` (never hidden: the
    caller decides); a removable store is ``mounted`` if its device is mounted at
    ``/mnt/datastore/<name>`` (:func:`device_mounted_at`). SourceError if datastore.cfg (or,
    with removable stores, the mount table) cannot be read.
    """
    if settings.datastores:
        return Datastores(tuple(Datastore(name, Path(path))
                                for name, path in settings.datastores.items()))
    path = settings.config_dir / "datastore.cfg"
    try:
        text = path.read_text()
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    found = datastores_from_text(text, str(path))
    if not any(d.removable for d in found):
        return found
    mounts = parse_mountinfo(read_mountinfo(settings.procfs), [])
    stores = tuple(
        dataclasses.replace(d, mounted=device_mounted_at(mounts, d.path, d.backing_device,
                                                         settings.devfs))
        if d.backing_device is not None else d
        for d in found)
    return Datastores(stores, found.errors)


# --- prune jobs ---------------------------------------------------------------------------

_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_bool(value: str, what: str) -> bool:
    """proxmox-schema's boolean words (``1/true/yes/on``, ``0/false/no/off``, any case)."""
    v = value.strip().lower()
    if v in _TRUE or v in _FALSE:
        return v in _TRUE
    raise ConfigError(f"{what}: {value!r} is not a boolean")


@dataclass(frozen=True)
class PruneJob:
    """A section of ``prune.cfg`` (PBS ``PruneJobConfig``): ``ns`` "" is the root namespace,
    ``max_depth`` None is full depth (``MAX_NAMESPACE_DEPTH``)."""

    id: str
    store: str
    keep: KeepOptions
    schedule: str = ""
    ns: str = ""
    max_depth: int | None = None
    disable: bool = False

    def covers(self, namespace: str) -> bool:
        """Whether the job prunes groups of *namespace* (its own and, within max-depth, below).
        (``formats`` pulls numpy: its constants are imported where they are used.)

        >>> job = PruneJob("j", "s", KeepOptions(daily=7), ns="a", max_depth=1)
        >>> [job.covers(n) for n in ("a", "a/b", "a/b/c", "ab", "")]
        [True, True, False, False, False]
        """
        from .formats import MAX_NAMESPACE_DEPTH

        if self.ns and namespace != self.ns and not namespace.startswith(self.ns + "/"):
            return False
        depth = namespace.count("/") + 1 if namespace else 0
        base = self.ns.count("/") + 1 if self.ns else 0
        return depth - base <= (MAX_NAMESPACE_DEPTH if self.max_depth is None else self.max_depth)

    def where(self) -> str:
        """``namespace 'a', depth 1`` / ``root namespace, full depth``."""
        from .formats import MAX_NAMESPACE_DEPTH

        ns = f"namespace '{self.ns}'" if self.ns else "root namespace"
        if self.max_depth is None or self.max_depth >= MAX_NAMESPACE_DEPTH:
            return f"{ns}, full depth"
        return f"{ns}, depth {self.max_depth}" if self.max_depth else f"{ns} only"


def _prune_job(sec_id: str, props: Mapping[str, str], file: str) -> PruneJob:
    from .formats import MAX_NAMESPACE_DEPTH, SAFE_ID_RE

    where = f"{file}: prune job {sec_id!r}"
    store = props.get("store", "")
    if not store:
        raise ConfigError(f"{where} has no store")
    depth = props.get("max-depth")
    if depth is not None and not (depth.isdigit() and int(depth) <= MAX_NAMESPACE_DEPTH):
        raise ConfigError(f"{where}: max-depth {depth!r} is not 0..{MAX_NAMESPACE_DEPTH}")
    ns = props.get("ns", "").strip("/")
    if ns and not all(SAFE_ID_RE.match(p) for p in ns.split("/")):
        raise ConfigError(f"{where}: ns {ns!r} is not a namespace")
    return PruneJob(
        sec_id, store, KeepOptions.from_props(props, where), props.get("schedule", ""),
        ns, int(depth) if depth is not None else None,
        parse_bool(props.get("disable", "0"), f"{where}: disable"))


def prune_jobs_from_text(text: str, name: str = "prune.cfg"
                         ) -> tuple[list[PruneJob], list[ConfigError]]:
    """The ``prune`` sections of a ``prune.cfg`` text; a broken job or line is an error, the
    other jobs are still returned.

    >>> jobs, errs = prune_jobs_from_text("prune: p1\\n\\tstore s\\n\\tkeep-daily 7\\n"
    ...                                   "prune: p2\\n\\tstore s\\n\\tkeep-daily x\\n")
    >>> [j.id for j in jobs], [str(e) for e in errs]
    (['p1'], ["prune.cfg: prune job 'p2': keep-daily 'x' is not a count >= 0"])
    """
    errors: list[ConfigError] = []
    jobs = []
    for sec in parse_section_config(text, name, errors):
        if sec.type != "prune":
            continue
        try:
            jobs.append(_prune_job(sec.id, sec.props, name))
        except ConfigError as exc:
            errors.append(exc)
    return jobs, errors


def read_prune_jobs(config_dir: Path) -> tuple[list[PruneJob], list[ConfigError]]:
    """Prune jobs from ``<config_dir>/prune.cfg``; an absent file is no jobs (as in PBS),
    an unreadable one a SourceError."""
    path = config_dir / "prune.cfg"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise SourceError(str(path), os_reason(exc)) from None
    except UnicodeDecodeError:
        raise SourceError(str(path), "not UTF-8 text") from None
    return prune_jobs_from_text(text, str(path))


# --- the host -----------------------------------------------------------------------------


class Host:
    """One look at the host: settings, a read-only tool runner, the datastores (resolved once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._datastores: Datastores | None = None

    def datastores(self) -> Datastores:
        """:func:`resolve_datastores`, once per Host; SourceError if datastore.cfg is unreadable."""
        if self._datastores is None:
            self._datastores = resolve_datastores(self.settings)
        return self._datastores

    def prune_jobs(self) -> tuple[list[PruneJob], list[ConfigError]]:
        """:func:`read_prune_jobs` of the config directory (jobs, broken sections)."""
        return read_prune_jobs(self.settings.config_dir)

    def run_tool(self, argv: Sequence[str], timeout: float = 20.0) -> str:
        """Run a read-only tool and return stdout; SourceError if it is missing or fails.

        With ``settings.tool_fixtures`` set, the output is read from the recorded file
        ``<tool_fixtures>/<argv joined by '_' with '/' replaced by '%'>`` instead.
        """
        fixtures = self.settings.tool_fixtures
        if fixtures is not None:
            name = "_".join(argv).replace("/", "%")
            path = fixtures / name
            try:
                return path.read_text()
            except OSError:
                raise SourceError(argv[0], f"not found (no recorded output {path.name})") from None
        exe = shutil.which(argv[0])
        if exe is None:
            raise SourceError(argv[0], "not found in PATH")
        try:
            proc = subprocess.run(
                [exe, *argv[1:]], capture_output=True, text=True, timeout=timeout,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired:
            raise SourceError(argv[0], f"timed out after {timeout:.0f}s") from None
        if proc.returncode != 0 and not proc.stdout:
            raise SourceError(argv[0], f"exit {proc.returncode}: {proc.stderr.strip()[:200]}")
        return proc.stdout


# --- source flags and the config file -----------------------------------------------------


@dataclass(frozen=True)
class Option:
    key: str  # flag name without dashes, also the config-file key
    dest: str
    default: Any
    convert: Callable[[Any], Any]
    help: str
    metavar: str = "DIR"


def as_path(v: Any) -> Path:
    return Path(str(v))


def _band(v: Any) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in str(v).split(":"))
    except ValueError:
        raise ConfigError(f"inlet band {v!r}: expected LOW:HIGH in °C, e.g. 15:25") from None
    if low >= high:
        raise ConfigError(f"inlet band {v!r}: low must be below high")
    return low, high


def _positive_int(v: Any) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ConfigError(f"{v!r}: expected a positive integer")
    return n


_D = Settings()
SOURCE_OPTIONS = (
    Option("pbs.log-dir", "log_dir", _D.log_dir, as_path, "PBS log directory (task logs)"),
    Option("pbs.lib-dir", "lib_dir", _D.lib_dir, as_path, "PBS state directory (jobstates)"),
    Option("pbs.config-dir", "config_dir", _D.config_dir, as_path,
           "PBS configuration directory (datastore.cfg)"),
    Option("path.sysfs", "sysfs", _D.sysfs, as_path, "sysfs mount point"),
    Option("path.procfs", "procfs", _D.procfs, as_path, "procfs mount point"),
    Option("path.devfs", "devfs", _D.devfs, as_path, "devfs mount point"),
    Option("state-dir", "state_dir", _D.state_dir, as_path,
           "where the agent keeps its caches and counters"),
    Option("pbs.api-url", "api_url", _D.api_url, str, "PBS API base URL (api collector)", "URL"),
    Option("pbs.api-token-file", "api_token_file", None, as_path,
           "file holding 'USER@REALM!TOKEN:SECRET'; enables the api collector", "FILE"),
    Option("pbs.api-fingerprint", "api_fingerprint", None, str,
           "SHA-256 fingerprint of the API certificate (default: that of "
           "<config-dir>/proxy.pem when readable, else CA verification)", "SHA256"),
    Option("dedup.max-groups", "max_groups", _D.max_groups, _positive_int,
           "groups per datastore exported individually (the rest: backup_id=__other__)", "N"),
    Option("thermal.inlet-band", "inlet_band", "15:25", _band,
           "comfortable inlet temperature band LOW:HIGH in °C", "LOW:HIGH"),
    Option("s3.request-budget", "s3_request_budget", _D.s3_request_budget, _positive_int,
           "S3-backed datastores: most LIST requests per bucket listing (1000 chunks each); "
           "a listing needing more stops, without a report", "N"),
    Option("s3.list-interval", "s3_list_interval", _D.s3_list_interval, _positive_int,
           "S3-backed datastores: seconds between bucket listings (listing costs money)",
           "SECONDS"),
)


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                opts: Sequence[Option]) -> None:
    """One ``--KEY`` flag per option (default None: the config file or default fills in)."""
    for o in opts:
        default = f" (default: {o.default})" if o.default is not None else ""
        parser.add_argument(f"--{o.key}", dest=o.dest, default=None, metavar=o.metavar,
                            help=o.help + default)


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the source flags (paths, datastores, API, --config) to *parser*."""
    group = parser.add_argument_group("sources")
    add_options(group, SOURCE_OPTIONS)
    group.add_argument("--datastore", action="append", default=None, metavar="NAME=PATH",
                       help="a datastore to scan (repeatable; default: from datastore.cfg)")
    group.add_argument("--config", type=Path, default=None, metavar="FILE",
                       help="TOML config file with the same settings (flags win)")
    group.add_argument("--tool-fixtures", type=Path, default=None, help=argparse.SUPPRESS)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in table.items():
        full = f"{prefix}{key}"
        if isinstance(val, dict) and full != "datastore":
            out.update(_flatten(val, full + "."))
        else:
            out[full] = val
    return out


def load_config_file(path: Path | None) -> dict[str, Any]:
    """The config file as flat ``{flag-name: value}``; ConfigError naming a bad key or file.

    Keys under ``web.`` and ``collector.`` are passed through unchecked: the exporter owns
    and checks them.
    """
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None
    flat = _flatten(data)
    known = {o.key for o in SOURCE_OPTIONS} | {"datastore"}
    for key in flat:
        if key not in known and not key.startswith(EXPORTER_PREFIXES):
            raise ConfigError(f"config file {path}: unknown setting {key!r}")
    return flat


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--config`` file's values (read once per parsed command line)."""
    cached: dict[str, Any] | None = getattr(args, "_config_values", None)
    if cached is None:
        cached = load_config_file(getattr(args, "config", None))
        args._config_values = cached
    return cached


def resolve(args: argparse.Namespace, opt: Option) -> Any:
    """The value of *opt*: command line, else config file, else default."""
    value = getattr(args, opt.dest, None)
    if value is None:
        value = config_values(args).get(opt.key, opt.default)
    return None if value is None else opt.convert(value)


def parse_datastores(items: list[str] | dict[str, Any] | None) -> dict[str, Path]:
    """``["store1=/mnt/x"]`` (flags) or ``{"store1": "/mnt/x"}`` (config) → name → path."""
    if isinstance(items, dict):
        items = [f"{k}={v}" for k, v in items.items()]
    out: dict[str, Path] = {}
    for item in items or []:
        name, sep, path = str(item).partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--datastore {item!r}: expected NAME=PATH")
        out[name] = Path(path)
    return out


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Build :class:`Settings` from parsed flags, the config file and the defaults."""
    values = {o.dest: resolve(args, o) for o in SOURCE_OPTIONS}
    band = values.pop("inlet_band")
    stores = args.datastore if args.datastore is not None else config_values(args).get("datastore")
    return Settings(**values, inlet_band_celsius=band, datastores=parse_datastores(stores),
                    tool_fixtures=getattr(args, "tool_fixtures", None))
