"""``UnifiedManager``: the cgroup v2 driver (runc's ``fs2`` manager).

Layout on a v2 host, for container cgroup ``/berth/c1``::

    /sys/fs/cgroup/                 cgroup.subtree_control  +cpu +memory +pids ...
      berth/                        cgroup.subtree_control  +cpu +memory +pids ...
        c1/                         memory.max, cpu.max, pids.max, cgroup.freeze, ...

A controller's files appear in ``c1`` only once every ancestor lists it in
``cgroup.subtree_control``; :meth:`UnifiedManager.create` enables all that
each ancestor offers (runc's ``CreateCgroupPath``). Device rules need an eBPF
program (``BPF_PROG_TYPE_CGROUP_DEVICE``) which berth does not load yet: they
are skipped with a warning, so on a v2 host devices are confined only by
the container's /dev contents, not by the cgroup.
"""
from __future__ import annotations

import os

from .. import _files
from .._errors import CgroupError
from .._util import log
from ..manager import Manager, empty_stats, pids_in_tree, remove_tree
from . import freezer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UnifiedManager", "controller_modules", "enable_controllers", "apply_unified", "controllers"]




def controller_modules() -> tuple[Any, ...]:
    """The controller modules, imported on first use (start-up cost)."""
    from . import cpu, cpuset, hugetlb, io, memory, pids

    return (cpuset, memory, cpu, pids, io, hugetlb)


#: Which ``linux.resources`` key each controller serves, for error messages.
_RESOURCE_KEY = {
    "cpuset": "cpu.cpus/mems", "memory": "memory", "cpu": "cpu",
    "pids": "pids", "io": "blockIO", "hugetlb": "hugepageLimits",
}


def controllers(path: str) -> set[str]:
    """Controllers available in cgroup ``path`` (its ``cgroup.controllers``)."""
    return set(_files.read(path, "cgroup.controllers").split())


def enable_controllers(root: str, path: str, only: set[str] | None = None) -> None:
    """Make ``path`` (and missing parents under ``root``) and enable controllers top down.

    In each ancestor from ``root`` to ``path``'s parent, every controller
    listed in its ``cgroup.controllers`` (or just those in ``only``) is
    written to ``cgroup.subtree_control``. A controller the kernel refuses
    there (a threaded subtree, processes in an inner cgroup) is skipped: the
    missing-controller check in :meth:`UnifiedManager.apply` reports it if a
    resource needs it.
    """
    rel = os.path.relpath(path, root)
    parts = [] if rel == "." else rel.split("/")
    current = root
    for part in parts:
        available = controllers(current)
        if only is not None:
            available &= only
        enabled = set(_files.read(current, "cgroup.subtree_control").split())
        missing = sorted(available - enabled)
        if missing:
            try:
                _files.write("unified", current, "cgroup.subtree_control", " ".join("+" + c for c in missing))
            except CgroupError:
                for c in missing:
                    try:
                        _files.write("unified", current, "cgroup.subtree_control", "+" + c)
                    except CgroupError as e:
                        log("debug", __name__, "controller not enabled", controller=c, cgroup=current, error=str(e))
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            pass
        except OSError as e:
            raise CgroupError(f"cgroup: create {current}: {e.strerror}", errno=e.errno) from e


def apply_unified(path: str, unified: dict[str, str]) -> None:
    """Write ``linux.resources.unified`` key/values as files in ``path``.

    Raises:
        CgroupError: a key is not a plain file name of the form
            ``<controller>.<file>`` or the file does not exist there.
    """
    for key, value in unified.items():
        if "/" in key or key.startswith(".") or "." not in key:
            raise CgroupError(f"cgroup: linux.resources.unified key {key!r} is not a cgroup file name")
        if not _files.exists(path, key):
            ctrl = key.split(".", 1)[0]
            raise CgroupError(
                f"cgroup: linux.resources.unified[{key!r}]: no file {key} in {path} "
                f"(is the {ctrl} controller enabled? cgroup.controllers: "
                f"{_files.read(path, 'cgroup.controllers') or 'none'})"
            )
        _files.write(key.split(".", 1)[0], path, key, value)


class UnifiedManager(Manager):
    """A container cgroup on the cgroup v2 (unified) hierarchy.

    Args:
        path: the cgroup directory, e.g. ``/sys/fs/cgroup/berth/c1``.
        root: the cgroup2 mount point it lives under.
    """

    def __init__(self, path: str, *, root: str) -> None:
        self._path = os.path.normpath(path)
        self._root = os.path.normpath(root)

    def paths(self) -> dict[str, str]:
        return {"unified": self._path}

    def create(self) -> None:
        enable_controllers(self._root, self._path)

    def apply(self, resources: dict[str, Any]) -> None:
        available = controllers(self._path)
        for mod in controller_modules():
            if not mod.wanted(resources):
                continue
            if mod.CONTROLLER not in available:
                raise CgroupError(
                    f"cgroup {mod.CONTROLLER}: linux.resources.{_RESOURCE_KEY[mod.CONTROLLER]} needs the "
                    f"{mod.CONTROLLER} controller, which is not available in {self._path} "
                    f"(cgroup.controllers: {' '.join(sorted(available)) or 'none'})"
                )
            mod.apply(self._path, resources)
        if resources.get("devices"):
            log(
                "warning", __name__,
                "device cgroup rules need eBPF on cgroup v2, which berth does not load; rules skipped",
                cgroup=self._path,
            )
        if resources.get("unified"):
            apply_unified(self._path, resources["unified"])

    def add(self, pid: int) -> None:
        _files.write("unified", self._path, "cgroup.procs", pid)

    def pids(self) -> list[int]:
        return sorted(pids_in_tree(self._path))

    def freeze(self) -> None:
        freezer.freeze(self._path)

    def thaw(self) -> None:
        freezer.thaw(self._path)

    def state(self) -> str:
        if not os.path.isdir(self._path):
            return "thawed"
        return freezer.state(self._path)

    def stats(self) -> dict[str, Any]:
        out = empty_stats()
        for mod in controller_modules():
            mod.stats(self._path, out)
        return out

    def oom_kill_count(self) -> int | None:
        from . import memory

        return memory.oom_kill_count(self._path)

    def destroy(self) -> None:
        remove_tree(self._path)
