"""``datastore-permissions``: the owners and modes PBS expects ("Permission denied (os error 13)").

PBS 4's ``verify_chunkstore`` requires: datastore root 0755, ``.chunks`` and each of its
65536 subdirectories 0750, ``.lock`` 0644, everything owned by user and group ``backup``.
The uid/gid of ``backup`` come from this host's passwd/group databases; where there is no
such user (a workstation looking at a copied tree) Debian's static base-passwd ids 34:34
are used, which is what every PBS host has.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path

from ..formats import DIR_FLAGS, open_noatime
from .model import Check, DoctorEnv, Verdict

ID = "datastore-permissions"
DEBIAN_BACKUP_ID = 34


def backup_ids() -> tuple[int, int]:
    """(uid, gid) of ``backup``: from the passwd/group databases, else Debian's 34:34."""
    try:
        uid = pwd.getpwnam("backup").pw_uid
    except KeyError:
        uid = DEBIAN_BACKUP_ID
    try:
        gid = grp.getgrnam("backup").gr_gid
    except KeyError:
        gid = DEBIAN_BACKUP_ID
    return uid, gid


@dataclass(frozen=True)
class Problem:
    path: Path
    want_mode: int
    reason: str
    fatal: bool  # the backup user cannot work (owner or owner bits); else a mode deviation

    def fix(self) -> str:
        q = shlex.quote(str(self.path))
        if self.reason == "missing directory":
            return f"install -d -m {self.want_mode:04o} -o backup -g backup {q}"
        if self.reason == "missing file":
            return f"install -m {self.want_mode:04o} -o backup -g backup /dev/null {q}"
        return f"chown backup:backup {q} && chmod {self.want_mode:04o} {q}"


def _problem(path: Path, st: os.stat_result, want_mode: int, is_dir: bool,
             ids: tuple[int, int]) -> Problem | None:
    if stat.S_ISDIR(st.st_mode) != is_dir:
        return Problem(path, want_mode, "is a directory" if not is_dir else "not a directory",
                       True)
    mode = stat.S_IMODE(st.st_mode)
    if (st.st_uid, st.st_gid) != ids:
        return Problem(path, want_mode, f"owned by {st.st_uid}:{st.st_gid}, "
                       f"expected backup:backup ({ids[0]}:{ids[1]})", True)
    if mode != want_mode:
        need = want_mode & 0o700
        return Problem(path, want_mode, f"mode {mode:04o}, expected {want_mode:04o}",
                       mode & need != need)
    return None


def _inspect(path: Path, want_mode: int, is_dir: bool, ids: tuple[int, int]) -> Problem | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        kind = "directory" if is_dir else "file"
        return Problem(path, want_mode, f"missing {kind}", True)
    except OSError as exc:
        return Problem(path, want_mode, f"cannot stat: {exc.strerror}", True)
    return _problem(path, st, want_mode, is_dir, ids)


def _chunk_dir_problems(chunks: Path, ids: tuple[int, int]) -> tuple[list[Problem], int]:
    """Problems of the subdirectories of ``.chunks`` (none if it cannot be listed: reported
    on its own) and how many there are. One ``lstat`` per entry, through the directory's
    descriptor: linear in the 65,536 entries of a real datastore."""
    try:
        fd = open_noatime(chunks, DIR_FLAGS & ~os.O_NOFOLLOW)  # its atime stays where allowed
    except OSError:
        return [], 0
    found, count = [], 0
    try:
        for name in sorted(os.listdir(fd)):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue  # vanished meanwhile
            if not stat.S_ISDIR(st.st_mode):
                continue
            count += 1
            problem = _problem(chunks / name, st, 0o750, True, ids)
            if problem is not None:
                found.append(problem)
    except OSError:
        pass
    finally:
        os.close(fd)
    return found, count


def store_problems(root: Path, ids: tuple[int, int]) -> tuple[list[Problem], int]:
    """All problems of one datastore, root first; and the number of chunk dirs seen."""
    found = [_inspect(root, 0o755, True, ids), _inspect(root / ".lock", 0o644, False, ids),
             _inspect(root / ".chunks", 0o750, True, ids)]
    subdirs, count = _chunk_dir_problems(root / ".chunks", ids)
    return [p for p in found if p is not None] + subdirs, count


def _fix(root: Path, problems: list[Problem]) -> str:
    """One command line fixing every problem of a datastore (linear in the problems)."""
    chunks = root / ".chunks"
    under = [p.path == chunks or p.path.parent == chunks for p in problems]
    if sum(under) < 2:
        return " && ".join(p.fix() for p in problems)
    # many chunk dirs: one recursive fix, which also covers .chunks itself
    top = [p.fix() for p, in_chunks in zip(problems, under, strict=True) if not in_chunks]
    q = shlex.quote(str(chunks))
    top.append(f"chown -R backup:backup {q} && find {q} -type d -exec chmod 0750 {{}} +")
    return " && ".join(top)


def check(env: DoctorEnv) -> Check:
    stores = env.datastores()
    if not stores:
        return Check(ID, Verdict.WARN, "no datastore configured (datastore.cfg empty or "
                     "unreadable, no --datastore)", "pass --datastore NAME=PATH")
    ids = backup_ids()
    verdict, evidence, fix = Verdict.OK, [], ""
    for name, root in stores.items():
        problems, ndirs = store_problems(Path(root), ids)
        if not problems:
            evidence.append(f"{name}: {root} 0755, .lock 0644, .chunks + {ndirs} subdirs 0750, "
                            f"all backup:backup")
            continue
        level = Verdict.FAIL if any(p.fatal for p in problems) else Verdict.WARN
        verdict = max(verdict, level)
        first = problems[0]
        evidence.append(f"{name}: {first.path}: {first.reason}"
                        + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
        fix = fix or _fix(Path(root), problems)
    return Check(ID, verdict, "; ".join(evidence), fix)
