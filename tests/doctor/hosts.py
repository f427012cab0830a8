"""Fixture hosts for doctor tests: procfs/sysfs/devfs trees, PBS dirs, recorded tool outputs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pbs_agent.doctor import DoctorEnv
from pbs_agent.host import Settings

FIXTURES = Path(__file__).parent / "fixtures"


class Host:
    """A fake host root under a temp dir; :meth:`env` gives the DoctorEnv looking at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for d in ("proc", "sys", "dev", "log", "lib", "etc", "tools", "modules", "state"):
            (root / d).mkdir(parents=True)
        self.datastores: dict[str, Path] = {}
        self.now = time.time()

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def tool(self, argv: list[str], output: str) -> None:
        """Record a tool's output under the name CollectContext.run_tool looks for."""
        self.write("tools/" + "_".join(argv).replace("/", "%"), output)

    def symlink(self, rel: str, target: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)

    def env(self, **kw) -> DoctorEnv:
        r = self.root
        settings = Settings(
            procfs=r / "proc", sysfs=r / "sys", devfs=r / "dev", log_dir=r / "log",
            lib_dir=r / "lib", config_dir=r / "etc", state_dir=r / "state",
            tool_fixtures=r / "tools", datastores=dict(self.datastores),
        )
        kw.setdefault("modules_dir", r / "modules")
        kw.setdefault("now", self.now)
        return DoctorEnv(settings=settings, **kw)

    def cli_args(self) -> list[str]:
        r = self.root
        args = ["--path.procfs", f"{r}/proc", "--path.sysfs", f"{r}/sys",
                "--path.devfs", f"{r}/dev", "--pbs.log-dir", f"{r}/log",
                "--pbs.lib-dir", f"{r}/lib", "--pbs.config-dir", f"{r}/etc",
                "--state-dir", f"{r}/state", "--tool-fixtures", f"{r}/tools",
                "--path.modules", f"{r}/modules"]
        for name, path in self.datastores.items():
            args += ["--datastore", f"{name}={path}"]
        return args

