"""Render the inventory settings of every step module as Markdown (docs/deploy.md).

    python -m deploys.schema_doc            # print the generated block
    python -m deploys.schema_doc --write    # refresh it in docs/deploy.md

The block sits between :data:`BEGIN` and :data:`END`; a test keeps it in sync with the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deploys import schema

DOC = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
BEGIN = "<!-- BEGIN GENERATED SETTINGS (python -m deploys.schema_doc --write) -->"
END = "<!-- END GENERATED SETTINGS -->"


def _default(key: schema.Key) -> str:
    if key.required:
        return "**required**"
    try:
        text = json.dumps(key.default, sort_keys=True)
    except TypeError:
        text = repr(key.default)
    return f"`{text}`"


def _type(key: schema.Key) -> str:
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def render(keys: dict[str, schema.Key] | None = None) -> str:
    """The settings reference, grouped by the module that owns each key."""
    keys = schema.load_all() if keys is None else keys
    lines: list[str] = []
    owner: Any = None
    for name, key in sorted(keys.items(), key=lambda kv: (kv[1].owner, kv[0])):
        if key.owner != owner:
            owner = key.owner
            lines += ["", f"### `{owner}`", ""]
        flag = " — **TEST-ONLY**" if key.test_only else ""
        doc = " ".join(key.doc.split())
        lines.append(f"- **`{name}`** ({_type(key)}, default {_default(key)}){flag}: {doc}")
    return "\n".join(lines).strip() + "\n"


def refresh(text: str, block: str) -> str:
    """*text* with the generated block replaced by *block*."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n\n" + block + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="inventory settings reference")
    parser.add_argument("--write", action="store_true", help=f"update {DOC}")
    args = parser.parse_args(argv)
    block = render()
    if args.write:
        DOC.write_text(refresh(DOC.read_text(), block))
    else:
        sys.stdout.write(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
