"""A small TOML writer for config output (``berthd config default|dump``)."""
from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table(v: Any) -> bool:
    return isinstance(v, dict)


def _emit(out: list[str], prefix: list[str], table: dict[str, Any], comments: dict[str, str]) -> None:
    for k, v in table.items():
        if not _is_table(v):
            note = comments.get(".".join(prefix + [k]))
            if note:
                out.extend(f"# {line}" for line in note.splitlines())
            out.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in table.items():
        if _is_table(v):
            path = prefix + [k]
            out.append("")
            out.append("[" + ".".join(_key(p) for p in path) + "]")
            _emit(out, path, v, comments)


def dumps(data: dict[str, Any], comments: dict[str, str] | None = None) -> str:
    """TOML text for ``data``; ``comments`` maps dotted key paths to notes."""
    out: list[str] = []
    _emit(out, [], data, comments or {})
    return "\n".join(out).lstrip("\n") + "\n"
