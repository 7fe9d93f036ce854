"""Checks over a converted :class:`~.config.Config`, after runc's ``configs/validate``.

Pure: each check takes the config and raises :class:`~.errors.ConfigError`
naming the field at fault. :func:`validate` runs them all, in order, before
anything is created.
"""
from __future__ import annotations

from .config import Config
from .errors import ConfigError

__all__ = ["validate", "CHECKS"]


def _namespaces(c: Config) -> None:
    if c.uid_mappings or c.gid_mappings:
        if c.ns("user") is None:
            raise ConfigError("linux.uidMappings", "user namespaces are not enabled (no user entry in linux.namespaces) but uid/gid mappings are set")
    if c.new_ns("user"):
        if not c.uid_mappings:
            raise ConfigError("linux.uidMappings", "a new user namespace needs uid mappings")
        if not c.gid_mappings:
            raise ConfigError("linux.gidMappings", "a new user namespace needs gid mappings")
    # No mount entry: as runc, the mounts are made in the runtime's mount
    # namespace (under the rootfs; `delete` detaches them again). A mount
    # entry with a path: the rootfs is set up inside the joined namespace.


def _hostname(c: Config) -> None:
    # as runc: a joined UTS namespace (by path) counts as the container's own
    if c.hostname and c.ns("uts") is None:
        raise ConfigError("hostname", "unable to set hostname without a private UTS namespace")
    if c.domainname and c.ns("uts") is None:
        raise ConfigError("domainname", "unable to set domainname without a private UTS namespace")


_IPC_SYSCTL = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _sysctl(c: Config) -> None:
    for k in c.sysctl:
        f = f"linux.sysctl.{k}"
        if k in _IPC_SYSCTL or k.startswith("fs.mqueue."):
            if not c.new_ns("ipc"):
                raise ConfigError(f, "sysctl is not allowed in the host's IPC namespace")
        elif k.startswith("net."):
            if c.ns("network") is None:
                raise ConfigError(f, "sysctl is not allowed in the host's network namespace")
        elif k in ("kernel.hostname", "kernel.domainname"):
            if not c.new_ns("uts"):
                raise ConfigError(f, "sysctl is not allowed in the host's UTS namespace")
        else:
            raise ConfigError(f, "sysctl is not in a separate kernel namespace")
        if "/" in k or ".." in k.split("."):
            raise ConfigError(f, "invalid sysctl name")


def _mounts(c: Config) -> None:
    for i, m in enumerate(c.mounts):
        if m.type == "bind" and not m.source:
            raise ConfigError(f"mounts[{i}].source", "a bind mount needs a source")
        if m.rec_attr_set or m.rec_attr_clr:
            if not m.flags & 0x1000:
                raise ConfigError(f"mounts[{i}].options", "recursive mount attributes (rro, rnosuid...) need a bind mount")


def _rootfs(c: Config) -> None:
    if c.rootfs == "/":
        raise ConfigError("root.path", "the host's / cannot be the container's root")


def _cgroups(c: Config) -> None:
    p = c.cgroups_path
    if p and ".." in p.split("/"):
        raise ConfigError("linux.cgroupsPath", f"must not contain '..' (got {p!r})")


def _seccomp(c: Config) -> None:
    if c.seccomp is None:
        return
    try:
        from . import seccomp
    except ImportError:
        raise ConfigError("linux.seccomp", "seccomp support is not available in this build") from None
    problems = seccomp.validate(c.seccomp)
    if problems:
        path, _, what = problems[0].partition(": ")
        raise ConfigError(path, what)


CHECKS = [_rootfs, _namespaces, _hostname, _sysctl, _mounts, _cgroups, _seccomp]


def validate(c: Config) -> Config:
    """Run every check; return the config unchanged or raise ConfigError."""
    for check in CHECKS:
        check(c)
    return c
