"""v2 freezer: ``cgroup.freeze`` and the ``frozen`` key of ``cgroup.events``.

Needs kernel 5.2+. Unlike v1 it cannot get stuck half-way because of
forks, but it only reports ``frozen 1`` once every task has stopped, so
we poll ``cgroup.events`` until it agrees (bounded by ``timeout``).
"""
from __future__ import annotations

import time

from .. import _files
from .._errors import CgroupError


def _check(path: str) -> None:
    if not _files.exists(path, "cgroup.freeze"):
        raise CgroupError(f"cgroup freezer: {path}/cgroup.freeze is missing (needs a non-root cgroup on kernel 5.2+)")


def _frozen(path: str) -> bool:
    return _files.read_kv(path, "cgroup.events").get("frozen") == 1


def _wait(path: str, want: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        if _frozen(path) == want:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def freeze(path: str, timeout: float = 10.0) -> None:
    """Write 1 to ``cgroup.freeze`` and wait until frozen; thaw and raise on timeout."""
    _check(path)
    _files.write("freezer", path, "cgroup.freeze", 1)
    if not _wait(path, True, timeout):
        _files.write("freezer", path, "cgroup.freeze", 0)
        raise CgroupError(f"cgroup freezer: {path} did not freeze within {timeout:g}s")


def thaw(path: str, timeout: float = 10.0) -> None:
    """Write 0 to ``cgroup.freeze`` and wait until no longer frozen."""
    _check(path)
    _files.write("freezer", path, "cgroup.freeze", 0)
    if not _wait(path, False, timeout):
        raise CgroupError(f"cgroup freezer: {path} did not thaw within {timeout:g}s")


def state(path: str) -> str:
    """``frozen`` or ``thawed`` from ``cgroup.events`` (no freezer file means thawed)."""
    if not _files.exists(path, "cgroup.freeze"):
        return "thawed"
    return "frozen" if _frozen(path) else "thawed"
