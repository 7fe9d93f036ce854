"""The internal container config: what :mod:`.specconv` produces from an OCI spec.

Plain slotted classes rather than dataclasses: ``dataclasses`` pulls in
``inspect`` (~10 ms), and ``berth-runc run`` has a start-up budget of a few
milliseconds. The config is serialised into ``state.json`` (``to_json`` /
``from_json``) so later commands (``exec``, ``delete``) see what ``create``
used.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Namespace", "IdMap", "Mount", "Device", "Rlimit", "Hook", "Process", "Config", "NS_FLAGS"]

#: OCI namespace type -> (clone flag, /proc/<pid>/ns/<name>)
NS_FLAGS = {
    "user": (0x10000000, "user"),
    "pid": (0x20000000, "pid"),
    "network": (0x40000000, "net"),
    "mount": (0x00020000, "mnt"),
    "ipc": (0x08000000, "ipc"),
    "uts": (0x04000000, "uts"),
    "cgroup": (0x02000000, "cgroup"),
    "time": (0x00000080, "time"),
}


class _Obj:
    __slots__: tuple[str, ...] = ()

    def __init__(self, **kw: Any) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.pop(k, None))
        if kw:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(kw)}")

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.__slots__:
            v = getattr(self, k)
            if isinstance(v, _Obj):
                v = v.to_json()
            elif isinstance(v, list):
                v = [x.to_json() if isinstance(x, _Obj) else x for x in v]
            elif isinstance(v, dict):
                v = {a: ([x.to_json() for x in b] if isinstance(b, list) and b and isinstance(b[0], _Obj) else b)
                     for a, b in v.items()}
            out[k] = v
        return out


class Namespace(_Obj):
    """``type`` is the OCI name (``pid``, ``network``...); ``path`` joins an existing one."""

    __slots__ = ("type", "path")


class IdMap(_Obj):
    __slots__ = ("container_id", "host_id", "size")


class Mount(_Obj):
    """One mount, options already split: ``flags`` to set, ``clear`` (for bind
    remounts), ``propagation`` flags applied after, ``data`` for the fs,
    ``rec_attr_set``/``rec_attr_clr`` (``rro``...) via mount_setattr."""

    __slots__ = ("destination", "source", "type", "flags", "clear", "propagation", "data",
                 "rec_attr_set", "rec_attr_clr", "options")


class Device(_Obj):
    __slots__ = ("path", "type", "major", "minor", "mode", "uid", "gid")


class Rlimit(_Obj):
    __slots__ = ("type", "resource", "soft", "hard")


class Hook(_Obj):
    __slots__ = ("path", "args", "env", "timeout")


class Process(_Obj):
    __slots__ = ("terminal", "console_size", "args", "env", "cwd", "uid", "gid", "umask",
                 "additional_gids", "caps", "rlimits", "no_new_privileges", "oom_score_adj",
                 "apparmor", "selinux_label")


class Config(_Obj):
    __slots__ = ("oci_version", "bundle", "rootfs", "readonly_root", "hostname", "domainname",
                 "annotations", "namespaces", "uid_mappings", "gid_mappings", "mounts",
                 "rootfs_propagation", "devices", "masked_paths", "readonly_paths", "sysctl",
                 "seccomp", "cgroups_path", "resources", "hooks", "process")

    def ns(self, kind: str) -> Namespace | None:
        for n in self.namespaces:
            if n.type == kind:
                return n
        return None

    def new_ns(self, kind: str) -> bool:
        """True when the container gets a fresh namespace of this kind."""
        n = self.ns(kind)
        return n is not None and not n.path


_NESTED = {
    "namespaces": Namespace, "uid_mappings": IdMap, "gid_mappings": IdMap, "mounts": Mount,
    "devices": Device,
}


def config_from_json(d: dict[str, Any]) -> Config:
    """Rebuild a :class:`Config` saved by ``Config.to_json`` (state.json)."""
    d = dict(d)
    for k, cls in _NESTED.items():
        d[k] = [cls(**x) for x in d.get(k) or []]
    d["hooks"] = {k: [Hook(**h) for h in v] for k, v in (d.get("hooks") or {}).items()}
    p = dict(d["process"]) if d.get("process") else None
    if p is not None:
        p["rlimits"] = [Rlimit(**r) for r in p.get("rlimits") or []]
        d["process"] = Process(**p)
    return Config(**d)


def process_from_json(p: dict[str, Any]) -> Process:
    p = dict(p)
    p["rlimits"] = [Rlimit(**r) for r in p.get("rlimits") or []]
    return Process(**p)
