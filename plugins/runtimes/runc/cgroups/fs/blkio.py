"""v1 ``blkio`` controller: proportional weight and throttling per device.

The weight goes to ``blkio.weight`` (CFQ) or, on kernels where only BFQ is
left, ``blkio.bfq.weight``; per-device weights likewise.
"""
from __future__ import annotations

from .. import _files
from .._errors import CgroupError
from .._util import section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "blkio"

_THROTTLE = (
    ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
    ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
    ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
    ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
)


def _weight_file(path: str, leaf: bool = False, device: bool = False) -> str:
    base = "blkio.leaf_weight" if leaf else "blkio.weight"
    if device:
        base += "_device"
    if _files.exists(path, base):
        return base
    bfq = "blkio.bfq.weight" + ("_device" if device else "")
    if not leaf and _files.exists(path, bfq):
        return bfq
    raise CgroupError(f"cgroup blkio: {path} has neither {base} nor {bfq}: no CFQ/BFQ scheduler for weights")


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["blockIO"]``: weight, leafWeight, weightDevice, throttle lists."""
    bio = section(resources, "blockIO")
    if bio.get("weight"):
        _files.write(NAME, path, _weight_file(path), int(bio["weight"]))
    if bio.get("leafWeight"):
        _files.write(NAME, path, _weight_file(path, leaf=True), int(bio["leafWeight"]))
    for dev in bio.get("weightDevice") or []:
        key = f"{dev['major']}:{dev['minor']}"
        if dev.get("weight"):
            _files.write(NAME, path, _weight_file(path, device=True), f"{key} {dev['weight']}")
        if dev.get("leafWeight"):
            _files.write(NAME, path, _weight_file(path, leaf=True, device=True), f"{key} {dev['leafWeight']}")
    for key, name in _THROTTLE:
        for dev in bio.get(key) or []:
            _files.write(NAME, path, name, f"{dev['major']}:{dev['minor']} {dev['rate']}")


def _entries(path: str, name: str) -> list[dict[str, Any]]:
    if not _files.exists(path, name):
        return []
    out: list[dict[str, Any]] = []
    for line in _files.read(path, name).splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue  # the trailing "Total N" line
        major, _, minor = parts[0].partition(":")
        entry = {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
        out.append({k: v for k, v in entry.items() if v or k == "op"})
    return out


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["blkio"]`` from the BFQ files if present, else the throttle files."""
    result: dict[str, Any] = {}
    prefix = "blkio.bfq." if _files.exists(path, "blkio.bfq.io_service_bytes_recursive") else "blkio.throttle."
    for key, name in (
        ("ioServiceBytesRecursive", "io_service_bytes_recursive"),
        ("ioServicedRecursive", "io_serviced_recursive"),
    ):
        entries = _entries(path, prefix + name)
        if entries:
            result[key] = entries
    out["blkio"] = result
