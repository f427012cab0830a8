"""Live kernel parameters and whether this host may change them."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase, QuoteString, StringCommand


class SysctlState(FactBase[dict[str, dict[str, Any]]]):
    """Current value (whitespace-normalised) and writability of each sysctl key.

    A key the host cannot set (absent, mode 0444 in a network namespace, read-only
    ``/proc/sys`` in a container) has ``writable: False``.

    + keys: the kernel parameters to read

    **Example:**

    .. code:: python

        host.get_fact(SysctlState, keys=["net.core.somaxconn"])
        # {"net.core.somaxconn": {"value": "4096", "writable": True}}
    """

    @staticmethod
    def default() -> dict[str, dict[str, Any]]:
        return {}

    def command(self, keys: list[str]) -> StringCommand:
        script = ('for k in "$@"; do p=/proc/sys/$(echo "$k" | tr . /); '
                  'if [ -e "$p" ]; then v=$(tr -s "\\t " "  " < "$p"); '
                  'if [ -w "$p" ]; then w=1; else w=0; fi; else v=""; w=0; fi; '
                  'printf "%s\\t%s\\t%s\\n" "$k" "$w" "$v"; done')
        return StringCommand("sh", "-c", QuoteString(script), "sysctl-state",
                             *(QuoteString(k) for k in keys))

    def process(self, output: list[str]) -> dict[str, dict[str, Any]]:
        state = {}
        for line in output:
            key, _, rest = line.partition("\t")
            writable, _, value = rest.partition("\t")
            state[key] = {"value": value.strip() or None, "writable": writable == "1"}
        return state
