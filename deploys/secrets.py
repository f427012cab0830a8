"""Controller-side secret store: PBS token secrets and encryption keys, never printed.

One JSON object in a file readable only by its owner (mode 0600, directory 0700), replaced
atomically. The path is the inventory key ``pbs_secrets_file``, else ``$PBS_FLEET_SECRETS``,
else ``~/.config/pbs-fleet/secrets.json``. A file with looser permissions is refused, so a
secret never sits in a world-readable file unnoticed.

    >>> store = SecretStore(Path("/tmp/x/secrets.json"))
    >>> store.put("token:pbs1:pve-a@pbs!pve", "0d5c…")   # file created 0600
    >>> store.get("token:pbs1:pve-a@pbs!pve")
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from pathlib import Path

DEFAULT_PATH = Path("~/.config/pbs-fleet/secrets.json")
_LOCK = threading.Lock()  # one controller process; pyinfra's greenlets share it


class SecretStoreError(RuntimeError):
    """The secret store cannot be used; the message names the file and the reason."""


def default_path(configured: str | None = None) -> Path:
    """The store path: *configured* (inventory), ``$PBS_FLEET_SECRETS``, or the default."""
    text = configured or os.environ.get("PBS_FLEET_SECRETS") or str(DEFAULT_PATH)
    return Path(text).expanduser().resolve()


class SecretStore:
    """A small key -> secret map persisted in one 0600 JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SecretStore({self.path})"  # never the content

    def _load(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise SecretStoreError(
                f"secrets file {self.path} is mode {stat.S_IMODE(st.st_mode):04o}, readable by "
                f"others; fix it with: chmod 600 {self.path}")
        try:
            data = json.loads(self.path.read_text() or "{}")
        except json.JSONDecodeError as exc:
            raise SecretStoreError(
                f"secrets file {self.path}: not valid JSON ({exc.msg})") from None
        except UnicodeDecodeError:
            raise SecretStoreError(
                f"secrets file {self.path}: not UTF-8 text (not a pbs-fleet secrets file?)"
            ) from None
        if not isinstance(data, dict):
            raise SecretStoreError(f"secrets file {self.path}: must hold a JSON object")
        return data

    def _save(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> str | None:
        """The secret stored under *key*, or None."""
        with _LOCK:
            return self._load().get(key)

    def put(self, key: str, secret: str) -> None:
        """Store *secret* under *key* (replacing an older one)."""
        with _LOCK:
            data = self._load()
            data[key] = secret
            self._save(data)

    def delete(self, key: str) -> None:
        """Forget *key* (no error when absent)."""
        with _LOCK:
            data = self._load()
            if data.pop(key, None) is not None:
                self._save(data)

    def keys(self) -> list[str]:
        """The stored keys (never the secrets), sorted."""
        with _LOCK:
            return sorted(self._load())


def token_key(pbs_host: str, token_id: str) -> str:
    """Store key of an API token secret: ``token:<inventory host>:<user@realm!name>``."""
    return f"token:{pbs_host}:{token_id}"


def write_private_file(path: Path, text: str) -> None:
    """Write *text* to *path* with mode 0600 from the start (a key file's master copy)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    """``python3 -m deploys.secrets set KEY`` (the secret from stdin, not echoed on a TTY),
    ``delete KEY``, ``keys``; ``--file PATH`` overrides the store path. For secrets the admin
    provides: ``s3:<host>:<endpoint>`` (S3 secret key), ``notify:<host>:<target>`` (smtp
    password, gotify token, webhook secrets as a JSON object ``{"name": "value"}``)."""
    import argparse
    import getpass
    import sys

    parser = argparse.ArgumentParser(prog="python3 -m deploys.secrets")
    parser.add_argument("--file", default=None, help="secret store (default: "
                        "$PBS_FLEET_SECRETS or ~/.config/pbs-fleet/secrets.json)")
    parser.add_argument("action", choices=("set", "delete", "keys"))
    parser.add_argument("key", nargs="?")
    args = parser.parse_args(argv)
    store = SecretStore(default_path(args.file))
    try:
        if args.action == "keys":
            print("\n".join(store.keys()))
            return 0
        if not args.key:
            parser.error(f"{args.action} needs a KEY")
        if args.action == "delete":
            store.delete(args.key)
            return 0
        secret = getpass.getpass(f"secret for {args.key}: ") if sys.stdin.isatty() \
            else sys.stdin.read().rstrip("\n")
        if not secret:
            print(f"no secret given for {args.key}: nothing stored", file=sys.stderr)
            return 1
        store.put(args.key, secret)
        print(f"stored {args.key} in {store.path}")
        return 0
    except SecretStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
