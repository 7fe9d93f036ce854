"""v1 ``pids`` controller: a cap on the number of tasks."""
from __future__ import annotations

from .. import _files
from .._util import num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "pids"


def limit_value(limit: int) -> str:
    """``pids.max`` text for an OCI limit: a positive number, or ``max`` for negatives."""
    return str(limit) if limit > 0 else "max"


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["pids"]["limit"]``; 0 leaves it, negative means unlimited."""
    limit = num(section(resources, "pids"), "limit")
    if limit:
        _files.write(NAME, path, "pids.max", limit_value(limit))


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["pids"]`` with ``current`` and ``limit`` (unlimited is omitted, as in runc)."""
    result = {
        "current": _files.read_int(path, "pids.current"),
        "limit": _files.read_uint_or_max(path, "pids.max", max_value=0),
    }
    out["pids"] = {k: v for k, v in result.items() if v}
