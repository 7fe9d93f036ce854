"""Find the host's cgroup mode and build the right :class:`Manager`.

Reads ``/proc/self/mountinfo`` and ``/proc/self/cgroup`` once per process and
hands the text to the pure parsers in ``mountinfo``/``paths``.
"""
from __future__ import annotations

from ._errors import CgroupError
from .manager import Manager
from .mountinfo import CgroupMount, Mode, mode_from_mounts, parse_mountinfo, parse_proc_cgroup
from .paths import inner_path, v1_dirs, v2_dir

__all__ = ["detect", "new_manager", "host_mounts"]

_mounts: list[CgroupMount] | None = None


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise CgroupError(f"cgroup: read {path}: {e.strerror}", errno=e.errno) from e


def host_mounts() -> list[CgroupMount]:
    """The cgroup mounts of this process's mount namespace (cached)."""
    global _mounts
    if _mounts is None:
        _mounts = parse_mountinfo(_read("/proc/self/mountinfo"))
    return _mounts


def detect() -> Mode:
    """Return the host's cgroup mode: legacy (v1), hybrid or unified (v2).

    Raises:
        CgroupError: no cgroup filesystem is mounted.
    """
    mode = mode_from_mounts(host_mounts())
    if mode is None:
        raise CgroupError("cgroup: no cgroup or cgroup2 filesystem is mounted (see /proc/self/mountinfo)")
    return mode


def new_manager(
    cgroups_path: str,
    *,
    container_id: str,
    systemd: bool | None = None,
    rootless: bool = False,
) -> Manager:
    """Build the manager for OCI ``linux.cgroupsPath`` on this host.

    Args:
        cgroups_path: ``""`` (-> ``/berth/<id>``), an absolute path (from the
            hierarchy roots), a relative path (under our own cgroup), or the
            systemd form ``slice:prefix:name`` (see ``paths``).
        container_id: the container's id.
        systemd: force (``True``) or forbid (``False``) the systemd reading;
            ``None`` guesses from the shape (runc's ``--systemd-cgroup``).
        rootless: default slice ``user.slice`` for the systemd form.

    Returns:
        A :class:`FsManager`, :class:`HybridManager` or
        :class:`UnifiedManager`; nothing is created until ``create()``.

    Raises:
        CgroupError: no cgroups mounted, or a malformed path.
    """
    mode = detect()
    mounts = host_mounts()
    inner = inner_path(cgroups_path, container_id=container_id, systemd=systemd, rootless=rootless)
    own = parse_proc_cgroup(_read("/proc/self/cgroup"))
    v2_mounts = [m for m in mounts if m.fstype == "cgroup2"]
    if mode is Mode.UNIFIED:
        from .fs2.manager import UnifiedManager

        mount = next((m for m in v2_mounts if m.mountpoint == "/sys/fs/cgroup"), v2_mounts[0])
        return UnifiedManager(v2_dir(inner, mount, own), root=mount.mountpoint)
    dirs = v1_dirs(inner, mounts, own)
    mountpoints = {
        ctrl: m.mountpoint for m in mounts if m.fstype == "cgroup" for ctrl in m.controllers
    }
    if mode is Mode.HYBRID:
        from .hybrid import HybridManager

        mount = v2_mounts[0]
        return HybridManager(
            dirs, unified=v2_dir(inner, mount, own), unified_root=mount.mountpoint, mountpoints=mountpoints
        )
    from .fs.manager import FsManager

    return FsManager(dirs, mountpoints=mountpoints)
