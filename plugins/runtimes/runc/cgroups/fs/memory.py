"""v1 ``memory`` controller: limit, swap, reservation, swappiness, OOM killer.

The ``kernel`` limit is ignored, as runc does: the kernel deprecated kmem
limits (5.4) and no longer accepts them. ``kernelTCP`` is still enforced by
v1 (``memory.kmem.tcp.limit_in_bytes``) and is written where that file
exists, as crun does.
"""
from __future__ import annotations

import errno

from .. import _files
from .._errors import CgroupError
from .._util import num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "memory"

_LIMIT = "memory.limit_in_bytes"
_SWAP = "memory.memsw.limit_in_bytes"
_KMEM_TCP = "memory.kmem.tcp.limit_in_bytes"


def _set_limit(path: str, value: int) -> None:
    try:
        _files.write(NAME, path, _LIMIT, value)
    except CgroupError as e:
        if e.errno != errno.EBUSY:
            raise
        # EBUSY: the new limit is below what the cgroup already uses.
        usage = _files.read_int(path, "memory.usage_in_bytes")
        peak = _files.read_int(path, "memory.max_usage_in_bytes")
        raise CgroupError(
            f"cgroup memory: unable to set memory limit to {value} in {path} "
            f"(current usage: {usage}, peak usage: {peak})",
            errno=e.errno,
        ) from e


def _set_swap(path: str, value: int) -> None:
    if not _files.exists(path, _SWAP):
        raise CgroupError(
            f"cgroup memory: cannot set memory+swap limit {value}: {path}/{_SWAP} is missing "
            "(the kernel has no swap accounting; boot with swapaccount=1)"
        )
    _files.write(NAME, path, _SWAP, value)


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["memory"]`` (and legacy top-level ``disableOOMKiller``)."""
    mem = section(resources, "memory")
    limit, swap = num(mem, "limit"), num(mem, "swap")
    if limit == -1 and swap == 0 and _files.exists(path, _SWAP):
        swap = -1  # "unlimited memory" means unlimited memory+swap too
    # memsw must stay >= limit at every step, so order the two writes by
    # where the new values sit relative to the current limit.
    if limit and swap and (swap == -1 or _files.read_int(path, _LIMIT) < swap):
        _set_swap(path, swap)
        _set_limit(path, limit)
    else:
        if limit:
            _set_limit(path, limit)
        if swap:
            _set_swap(path, swap)
    if num(mem, "reservation"):
        _files.write(NAME, path, "memory.soft_limit_in_bytes", num(mem, "reservation"))
    if num(mem, "kernelTCP") and _files.exists(path, _KMEM_TCP):
        _files.write(NAME, path, _KMEM_TCP, num(mem, "kernelTCP"))
    if mem.get("disableOOMKiller") or resources.get("disableOOMKiller"):
        _files.write(NAME, path, "memory.oom_control", 1)
    swappiness = mem.get("swappiness")
    if swappiness is not None and int(swappiness) != -1:
        if not 0 <= int(swappiness) <= 100:
            raise CgroupError(
                f"cgroup memory: invalid memory swappiness value {swappiness} (valid range is 0-100)"
            )
        _files.write(NAME, path, "memory.swappiness", int(swappiness))


def _entry(path: str, prefix: str) -> dict[str, int]:
    names = {
        "limit": f"{prefix}.limit_in_bytes",
        "usage": f"{prefix}.usage_in_bytes",
        "max": f"{prefix}.max_usage_in_bytes",
        "failcnt": f"{prefix}.failcnt",
    }
    entry = {k: _files.read_int(path, n) for k, n in names.items() if _files.exists(path, n)}
    # runc omits zero usage/max but always prints limit and failcnt.
    return {k: v for k, v in entry.items() if v or k in ("limit", "failcnt")}


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["memory"]``: usage, swap (memory+swap), kernel, kernelTCP, cache, raw."""
    result: dict[str, Any] = {}
    raw = _files.read_kv(path, "memory.stat")
    if raw.get("cache"):
        result["cache"] = raw["cache"]
    for key, prefix in (
        ("usage", "memory"),
        ("swap", "memory.memsw"),
        ("kernel", "memory.kmem"),
        ("kernelTCP", "memory.kmem.tcp"),
    ):
        entry = _entry(path, prefix)
        if any(entry.values()):
            result[key] = entry
    if raw:
        result["raw"] = raw
    out["memory"] = result


def oom_kill_count(path: str) -> int | None:
    """``oom_kill`` from ``memory.oom_control`` (kernel 4.13+), else ``None``."""
    for line in _files.read(path, "memory.oom_control").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return None
