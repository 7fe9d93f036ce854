"""``FsManager``: the cgroup v1 driver (runc's ``fs`` manager).

Layout on a v1 host, for container cgroup ``/berth/c1``::

    /sys/fs/cgroup/
      cpu/berth/c1/          cpu.shares, cpu.cfs_quota_us, ...
      cpuacct/berth/c1/      (co-mounted "cpu,cpuacct" share one directory)
      cpuset/berth/c1/       cpuset.cpus, cpuset.mems (copied from parents first)
      memory/berth/c1/       memory.limit_in_bytes, ...
      pids/ blkio/ devices/ freezer/ hugetlb/ ...
      systemd/berth/c1/      name=systemd: joined only, nothing to set
"""
from __future__ import annotations

import os

from .. import _files
from .._errors import CgroupError
from ..manager import Manager, empty_stats, pids_in_tree, remove_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FsManager", "controller_modules"]




def controller_modules() -> tuple[Any, ...]:
    """The controller modules, in the order runc sets them.

    Imported on first use: ``runc start``/``kill``/``ps`` never need them,
    and each import costs start-up time.
    """
    from . import blkio, cpu, cpuacct, cpuset, devices, hugetlb, memory, pids
    from . import freezer

    return (cpuset, devices, memory, cpu, cpuacct, pids, blkio, hugetlb, freezer)


class FsManager(Manager):
    """A container cgroup on cgroup v1.

    Args:
        dirs: directory per hierarchy key (``memory``, ``cpu``,
            ``name=systemd``...), as ``paths.v1_dirs`` computes them.
        mountpoints: mount point per key; needed to fill cpuset parents.
    """

    def __init__(self, dirs: dict[str, str], *, mountpoints: dict[str, str] | None = None) -> None:
        self._dirs = dict(dirs)
        self._mountpoints = dict(mountpoints or {})

    def _unique_dirs(self) -> list[str]:
        seen: list[str] = []
        for d in self._dirs.values():
            if d not in seen:
                seen.append(d)
        return seen

    def paths(self) -> dict[str, str]:
        return dict(self._dirs)

    def create(self) -> None:
        for d in self._unique_dirs():
            try:
                os.makedirs(d, mode=0o755, exist_ok=True)
            except OSError as e:
                raise CgroupError(f"cgroup: create {d}: {e.strerror}", errno=e.errno) from e
        if "cpuset" in self._dirs:
            mountpoint = self._mountpoints.get("cpuset") or _guess_mountpoint(self._dirs["cpuset"])
            from . import cpuset

            cpuset.prepare(self._dirs["cpuset"], mountpoint)

    def apply(self, resources: dict[str, Any]) -> None:
        if resources.get("unified"):
            raise CgroupError(
                "cgroup: linux.resources.unified needs cgroup v2; this host uses v1 controllers"
            )
        if resources.get("devices") and "devices" not in self._dirs:
            # Never run a container believed to be device-confined when it is not.
            raise CgroupError("cgroup devices: the v1 devices controller is not mounted; cannot apply device rules")
        for mod in controller_modules():
            d = self._dirs.get(mod.NAME)
            if d is None:
                continue
            mod.apply(d, resources)

    def add(self, pid: int) -> None:
        for d in self._unique_dirs():
            _files.write(_owner(self._dirs, d), d, "cgroup.procs", pid)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self._unique_dirs():
            found |= pids_in_tree(d)
        return sorted(found)

    def _freezer(self) -> str:
        d = self._dirs.get("freezer")
        if d is None:
            raise CgroupError("cgroup freezer: the v1 freezer controller is not mounted; cannot pause")
        return d

    def freeze(self) -> None:
        from . import freezer

        freezer.freeze(self._freezer())

    def thaw(self) -> None:
        from . import freezer

        freezer.thaw(self._freezer())

    def state(self) -> str:
        d = self._dirs.get("freezer")
        if d is None or not os.path.isdir(d):
            return "thawed"
        from . import freezer

        return freezer.state(d)

    def stats(self) -> dict[str, Any]:
        out = empty_stats()
        for mod in controller_modules():
            d = self._dirs.get(mod.NAME)
            if d is not None and os.path.isdir(d):
                mod.stats(d, out)
        return out

    def oom_kill_count(self) -> int | None:
        d = self._dirs.get("memory")
        if d is None or not os.path.isdir(d):
            return None
        from . import memory

        return memory.oom_kill_count(d)

    def destroy(self) -> None:
        errors: list[str] = []
        for d in self._unique_dirs():
            try:
                remove_tree(d)
            except CgroupError as e:
                errors.append(str(e))
        if errors:
            raise CgroupError("; ".join(errors))


def _owner(dirs: dict[str, str], d: str) -> str:
    return ",".join(sorted(k for k, v in dirs.items() if v == d))


def _guess_mountpoint(d: str) -> str:
    # /sys/fs/cgroup/cpuset/a/b -> /sys/fs/cgroup/cpuset
    parts = d.split("/")
    return "/".join(parts[:5]) if d.startswith("/sys/fs/cgroup/") else os.path.dirname(d)
