"""v2 ``hugetlb`` controller: ``hugetlb.<size>.max`` per page size."""
from __future__ import annotations

from .. import _files
from ..fs.hugetlb import check_size, page_sizes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLER = "hugetlb"


def wanted(resources: dict[str, Any]) -> bool:
    return bool(resources.get("hugepageLimits"))


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["hugepageLimits"]``."""
    for item in resources.get("hugepageLimits") or []:
        check_size(item["pageSize"], path)
        _files.write(CONTROLLER, path, f"hugetlb.{item['pageSize']}.max", int(item["limit"]))


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["hugetlb"][size]`` with usage, limit and failcnt (events ``max``)."""
    result: dict[str, Any] = {}
    for size in page_sizes():
        prefix = f"hugetlb.{size}."
        if not _files.exists(path, prefix + "current"):
            continue
        events = _files.read_kv(path, prefix + "events") if _files.exists(path, prefix + "events") else {}
        entry = {"usage": _files.read_int(path, prefix + "current"), "failcnt": events.get("max", 0)}
        result[size] = {k: v for k, v in entry.items() if v or k == "failcnt"}
    out["hugetlb"] = result
