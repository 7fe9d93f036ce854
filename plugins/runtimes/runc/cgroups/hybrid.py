"""``HybridManager``: v1 controllers plus a directory in the cgroup2 tree.

On a hybrid host (systemd's default before v2: v1 controllers under
``/sys/fs/cgroup/<ctrl>``, cgroup2 at ``/sys/fs/cgroup/unified``) runc
sets every limit through v1 and also creates and joins the same path in the
unified tree, so tools that track processes by their v2 cgroup (systemd)
see the container. Any controller that no v1 hierarchy claimed is bound to
the unified tree instead (``hugetlb`` on some kernels); berth uses it there
for ``hugepageLimits``, enabling it in the ancestors' ``subtree_control``,
and also accepts ``linux.resources.unified`` keys for files that exist in
the unified directory (runc refuses them outright on hybrid hosts).
"""
from __future__ import annotations

import os

from . import _files
from ._errors import CgroupError
from .fs.manager import FsManager
from .fs2.manager import apply_unified, controllers, enable_controllers
from .manager import pids_in_tree, remove_tree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HybridManager"]


class HybridManager(FsManager):
    """A container cgroup on a hybrid host.

    Args:
        dirs: v1 directory per hierarchy key, as for :class:`FsManager`.
        unified: the container's directory in the cgroup2 tree.
        unified_root: the cgroup2 mount point.
        mountpoints: v1 mount point per key.
    """

    def __init__(
        self,
        dirs: dict[str, str],
        *,
        unified: str,
        unified_root: str,
        mountpoints: dict[str, str] | None = None,
    ) -> None:
        super().__init__(dirs, mountpoints=mountpoints)
        self._unified = os.path.normpath(unified)
        self._unified_root = os.path.normpath(unified_root)

    def paths(self) -> dict[str, str]:
        out = super().paths()
        out["unified"] = self._unified
        return out

    def create(self) -> None:
        super().create()
        try:
            os.makedirs(self._unified, mode=0o755, exist_ok=True)
        except OSError as e:
            raise CgroupError(f"cgroup: create {self._unified}: {e.strerror}", errno=e.errno) from e

    def apply(self, resources: dict[str, Any]) -> None:
        unified = resources.get("unified")
        if unified:
            resources = {k: v for k, v in resources.items() if k != "unified"}
        super().apply(resources)
        if resources.get("hugepageLimits") and "hugetlb" not in self._dirs:
            self._apply_hugetlb_v2(resources)
        if unified:
            apply_unified(self._unified, unified)

    def _apply_hugetlb_v2(self, resources: dict[str, Any]) -> None:
        if "hugetlb" not in controllers(self._unified_root):
            raise CgroupError(
                "cgroup hugetlb: linux.resources.hugepageLimits needs the hugetlb controller, "
                "which is neither mounted as v1 nor available in the unified hierarchy"
            )
        enable_controllers(self._unified_root, self._unified, only={"hugetlb"})
        if "hugetlb" not in controllers(self._unified):
            raise CgroupError(
                f"cgroup hugetlb: could not enable the hugetlb controller for {self._unified} "
                "(an ancestor cgroup holds processes?)"
            )
        from .fs2 import hugetlb as hugetlb2

        hugetlb2.apply(self._unified, resources)

    def add(self, pid: int) -> None:
        super().add(pid)
        _files.write("unified", self._unified, "cgroup.procs", pid)

    def pids(self) -> list[int]:
        return sorted(set(super().pids()) | pids_in_tree(self._unified))

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        if "hugetlb" not in self._dirs and os.path.isdir(self._unified):
            from .fs2 import hugetlb as hugetlb2

            hugetlb2.stats(self._unified, out)
        return out

    def destroy(self) -> None:
        errors: list[str] = []
        try:
            super().destroy()
        except CgroupError as e:
            errors.append(str(e))
        try:
            remove_tree(self._unified)
        except CgroupError as e:
            errors.append(str(e))
        if errors:
            raise CgroupError("; ".join(errors))
