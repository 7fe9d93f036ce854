"""Pure parsers for ``/proc/<pid>/mountinfo`` and ``/proc/<pid>/cgroup``, and
the cgroup mode they imply.

Sans-IO: every function here takes text and returns data, so the tests feed
them recorded files from v1, v2 and hybrid hosts. :func:`detect` in
``detect.py`` does the reading.

Modes (systemd's and runc's words):

``legacy``
    v1 only: one hierarchy per controller (or co-mounted group) under
    ``/sys/fs/cgroup/<ctrl>``.
``hybrid``
    v1 controllers as in legacy, plus a cgroup2 hierarchy (usually
    ``/sys/fs/cgroup/unified``) used for process tracking; it holds the
    controllers no v1 hierarchy claimed (often none).
``unified``
    cgroup2 only, mounted at ``/sys/fs/cgroup``.
"""
from __future__ import annotations

import enum

__all__ = [
    "Mode",
    "CgroupMount",
    "V1_CONTROLLERS",
    "parse_mountinfo",
    "parse_proc_cgroup",
    "mode_from_mounts",
]

#: v1 controller names the kernel may list in a cgroup mount's super options.
V1_CONTROLLERS = frozenset(
    {
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
        "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc",
    }
)


class Mode(enum.Enum):
    """How cgroups are mounted on this host."""

    LEGACY = "legacy"
    HYBRID = "hybrid"
    UNIFIED = "unified"

    def __str__(self) -> str:
        return self.value


class CgroupMount:
    """One cgroup or cgroup2 mount from mountinfo.

    Attributes:
        mountpoint: where it is mounted (octal escapes decoded).
        root: the cgroup path of the mount's root inside its hierarchy
            (``/`` unless the mount is a bind of a sub-cgroup or we are in a
            cgroup namespace).
        fstype: ``cgroup`` (v1) or ``cgroup2``.
        controllers: the v1 controllers of this hierarchy, plus ``name=X`` for
            named hierarchies; empty for cgroup2.
    """

    __slots__ = ("mountpoint", "root", "fstype", "controllers")

    def __init__(self, mountpoint: str, root: str, fstype: str, controllers: frozenset[str]) -> None:
        self.mountpoint = mountpoint
        self.root = root
        self.fstype = fstype
        self.controllers = controllers

    def __repr__(self) -> str:
        ctrls = ",".join(sorted(self.controllers))
        return f"CgroupMount({self.fstype} {self.mountpoint} root={self.root} [{ctrls}])"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CgroupMount):
            return NotImplemented
        return (self.mountpoint, self.root, self.fstype, self.controllers) == (
            other.mountpoint, other.root, other.fstype, other.controllers,
        )

    def __hash__(self) -> int:
        return hash((self.mountpoint, self.root, self.fstype, self.controllers))


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """Return the cgroup and cgroup2 mounts listed in mountinfo ``text``.

    A line is ``id parent maj:min root mountpoint opts [optional...] - fstype
    source superopts``. Later mounts on the same mountpoint hide earlier ones,
    so only the last one per mountpoint is kept. Malformed lines are skipped.
    """
    by_point: dict[str, CgroupMount] = {}
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        fstype = fields[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            by_point.pop(_unescape(fields[4]), None)
            continue
        controllers: frozenset[str] = frozenset()
        if fstype == "cgroup":
            controllers = frozenset(
                opt for opt in fields[sep + 3].split(",")
                if opt in V1_CONTROLLERS or opt.startswith("name=")
            )
        point = _unescape(fields[4])
        by_point.pop(point, None)  # keep mount order, last one wins
        by_point[point] = CgroupMount(point, _unescape(fields[3]), fstype, controllers)
    return list(by_point.values())


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Parse ``/proc/<pid>/cgroup`` into ``{controller: cgroup path}``.

    Each v1 line ``id:ctrl1,ctrl2:/path`` yields one entry per controller
    (named hierarchies keep their ``name=`` prefix); the v2 line ``0::/path``
    yields the key ``""``.
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        if not ctrls:
            out[""] = path
            continue
        for ctrl in ctrls.split(","):
            out[ctrl] = path
    return out


def mode_from_mounts(mounts: list[CgroupMount], cgroup_root: str = "/sys/fs/cgroup") -> Mode | None:
    """Tell the cgroup mode from parsed mounts; ``None`` if there are no cgroups.

    ``unified`` when cgroup2 is mounted at ``cgroup_root``; else ``hybrid``
    when a cgroup2 mount exists beside v1 controller hierarchies; else
    ``legacy`` when any v1 controller hierarchy exists. A host with only a
    cgroup2 mount somewhere else and no v1 controllers counts as unified.
    """
    v2 = [m for m in mounts if m.fstype == "cgroup2"]
    v1 = [m for m in mounts if m.fstype == "cgroup" and (m.controllers & V1_CONTROLLERS)]
    if any(m.mountpoint == cgroup_root for m in v2):
        return Mode.UNIFIED
    if v1:
        return Mode.HYBRID if v2 else Mode.LEGACY
    if v2:
        return Mode.UNIFIED
    return None
