"""Where a container's cgroup lives: OCI ``linux.cgroupsPath`` to directories.

Pure functions: they take the parsed mounts (``mountinfo.parse_mountinfo``)
and our own cgroups (``mountinfo.parse_proc_cgroup``) and return paths.

``linux.cgroupsPath`` forms, as runc reads them:

* ``""`` -> ``/berth/<container id>`` (runc uses ``/<id>``; we keep our
  containers together under one parent).
* ``/a/b`` (absolute) -> relative to each hierarchy's root, e.g.
  ``/sys/fs/cgroup/memory/a/b``.
* ``a/b`` (relative) -> joined under the cgroup the calling process is in,
  per hierarchy (runc's ``GetOwnCgroupPath``: useful nested in another
  container without a cgroup namespace).
* ``slice:prefix:name`` (systemd form, used with ``--systemd-cgroup``) ->
  ``<expanded slice>/<prefix>-<name>.scope``; ``system.slice`` when the slice
  is empty (``user.slice`` if rootless), and a slice ``a-b.slice`` expands to
  ``/a.slice/a-b.slice``. berth does not ask systemd to create the unit (no
  D-Bus); it manages the same directory with the fs drivers, so the layout
  matches what systemd-managed runc would create, but systemd does not know
  about the scope.
"""
from __future__ import annotations

import os
import posixpath

from ._errors import CgroupError
from .mountinfo import CgroupMount

__all__ = ["expand_slice", "systemd_path", "is_systemd_path", "inner_path", "v1_dirs", "v2_dir"]


def expand_slice(slice_name: str) -> str:
    """Expand a systemd slice name to its cgroup path.

    ``-.slice`` is the root (``/``); ``a-b-c.slice`` is
    ``/a.slice/a-b.slice/a-b-c.slice``.

    Raises:
        CgroupError: the name does not end in ``.slice``, holds a ``/``, or has
            an empty dash-separated part.
    """
    suffix = ".slice"
    if not slice_name.endswith(suffix) or "/" in slice_name:
        raise CgroupError(f"cgroup: invalid systemd slice name {slice_name!r}: must be like a-b.slice")
    if slice_name == "-.slice":
        return "/"
    stem = slice_name[: -len(suffix)]
    parts = stem.split("-")
    if any(not p for p in parts):
        raise CgroupError(f"cgroup: invalid systemd slice name {slice_name!r}: empty part between dashes")
    path = ""
    prefix = ""
    for part in parts:
        prefix = f"{prefix}-{part}" if prefix else part
        path += f"/{prefix}{suffix}"
    return path


def is_systemd_path(cgroups_path: str) -> bool:
    """Whether ``cgroups_path`` looks like ``slice:prefix:name``."""
    return not cgroups_path.startswith("/") and cgroups_path.count(":") == 2


def systemd_path(cgroups_path: str, *, container_id: str, rootless: bool = False) -> str:
    """Map ``slice:prefix:name`` to the cgroup path systemd would use.

    An empty name falls back to the container id; a name ending in ``.slice``
    names a slice rather than a scope.
    """
    slice_name, prefix, name = cgroups_path.split(":")
    if not slice_name:
        slice_name = "user.slice" if rootless else "system.slice"
    name = name or container_id
    if name.endswith(".slice"):
        unit = name
    else:
        unit = f"{prefix}-{name}.scope" if prefix else f"{name}.scope"
    return posixpath.join(expand_slice(slice_name), unit)


def inner_path(
    cgroups_path: str, *, container_id: str, systemd: bool | None = None, rootless: bool = False
) -> str:
    """Normalise ``linux.cgroupsPath`` to a cgroup path (absolute or relative).

    Args:
        cgroups_path: the OCI value, possibly empty.
        container_id: used for the empty default and the systemd form.
        systemd: ``True`` forces the ``slice:prefix:name`` reading, ``False``
            forbids it, ``None`` guesses from the shape.
        rootless: picks ``user.slice`` as the systemd default slice.

    ``..`` is resolved lexically and cannot climb above the root it is
    relative to (as runc's ``CleanPath``).

    Raises:
        CgroupError: the systemd form is malformed.
    """
    if not cgroups_path:
        return f"/berth/{container_id}"
    if systemd or (systemd is None and is_systemd_path(cgroups_path)):
        if cgroups_path.count(":") != 2:
            raise CgroupError(
                f"cgroup: systemd cgroupsPath {cgroups_path!r} must be slice:prefix:name"
            )
        return systemd_path(cgroups_path, container_id=container_id, rootless=rootless)
    # Lexically clean as if rooted, so ".." can never climb above the
    # hierarchy root (absolute) or our own cgroup (relative): runc's CleanPath.
    clean = posixpath.normpath("/" + cgroups_path.lstrip("/"))
    return clean if cgroups_path.startswith("/") else clean.lstrip("/")


def _join_under(mount: CgroupMount, cgroup: str) -> str:
    # ``cgroup`` is a path inside the hierarchy; the mount shows it from
    # ``mount.root`` down.
    root = mount.root.rstrip("/")
    if root and (cgroup == root or cgroup.startswith(root + "/")):
        cgroup = cgroup[len(root):]
    return os.path.join(mount.mountpoint, cgroup.lstrip("/"))


def v1_dirs(inner: str, mounts: list[CgroupMount], own: dict[str, str]) -> dict[str, str]:
    """Directory per v1 controller for cgroup path ``inner``.

    Co-mounted controllers (``cpu,cpuacct``) map to the same directory. Named
    hierarchies appear under their ``name=X`` key.
    """
    out: dict[str, str] = {}
    for m in mounts:
        if m.fstype != "cgroup":
            continue
        for ctrl in sorted(m.controllers):
            if ctrl in out:
                continue
            if inner.startswith("/"):
                out[ctrl] = os.path.normpath(os.path.join(m.mountpoint, inner.lstrip("/")))
            else:
                parent = _join_under(m, own.get(ctrl, "/"))
                out[ctrl] = os.path.normpath(os.path.join(parent, inner))
    return out


def v2_dir(inner: str, mount: CgroupMount, own: dict[str, str]) -> str:
    """Directory in the cgroup2 hierarchy ``mount`` for cgroup path ``inner``."""
    if inner.startswith("/"):
        return os.path.normpath(os.path.join(mount.mountpoint, inner.lstrip("/")))
    return os.path.normpath(os.path.join(_join_under(mount, own.get("", "/")), inner))
