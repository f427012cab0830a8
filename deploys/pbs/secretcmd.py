"""Commands that carry a secret: run at execution time, never printed.

pyinfra prints command lines (and, with ``-vvv`` or on failure, their output). These helpers
are ``FunctionCommand`` callbacks: the secret is read from the controller store only when the
command runs, passed as a :class:`HiddenValue` (printed ``*MASKED*``), and the command's output
is never echoed — a failure prints one line with the secret scrubbed out.

    >>> yield FunctionCommand(run_with_secrets, (argv_template, store_path, [store_key],
    ...                                           "pvesm add pbs-a"), {})
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyinfra import logger
from pyinfra.api import HiddenValue, QuoteString, StringCommand

from deploys.connection import privileges
from deploys.pbs import commands
from deploys.secrets import SecretStore


def placeholder(index: int = 0) -> str:
    """Placeholder for the *index*-th secret in an argv template (filled at execution)."""
    return f"\0secret{index}\0"


SECRET = placeholder(0)
#: Placeholder for a peer's certificate fingerprint read at execution time.
FINGERPRINT = "\0fingerprint\0"


def digest(secret: str) -> str:
    """sha256 hex of a secret (to compare with what a host stores, without reading it)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def fill(template: Sequence[Any], secrets: Sequence[str]) -> list[Any]:
    """*template* with each placeholder replaced by its secret as a HiddenValue."""
    values = {placeholder(i): HiddenValue(s)  # type: ignore[no-untyped-call]  # unannotated in pyinfra
              for i, s in enumerate(secrets)}
    return [values.get(part, part) if isinstance(part, str) else part for part in template]


def _fail(host: Any, what: str, text: str, secrets: Sequence[str] = ()) -> bool:
    line = " ".join(text.split())
    for secret in secrets:
        line = line.replace(secret, "*MASKED*")
    host.log_styled(f"{what}: {line or 'failed'}", fg="red", log_func=logger.error)
    return False


def peer_fingerprint(state: Any, peer_name: str) -> str | None:
    """The proxy certificate fingerprint of inventory host *peer_name*, read now."""
    peer = state.inventory.get_host(peer_name)
    command = StringCommand(commands.shell_line(commands.cert_info()), "2>/dev/null", "|",
                            "sed", "-n", QuoteString("s/^Fingerprint (sha256): *//p"))
    status, output = peer.run_shell_command(command, print_output=False,
                                            **privileges(state, peer))
    value = output.stdout.strip().lower() if status else ""
    return value or None


def run_with_secrets(state: Any, host: Any, template: Sequence[Any], store_path: str,
                     store_keys: Sequence[str], what: str, refused_by: str = "PBS",
                     pin_from: str | None = None) -> bool:
    """Run ``checked(template with the secrets)``; False (one clear line) on any failure.

    With *pin_from*, :data:`FINGERPRINT` in the template becomes that peer's fingerprint.
    """
    if pin_from:
        fingerprint = peer_fingerprint(state, pin_from)
        if fingerprint is None:
            return _fail(host, what, f"{pin_from} serves no certificate to pin")
        template = [fingerprint if part == FINGERPRINT else part for part in template]
    store = SecretStore(Path(store_path))
    secrets = []
    for key in store_keys:
        secret = store.get(key)
        if secret is None:
            return _fail(host, what, f"no secret for {key.split(':', 2)[-1]} in {store_path}; "
                         "regenerate the token with pbs_regenerate_tokens")
        secrets.append(secret)
    command = commands.checked(fill(template, secrets), what, refused_by)
    status, output = host.run_shell_command(command, print_output=False,
                                            print_input=state.print_input,
                                            **privileges(state, host))
    if not status:  # stderr is already the one line from checked(); scrub and print it
        text = " ".join(output.stderr.split())
        for secret in secrets:
            text = text.replace(secret, "*MASKED*")
        host.log_styled(text or f"{refused_by} refused {what}", fg="red", log_func=logger.error)
        return False
    return True


def generate_token(state: Any, host: Any, userid: str, token: str, options: dict[str, Any],
                   store_path: str, store_key: str, regenerate: bool) -> bool:
    """``user generate-token``: capture ``Result: {…, "value": secret}`` into the store."""
    what = f"generate-token {userid}!{token}"
    if regenerate:
        status, output = host.run_shell_command(
            commands.checked(commands.token_delete(userid, token), f"delete-token {userid}!"
                             f"{token}"), print_output=False, print_input=state.print_input,
            **privileges(state, host))
        if not status:
            return _fail(host, what, output.stderr)
    status, output = host.run_shell_command(
        commands.to_command(commands.token_generate(userid, token, options)),
        print_output=False, print_input=state.print_input, **privileges(state, host))
    if not status:
        return _fail(host, f"PBS refused {what}", _squeeze_pbs_error(output.stderr_lines))
    try:
        secret = commands.parse_result(output.stdout_lines)["value"]
    except (ValueError, KeyError, TypeError):
        return _fail(host, what, "no token value in the output of generate-token")
    SecretStore(Path(store_path)).put(store_key, secret)
    host.log_styled(f"token {userid}!{token}: secret stored in {store_path}", fg="cyan")
    return True


def _squeeze_pbs_error(lines: list[str]) -> str:
    """``Error: …`` + details without the usage block, on one line."""
    out = []
    for line in lines:
        if line.startswith("Usage:"):
            break
        if line.strip():
            out.append(line.removeprefix("Error: ").strip())
    return "; ".join(out)


def secret_args(option: str, secret: str) -> list[str]:
    """The CLI arguments carrying a target's secret: ``--password x`` / ``--token x``, or for
    a webhook (the store holds a JSON object ``{name: value}``) one ``--secret
    name=<n>,value=<base64>`` per entry, sorted by name, as PBS stores them."""
    if option != "secret":
        return [f"--{option}", secret]
    try:
        items = json.loads(secret)
    except ValueError:
        raise ValueError("webhook secret in the store must be a JSON object {name: value}") \
            from None
    if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
        raise ValueError("webhook secret in the store must be a JSON object {name: value}")
    out: list[str] = []
    for name in sorted(items):
        out += ["--secret", f"name={name},value="
                + base64.b64encode(items[name].encode()).decode()]
    return out


def secret_digest(option: str, secret: str) -> str:
    """What :class:`~deploys.pbs.facts.SectionSecretDigests` reads for this secret on PBS."""
    if option != "secret":
        return digest(secret)
    return digest("\n".join(secret_args(option, secret)[1::2]))


def run_with_target_secret(state: Any, host: Any, template: Sequence[Any], store_path: str,
                           store_key: str, option: str, what: str) -> bool:
    """Like :func:`run_with_secrets` for a notification target: the secret expands to its
    option(s) (:func:`secret_args`), each value a HiddenValue."""
    secret = SecretStore(Path(store_path)).get(store_key)
    if secret is None:
        return _fail(host, what, f"no secret {store_key} in {store_path}; add it with: "
                     f"python3 -m deploys.secrets set {store_key}")
    try:
        args = secret_args(option, secret)
    except ValueError as exc:
        return _fail(host, what, f"{store_key}: {exc}")
    filled = [HiddenValue(a) if i % 2 else a  # type: ignore[no-untyped-call]  # unannotated in pyinfra
              for i, a in enumerate(args)]
    command = commands.checked([*template, *filled], what)
    status, output = host.run_shell_command(command, print_output=False,
                                            print_input=state.print_input,
                                            **privileges(state, host))
    if not status:
        return _fail(host, what, output.stderr, [secret, *args[1::2]])
    return True
