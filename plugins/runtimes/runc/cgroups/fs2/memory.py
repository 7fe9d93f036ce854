"""v2 ``memory`` controller: memory.max, memory.swap.max, memory.low.

OCI ``swap`` is memory+swap (a v1 notion); v2 limits swap alone, so the
value written is ``swap - limit`` (runc's ``ConvertMemorySwapToCgroupV2Value``).
``disableOOMKiller`` and ``swappiness`` have no v2 file and are ignored with
a warning, as in runc.
"""
from __future__ import annotations


from .. import _files
from .._errors import CgroupError
from .._util import log, num, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "memory"


def swap_to_v2(swap: int, limit: int) -> int:
    """Convert OCI memory+swap ``swap`` to a v2 swap-only value (0 unset, -1 max).

    Raises:
        CgroupError: swap given without a memory limit, or below it.
    """
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0) or limit == -1:
        return swap
    if limit == 0:
        raise CgroupError("cgroup memory: unable to set swap limit without memory limit")
    if limit < 0:
        raise CgroupError(f"cgroup memory: invalid memory value: {limit}")
    if swap < limit:
        raise CgroupError("cgroup memory: memory+swap limit should be >= memory limit")
    return swap - limit


def _text(value: int) -> str:
    return "max" if value == -1 else str(value)


def wanted(resources: dict[str, Any]) -> bool:
    mem = section(resources, "memory")
    return any(num(mem, k) for k in ("limit", "swap", "reservation"))


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["memory"]``."""
    mem = section(resources, "memory")
    limit = num(mem, "limit")
    swap = swap_to_v2(num(mem, "swap"), limit)
    if swap:
        if not _files.exists(path, "memory.swap.max"):
            if swap > 0:
                raise CgroupError(
                    f"cgroup memory: cannot set swap limit: {path}/memory.swap.max is missing "
                    "(no swap accounting in this kernel)"
                )
        else:
            _files.write(CONTROLLER, path, "memory.swap.max", _text(swap))
    if limit:
        _files.write(CONTROLLER, path, "memory.max", _text(limit))
    if num(mem, "reservation"):
        _files.write(CONTROLLER, path, "memory.low", _text(num(mem, "reservation")))
    if mem.get("disableOOMKiller") or resources.get("disableOOMKiller"):
        log("warning", __name__, "cgroup v2 has no way to disable the OOM killer; ignoring disableOOMKiller")
    if mem.get("swappiness") not in (None, -1):
        log("warning", __name__, "cgroup v2 has no memory.swappiness; ignoring swappiness")


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["memory"]``; swap is reported as memory+swap to match v1."""
    if not _files.exists(path, "memory.current"):
        return
    raw = _files.read_kv(path, "memory.stat")
    events = _files.read_kv(path, "memory.events") if _files.exists(path, "memory.events") else {}
    usage = {
        "limit": _files.read_int(path, "memory.max"),
        "usage": _files.read_int(path, "memory.current"),
        "failcnt": events.get("max", 0),
    }
    if _files.exists(path, "memory.peak"):
        usage["max"] = _files.read_int(path, "memory.peak")
    result: dict[str, Any] = {"usage": {k: v for k, v in usage.items() if v or k in ("limit", "failcnt")}}
    if raw.get("file"):
        result["cache"] = raw["file"]
    if _files.exists(path, "memory.swap.current"):
        swap_limit = _files.read_int(path, "memory.swap.max")
        total_limit = _files.MAX_UINT64 if _files.MAX_UINT64 in (swap_limit, usage["limit"]) else swap_limit + usage["limit"]
        result["swap"] = {
            "limit": total_limit,
            "usage": _files.read_int(path, "memory.swap.current") + usage["usage"],
            "failcnt": 0,
        }
    if raw:
        result["raw"] = raw
    out["memory"] = result


def oom_kill_count(path: str) -> int | None:
    """``oom_kill`` from ``memory.events``, or ``None`` without the memory controller."""
    if not _files.exists(path, "memory.events"):
        return None
    return _files.read_kv(path, "memory.events").get("oom_kill", 0)
