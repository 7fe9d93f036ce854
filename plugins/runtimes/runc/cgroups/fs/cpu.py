"""v1 ``cpu`` controller: shares, CFS quota/period/burst, RT budget, idle."""
from __future__ import annotations

import errno

from .. import _files
from .._errors import CgroupError
from .._util import num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "cpu"


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["cpu"]`` to the cpu controller files in ``path``."""
    cpu = section(resources, "cpu")
    shares = num(cpu, "shares")
    if shares:
        _files.write(NAME, path, "cpu.shares", shares)
        got = _files.read_int(path, "cpu.shares")
        if got != shares:
            # The kernel clamps instead of failing; runc reports it.
            raise CgroupError(
                f"cgroup cpu: cpu.shares {shares} was stored as {got} by the kernel "
                f"(the allowed range is 2-262144)"
            )
    period, quota = num(cpu, "period"), num(cpu, "quota")
    if period:
        try:
            _files.write(NAME, path, "cpu.cfs_period_us", period)
        except CgroupError as e:
            # A shorter period can be refused while the old quota exceeds
            # it; set the quota first and retry (as runc does).
            if e.errno != errno.EINVAL or not quota:
                raise
            _files.write(NAME, path, "cpu.cfs_quota_us", quota)
            _files.write(NAME, path, "cpu.cfs_period_us", period)
    if quota:
        _files.write(NAME, path, "cpu.cfs_quota_us", quota)
    burst = cpu.get("burst")
    if burst is not None:
        _files.write(NAME, path, "cpu.cfs_burst_us", int(burst))
    if num(cpu, "realtimePeriod"):
        _files.write(NAME, path, "cpu.rt_period_us", num(cpu, "realtimePeriod"))
    if num(cpu, "realtimeRuntime"):
        _files.write(NAME, path, "cpu.rt_runtime_us", num(cpu, "realtimeRuntime"))
    idle = cpu.get("idle")
    if idle is not None:
        _files.write(NAME, path, "cpu.idle", int(idle))


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["cpu"]["throttling"]`` from ``cpu.stat``."""
    if not _files.exists(path, "cpu.stat"):
        return
    kv = _files.read_kv(path, "cpu.stat")
    throttling = {
        "periods": kv.get("nr_periods", 0),
        "throttledPeriods": kv.get("nr_throttled", 0),
        "throttledTime": kv.get("throttled_time", 0),
    }
    throttling = {k: v for k, v in throttling.items() if v}
    if throttling:
        out.setdefault("cpu", {})["throttling"] = throttling
