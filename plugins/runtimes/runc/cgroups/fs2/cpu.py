"""v2 ``cpu`` controller: weight, max (quota period), burst, idle.

OCI values are v1-shaped; ``shares`` converts to ``cpu.weight`` with the
curve runc uses (2 -> 1, 1024 -> 100, 262144 -> 10000). Real-time limits
have no v2 equivalent and are refused.
"""
from __future__ import annotations

import math

from .. import _files
from .._errors import CgroupError
from .._util import num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "cpu"


def shares_to_weight(shares: int) -> int:
    """Map v1 ``cpu.shares`` [2, 262144] onto v2 ``cpu.weight`` [1, 10000]; 0 stays 0 (unset).

    A quadratic in log2(shares), fitted so the ends and the defaults
    (1024 -> 100) line up (runc's ``ConvertCPUSharesToCgroupV2Value``).
    """
    if shares == 0:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(10**exponent)


def wanted(resources: dict[str, Any]) -> bool:
    cpu = section(resources, "cpu")
    return any(num(cpu, k) for k in ("shares", "quota", "period")) or cpu.get("burst") is not None or cpu.get("idle") is not None


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["cpu"]`` to ``cpu.weight``, ``cpu.max``, ``cpu.max.burst``, ``cpu.idle``."""
    cpu = section(resources, "cpu")
    if num(cpu, "realtimeRuntime") or num(cpu, "realtimePeriod"):
        raise CgroupError(
            "cgroup cpu: realtimeRuntime/realtimePeriod are not supported on cgroup v2"
        )
    if num(cpu, "shares"):
        _files.write(CONTROLLER, path, "cpu.weight", shares_to_weight(num(cpu, "shares")))
    quota, period = num(cpu, "quota"), num(cpu, "period")
    if quota or period:
        if quota > 0:
            quota_s = str(quota)
        elif quota < 0:
            quota_s = "max"
        else:  # only the period changes: keep the current quota
            quota_s = _files.read(path, "cpu.max").split()[0]
        value = f"{quota_s} {period}" if period else quota_s
        _files.write(CONTROLLER, path, "cpu.max", value)
    if cpu.get("burst") is not None:
        _files.write(CONTROLLER, path, "cpu.max.burst", int(cpu["burst"]))
    if cpu.get("idle") is not None:
        _files.write(CONTROLLER, path, "cpu.idle", int(cpu["idle"]))


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["cpu"]`` from ``cpu.stat`` (microseconds converted to ns)."""
    if not _files.exists(path, "cpu.stat"):
        return
    kv = _files.read_kv(path, "cpu.stat")
    usage: dict[str, Any] = {
        "total": kv.get("usage_usec", 0) * 1000,
        "kernel": kv.get("system_usec", 0) * 1000,
        "user": kv.get("user_usec", 0) * 1000,
    }
    if not usage["total"]:
        del usage["total"]
    cpu = out.setdefault("cpu", {})
    cpu["usage"] = usage
    throttling = {
        "periods": kv.get("nr_periods", 0),
        "throttledPeriods": kv.get("nr_throttled", 0),
        "throttledTime": kv.get("throttled_usec", 0) * 1000,
    }
    throttling = {k: v for k, v in throttling.items() if v}
    if throttling:
        cpu["throttling"] = throttling
