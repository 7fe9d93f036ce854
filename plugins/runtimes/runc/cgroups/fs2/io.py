"""v2 ``io`` controller: weights and ``io.max`` throttling.

``blockIO.weight`` (v1 range 10-1000) goes to ``io.bfq.weight`` unchanged
when BFQ is in use, else to ``io.weight`` converted linearly to 1-10000.
"""
from __future__ import annotations

from .. import _files
from .._util import section

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "io"

_THROTTLE = (
    ("throttleReadBpsDevice", "rbps"),
    ("throttleWriteBpsDevice", "wbps"),
    ("throttleReadIOPSDevice", "riops"),
    ("throttleWriteIOPSDevice", "wiops"),
)


def blkio_weight_to_io_weight(weight: int) -> int:
    """Map blkio weight [10, 1000] onto io.weight [1, 10000]; 0 stays 0."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def wanted(resources: dict[str, Any]) -> bool:
    bio = section(resources, "blockIO")
    return bool(bio.get("weight") or bio.get("weightDevice") or any(bio.get(k) for k, _ in _THROTTLE))


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["blockIO"]``."""
    bio = section(resources, "blockIO")
    bfq = _files.exists(path, "io.bfq.weight")
    if bio.get("weight"):
        w = int(bio["weight"])
        if bfq:
            _files.write(CONTROLLER, path, "io.bfq.weight", w)
        else:
            _files.write(CONTROLLER, path, "io.weight", f"default {blkio_weight_to_io_weight(w)}")
    for dev in bio.get("weightDevice") or []:
        if not dev.get("weight"):
            continue
        w = int(dev["weight"])
        key = f"{dev['major']}:{dev['minor']}"
        if bfq:
            _files.write(CONTROLLER, path, "io.bfq.weight", f"{key} {w}")
        else:
            _files.write(CONTROLLER, path, "io.weight", f"{key} {blkio_weight_to_io_weight(w)}")
    for key, field in _THROTTLE:
        for dev in bio.get(key) or []:
            _files.write(CONTROLLER, path, "io.max", f"{dev['major']}:{dev['minor']} {field}={dev['rate']}")


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["blkio"]`` from ``io.stat`` (bytes and ios, Read/Write)."""
    if not _files.exists(path, "io.stat"):
        return
    service_bytes: list[dict[str, Any]] = []
    serviced: list[dict[str, Any]] = []
    for line in _files.read(path, "io.stat").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, _, minor = parts[0].partition(":")
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for target, field, op in (
            (service_bytes, "rbytes", "Read"), (service_bytes, "wbytes", "Write"),
            (serviced, "rios", "Read"), (serviced, "wios", "Write"),
        ):
            if field in kv:
                entry = {"major": int(major), "minor": int(minor), "op": op, "value": int(kv[field])}
                target.append({k: v for k, v in entry.items() if v or k == "op"})
    result: dict[str, Any] = {}
    if service_bytes:
        result["ioServiceBytesRecursive"] = service_bytes
    if serviced:
        result["ioServicedRecursive"] = serviced
    out["blkio"] = result
