"""v2 ``pids`` controller."""
from __future__ import annotations

from .. import _files
from .._util import num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "pids"


def wanted(resources: dict[str, Any]) -> bool:
    return bool(num(section(resources, "pids"), "limit"))


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["pids"]["limit"]`` to ``pids.max`` (negative means ``max``)."""
    limit = num(section(resources, "pids"), "limit")
    if limit:
        _files.write(CONTROLLER, path, "pids.max", str(limit) if limit > 0 else "max")


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["pids"]`` with ``current`` and ``limit`` (unlimited omitted)."""
    if not _files.exists(path, "pids.current"):
        return
    result = {
        "current": _files.read_int(path, "pids.current"),
        "limit": _files.read_uint_or_max(path, "pids.max", max_value=0),
    }
    out["pids"] = {k: v for k, v in result.items() if v}
