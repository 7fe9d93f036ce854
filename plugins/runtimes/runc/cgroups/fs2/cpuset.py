"""v2 ``cpuset`` controller."""
from __future__ import annotations

from .. import _files
from .._util import parse_list, section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "cpuset"


def wanted(resources: dict[str, Any]) -> bool:
    cpu = section(resources, "cpu")
    return bool(cpu.get("cpus") or cpu.get("mems"))


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["cpu"]["cpus"]``/``["mems"]`` to ``cpuset.cpus``/``cpuset.mems``."""
    cpu = section(resources, "cpu")
    if cpu.get("cpus"):
        _files.write(CONTROLLER, path, "cpuset.cpus", cpu["cpus"])
    if cpu.get("mems"):
        _files.write(CONTROLLER, path, "cpuset.mems", cpu["mems"])


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["cpuset"]`` with the effective CPU and node lists."""
    result: dict[str, Any] = {"cpu_exclusive": 0}
    for key, name in (("cpus", "cpuset.cpus.effective"), ("mems", "cpuset.mems.effective")):
        if _files.exists(path, name):
            values = parse_list(_files.read(path, name))
            if values:
                result[key] = values
    out["cpuset"] = result
