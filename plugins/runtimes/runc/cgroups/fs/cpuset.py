"""v1 ``cpuset`` controller: CPUs and memory nodes.

A new v1 cpuset cgroup starts with empty ``cpuset.cpus``/``cpuset.mems`` and
refuses tasks until both are set, so :func:`prepare` copies them down from
the nearest ancestor that has them, for every level it created (runc's
``cpusetEnsureParent``).
"""
from __future__ import annotations

import os

from .. import _files
from .._util import parse_list, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "cpuset"


def prepare(path: str, mountpoint: str) -> None:
    """Fill empty ``cpuset.cpus``/``cpuset.mems`` from parents, top down, below ``mountpoint``."""
    chain: list[str] = []
    current = path
    while current.startswith(mountpoint) and current != mountpoint:
        chain.append(current)
        current = os.path.dirname(current)
    parent = mountpoint
    for directory in reversed(chain):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not _files.read(directory, name):
                _files.write(NAME, directory, name, _files.read(parent, name))
        parent = directory


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["cpu"]["cpus"]``/``["mems"]``."""
    cpu = section(resources, "cpu")
    if cpu.get("cpus"):
        _files.write(NAME, path, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        _files.write(NAME, path, "cpuset.mems", cpu["mems"])


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["cpuset"]`` like runc: CPU and node lists plus the flag files."""
    result: dict[str, Any] = {}
    cpus = parse_list(_files.read(path, "cpuset.cpus"))
    if cpus:
        result["cpus"] = cpus
    result["cpu_exclusive"] = 0
    mems = parse_list(_files.read(path, "cpuset.mems"))
    if mems:
        result["mems"] = mems
    for key in (
        "cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
        "memory_spread_page", "memory_spread_slab", "memory_pressure",
        "sched_load_balance", "sched_relax_domain_level",
    ):
        name = f"cpuset.{key}"
        result[key] = int(_files.read(path, name)) if _files.exists(path, name) else 0
    out["cpuset"] = result
