"""The ``Manager`` interface every cgroup driver implements, and helpers they share.

Vocabulary: a container's *cgroup* is one directory per hierarchy (one per v1
controller, one in the unified v2 tree); *resources* is the OCI
``linux.resources`` object as a dict (camelCase keys, exactly as in
``config.json``); *stats* is the ``data`` object of ``runc events --stats``.

Lifecycle, as berth-runc drives it::

    m = new_manager(spec["linux"].get("cgroupsPath", ""), container_id=cid)
    m.create()                           # mkdir in every hierarchy
    m.apply(spec["linux"].get("resources", {}))
    m.add(init_pid)                      # before the container's init execs
    ...                                  # pause: m.freeze() / m.thaw()
    m.update(new_resources)              # runc update
    m.stats()                            # runc events --stats
    m.destroy()                          # after every process has exited

All methods are synchronous and may block briefly (freeze waits for the
kernel to settle, destroy retries ``EBUSY``). Values that are absent, ``None``
or ``0`` in *resources* mean "leave as is", as in runc.
"""
from __future__ import annotations

import abc
import errno
import os
import time

from ._errors import CgroupError

__all__ = ["Manager", "empty_stats", "pids_in_tree", "remove_tree"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Manager(abc.ABC):
    """One container's cgroup across all hierarchies."""

    @abc.abstractmethod
    def create(self) -> None:
        """Create the cgroup directories (parents too); existing ones are reused.

        Raises:
            CgroupError: a directory could not be made or set up.
        """

    @abc.abstractmethod
    def apply(self, resources: dict[str, Any]) -> None:
        """Set the limits in OCI ``linux.resources`` ``resources``.

        Raises:
            CgroupError: the kernel refused a value, or a needed controller is
                missing. Earlier writes are not rolled back.
        """

    def update(self, resources: dict[str, Any]) -> None:
        """Change limits of a running container (``runc update``); same as :meth:`apply`."""
        self.apply(resources)

    @abc.abstractmethod
    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the cgroup in every hierarchy.

        Raises:
            CgroupError: the cgroup does not exist or the kernel refused.
        """

    @abc.abstractmethod
    def pids(self) -> list[int]:
        """Return the pids of all processes in the cgroup and its descendants, sorted."""

    @abc.abstractmethod
    def freeze(self) -> None:
        """Freeze every process and wait until the kernel reports them frozen.

        Raises:
            CgroupError: no freezer, or the cgroup would not settle (it is
                thawed again before raising).
        """

    @abc.abstractmethod
    def thaw(self) -> None:
        """Thaw the cgroup and wait until it is no longer frozen."""

    @abc.abstractmethod
    def state(self) -> str:
        """``"frozen"`` or ``"thawed"`` (a cgroup still freezing counts as thawed)."""

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]:
        """Usage and limits shaped like the ``data`` of ``runc events --stats``.

        Keys: ``cpu``, ``cpuset``, ``memory``, ``pids``, ``blkio``, ``hugetlb``,
        ``intel_rdt``, ``network_interfaces``; zero-valued fields that runc
        omits are omitted.
        """

    @abc.abstractmethod
    def oom_kill_count(self) -> int | None:
        """Processes the kernel OOM-killed in this cgroup, or ``None`` if the kernel does not say."""

    @abc.abstractmethod
    def destroy(self) -> None:
        """Remove the cgroup directories (descendants first); processes must be gone.

        ``EBUSY`` is retried for about half a second (a process may still be
        leaving). Missing directories are fine. Parents such as ``/berth``
        are left in place.

        Raises:
            CgroupError: a directory stayed busy.
        """

    @abc.abstractmethod
    def paths(self) -> dict[str, str]:
        """Directory per hierarchy: v1 controller names, ``name=systemd``, and
        ``unified`` for the cgroup2 directory (hybrid and unified modes)."""

    def exists(self) -> bool:
        """Whether any of the cgroup's directories exists."""
        return any(os.path.isdir(p) for p in self.paths().values())


def pids_in_tree(directory: str) -> set[int]:
    """Pids listed in ``cgroup.procs`` of ``directory`` and every descendant."""
    out: set[int] = set()
    for dirpath, _dirs, _files in os.walk(directory):
        try:
            with open(os.path.join(dirpath, "cgroup.procs"), encoding="ascii") as f:
                out.update(int(x) for x in f.read().split())
        except FileNotFoundError:
            continue
        except OSError as e:
            if e.errno == errno.ENODEV:  # removed under us
                continue
            raise CgroupError(f"cgroup: read {dirpath}/cgroup.procs: {e.strerror}", errno=e.errno) from e
    return out


def _rmdir_retry(path: str, attempts: int = 6) -> None:
    delay = 0.01
    for i in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or i == attempts - 1:
                raise CgroupError(f"cgroup: remove {path}: {e.strerror}", errno=e.errno) from e
        time.sleep(delay)
        delay *= 2


def remove_tree(directory: str) -> None:
    """rmdir ``directory`` and its descendant cgroups, deepest first, retrying ``EBUSY``.

    cgroup directories hold only kernel files, which rmdir removes with them.
    """
    if not os.path.isdir(directory):
        return
    for dirpath, _dirs, _files in os.walk(directory, topdown=False):
        _rmdir_retry(dirpath)


def empty_stats() -> dict[str, Any]:
    """The ``runc events --stats`` data skeleton with nothing measured."""
    return {
        "cpu": {},
        "cpuset": {"cpu_exclusive": 0},
        "memory": {},
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }
