"""v1 ``cpuacct`` controller: CPU usage accounting (stats only)."""
from __future__ import annotations

import os

from .. import _files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "cpuacct"

_NS_PER_SEC = 1_000_000_000


def apply(path: str, resources: dict[str, Any]) -> None:
    """cpuacct has nothing to set."""


def _ints(path: str, name: str) -> list[int]:
    if not _files.exists(path, name):
        return []
    return [int(x) for x in _files.read(path, name).split()]


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["cpu"]["usage"]``: total, per-CPU, kernel and user time in ns."""
    usage: dict[str, Any] = {}
    if _files.exists(path, "cpuacct.usage"):
        usage["total"] = _files.read_int(path, "cpuacct.usage")
    for key, name in (
        ("percpu", "cpuacct.usage_percpu"),
        ("percpu_kernel", "cpuacct.usage_percpu_sys"),
        ("percpu_user", "cpuacct.usage_percpu_user"),
    ):
        values = _ints(path, name)
        if values:
            usage[key] = values
    # cpuacct.stat counts USER_HZ ticks; runc converts them to nanoseconds.
    usage["kernel"] = 0
    usage["user"] = 0
    if _files.exists(path, "cpuacct.stat"):
        kv = _files.read_kv(path, "cpuacct.stat")
        hz = os.sysconf("SC_CLK_TCK")
        usage["kernel"] = kv.get("system", 0) * _NS_PER_SEC // hz
        usage["user"] = kv.get("user", 0) * _NS_PER_SEC // hz
    if usage.get("total") == 0:
        del usage["total"]
    out.setdefault("cpu", {})["usage"] = usage
