"""cgroups for berth-runc: one :class:`Manager` interface, three drivers.

* ``fs`` -- cgroup v1, one module per controller (runc's ``fs/``);
* ``fs2`` -- cgroup v2, the unified hierarchy (runc's ``fs2/``);
* ``hybrid`` -- v1 for limits plus the matching cgroup2 directory.

Use :func:`new_manager` with the OCI ``linux.cgroupsPath``; it calls
:func:`detect` to choose. Drivers import their controller modules lazily,
so importing this package stays cheap.

Example::

    from berth.plugins.runtimes.runc import cgroups

    m = cgroups.new_manager("", container_id="c1")   # /berth/c1
    m.create()
    m.apply({"memory": {"limit": 64 << 20}, "pids": {"limit": 100}})
    m.add(pid)
"""
from __future__ import annotations

from ._errors import CgroupError
from .detect import detect, host_mounts, new_manager
from .manager import Manager
from .mountinfo import CgroupMount, Mode, mode_from_mounts, parse_mountinfo, parse_proc_cgroup

__all__ = [
    "CgroupError",
    "CgroupMount",
    "Manager",
    "Mode",
    "detect",
    "host_mounts",
    "mode_from_mounts",
    "new_manager",
    "parse_mountinfo",
    "parse_proc_cgroup",
]
