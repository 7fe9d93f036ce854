"""Small helpers the v1 controller modules share."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["section", "num", "parse_list", "log"]


def section(resources: dict[str, Any], key: str) -> dict[str, Any]:
    """``resources[key]`` as a dict, empty when absent or null."""
    value = resources.get(key)
    return value if isinstance(value, dict) else {}


def num(d: dict[str, Any], key: str) -> int:
    """``d[key]`` as an int; absent or null is 0 ("unchanged")."""
    value = d.get(key)
    return int(value) if value is not None else 0


def parse_list(text: str) -> list[int]:
    """Parse a cpuset list such as ``0-3,8`` into ``[0, 1, 2, 3, 8]``."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def log(level: str, logger: str, message: str, **fields: Any) -> None:
    """Log through :mod:`logging`, imported only when something is logged.

    ``logging`` costs ~9 ms to import, a large share of berth-runc's start-up.
    """
    import logging

    getattr(logging.getLogger(logger), level)(message, extra=fields)
