"""How a callback runs a command with the privileges the inventory configured.

Operations get ``_sudo``/``_su_user``… applied by pyinfra; a ``FunctionCommand`` callback that
calls ``host.run_shell_command`` directly does not, so it must pass them itself, or a deploy
that logs in as an unprivileged user with ``_sudo=True`` would run these commands unprivileged.

    >>> host.run_shell_command(command, print_output=False, **privileges(state, host))
"""

from __future__ import annotations

from typing import Any

from pyinfra.api.arguments import pop_global_arguments

#: The connector arguments that decide who runs a command and in which shell.
PRIVILEGE_KEYS = (
    "_sudo", "_sudo_user", "_use_sudo_login", "_sudo_password", "_preserve_sudo_env",
    "_su_user", "_use_su_login", "_preserve_su_env", "_su_shell", "_su_password",
    "_doas", "_doas_user", "_dzdo", "_dzdo_user", "_shell_executable", "_env",
)


def privileges(state: Any, host: Any) -> dict[str, Any]:
    """The inventory's (or config's) privilege arguments for *host*, e.g. ``{"_sudo": True}``."""
    arguments, _ = pop_global_arguments(state, host, {})
    found: dict[str, Any] = dict(arguments)
    return {key: found[key] for key in PRIVILEGE_KEYS if key in found}
