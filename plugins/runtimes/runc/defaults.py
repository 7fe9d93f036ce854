"""Defaults for berth-runc: the ``berth-runc spec`` template and runc's built-in lists.

``default_spec()`` writes what ``runc spec`` writes (runc 1.1's
``specconv.Example``), with berth's name where runc puts its own:

* ``hostname`` is ``"berth"`` (runc: ``"runc"``);
* ``process.capabilities`` has ``bounding``/``effective``/``permitted``
  only; runc 1.1 also wrote ``ambient`` with the same three caps, which
  runc 1.2 dropped, and so do we;
* ``ociVersion`` is :data:`OCI_VERSION`, the version runc 1.1 writes.

Everything returned is a fresh object: callers may change it.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "OCI_VERSION",
    "HOSTNAME",
    "DEFAULT_CAPABILITIES",
    "SPEC_CAPABILITIES",
    "DEFAULT_MASKED_PATHS",
    "DEFAULT_READONLY_PATHS",
    "DEFAULT_PATH_ENV",
    "default_spec",
    "default_mounts",
    "default_devices",
    "default_device_rules",
]

#: The runtime-spec version ``default_spec`` declares (as ``runc spec`` 1.1 does).
OCI_VERSION = "1.0.2-dev"

#: Hostname of the template spec (runc uses "runc").
HOSTNAME = "berth"

#: The capability set containers get when the caller asks for "defaults"
#: (containerd's and Docker's default set, which runc's test suites use).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

#: The three capabilities the ``runc spec`` template grants.
SPEC_CAPABILITIES: tuple[str, ...] = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")

#: Paths runc's template hides (bind-mounts /dev/null or an empty tmpfs over them).
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)

#: Paths runc's template remounts read-only.
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# (path, major, minor): the device nodes runc creates in a container's /dev,
# all character devices, mode 0666, owned by root.
_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)


def default_mounts() -> list[dict[str, Any]]:
    """The mounts of the ``runc spec`` template: proc, /dev, devpts, shm, mqueue, sysfs, cgroup."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]


def default_devices() -> list[dict[str, Any]]:
    """OCI ``linux.devices`` entries for the nodes every container gets.

    /dev/null, zero, full, random, urandom and tty: character devices, mode
    0666, uid/gid 0 (runc's ``AllowedDevices`` that have a path). The runtime
    creates these whether or not the spec lists them.
    """
    return [
        {"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0}
        for path, major, minor in _DEVICES
    ]


def default_device_rules() -> list[dict[str, Any]]:
    """Device cgroup rules the runtime appends after the spec's own (runc's ``AllowedDevices``).

    ``mknod`` of any char/block device (use still denied), the default
    device nodes, /dev/pts/* (136:*), /dev/ptmx (5:2) and /dev/net/tun
    (10:200, kept by runc for compatibility).
    """
    rules: list[dict[str, Any]] = [
        {"allow": True, "type": "c", "access": "m"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    rules += [
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for _path, major, minor in _DEVICES
    ]
    rules += [
        {"allow": True, "type": "c", "major": 136, "access": "rwm"},
        {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
    ]
    return rules


def _cgroup2_unified() -> bool:
    from .cgroups import CgroupError, Mode, detect

    try:
        return detect() is Mode.UNIFIED
    except CgroupError:
        return False


def default_spec(rootless: bool = False, *, cgroupns: bool | None = None) -> dict[str, Any]:
    """The template ``berth-runc spec`` writes, matching ``runc spec [--rootless]``.

    Args:
        rootless: like ``runc spec --rootless``: a user namespace mapping root
            in the container to the caller's euid/egid (size 1), no network
            namespace, /sys bind-mounted (sysfs cannot be mounted without a
            network namespace we own), ``uid=``/``gid=`` mount options
            dropped, and no ``linux.resources``.
        cgroupns: add a cgroup namespace; ``None`` does so only on a cgroup v2
            (unified) host, as runc does.

    Returns:
        A new dict ready for ``json.dump`` into ``config.json``.
    """
    caps = list(SPEC_CAPABILITIES)
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    if cgroupns if cgroupns is not None else _cgroup2_unified():
        namespaces.append({"type": "cgroup"})
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [DEFAULT_PATH_ENV, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": HOSTNAME,
        "mounts": default_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": namespaces,
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
        },
    }
    if rootless:
        _to_rootless(spec)
    return spec


def _to_rootless(spec: dict[str, Any]) -> None:
    linux = spec["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    namespaces.append({"type": "user"})
    linux["namespaces"] = namespaces
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    mounts = []
    for m in spec["mounts"]:
        if os.path.normpath(m["destination"]) == "/sys":
            mounts.append(
                {
                    "destination": "/sys",
                    "type": "none",
                    "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
                }
            )
            continue
        if "options" in m:
            m["options"] = [o for o in m["options"] if not o.startswith(("uid=", "gid="))]
        mounts.append(m)
    spec["mounts"] = mounts
    del linux["resources"]
