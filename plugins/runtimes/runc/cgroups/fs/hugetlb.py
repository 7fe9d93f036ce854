"""v1 ``hugetlb`` controller: limits per huge page size.

File names carry the size as the kernel prints it (``2MB``, ``1GB``,
``64KB``), which is also the OCI ``pageSize`` form.
"""
from __future__ import annotations

import os

from .. import _files
from .._errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "hugetlb"


def page_sizes(sysfs: str = "/sys/kernel/mm/hugepages") -> list[str]:
    """Huge page sizes this kernel supports, as ``2MB``/``1GB`` strings."""
    try:
        names = os.listdir(sysfs)
    except OSError:
        return []
    out = []
    for name in names:  # hugepages-2048kB
        kb = int(name.split("-", 1)[1].removesuffix("kB"))
        for unit, size in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % size == 0:
                out.append(f"{kb // size}{unit}")
                break
    return sorted(out)


def check_size(page_size: str, path: str) -> None:
    """Raise if ``page_size`` is not one the kernel supports."""
    sizes = page_sizes()
    if page_size not in sizes:
        raise CgroupError(
            f"cgroup hugetlb: page size {page_size!r} for {path} is not supported "
            f"(this kernel has: {', '.join(sizes) or 'none'})"
        )


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["hugepageLimits"]`` to ``hugetlb.<size>.limit_in_bytes``."""
    for item in resources.get("hugepageLimits") or []:
        check_size(item["pageSize"], path)
        _files.write(NAME, path, f"hugetlb.{item['pageSize']}.limit_in_bytes", int(item["limit"]))


def stats(path: str, out: dict[str, Any]) -> None:
    """Fill ``out["hugetlb"][size]`` with usage, max and failcnt."""
    result: dict[str, Any] = {}
    for size in page_sizes():
        prefix = f"hugetlb.{size}."
        if not _files.exists(path, prefix + "usage_in_bytes"):
            continue
        entry = {
            "usage": _files.read_int(path, prefix + "usage_in_bytes"),
            "max": _files.read_int(path, prefix + "max_usage_in_bytes"),
            "failcnt": _files.read_int(path, prefix + "failcnt"),
        }
        result[size] = {k: v for k, v in entry.items() if v or k == "failcnt"}
    out["hugetlb"] = result
