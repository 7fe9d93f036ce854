"""v1 ``devices`` controller: the device allow/deny list.

Rules are written in order: a deny of type ``a`` clears the list, each allow
adds an entry. Rewriting the same rules on ``update`` briefly passes through
"deny all" (runc avoids that with a rule emulator; berth does not yet).
"""
from __future__ import annotations

from .. import _files
from .._errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "devices"


def rule_text(rule: dict[str, Any]) -> str:
    """The devices.allow/deny line for an OCI ``LinuxDeviceCgroup`` rule, e.g. ``c 1:3 rwm``.

    Raises:
        CgroupError: bad type or access letters.
    """
    kind = rule.get("type") or "a"
    access = rule.get("access") or "rwm"
    if kind not in ("a", "b", "c"):
        raise CgroupError(f"cgroup devices: invalid device type {kind!r}: want a, b or c")
    if not access or any(ch not in "rwm" for ch in access):
        raise CgroupError(f"cgroup devices: invalid access {access!r}: want letters from rwm")
    major = rule.get("major")
    minor = rule.get("minor")
    major_s = "*" if major is None or int(major) < 0 else str(major)
    minor_s = "*" if minor is None or int(minor) < 0 else str(minor)
    return f"{kind} {major_s}:{minor_s} {access}"


def apply(path: str, resources: dict[str, Any]) -> None:
    """Write ``resources["devices"]`` rules to ``devices.allow``/``devices.deny``."""
    for rule in resources.get("devices") or []:
        name = "devices.allow" if rule.get("allow") else "devices.deny"
        _files.write(NAME, path, name, rule_text(rule))


def stats(path: str, out: dict[str, Any]) -> None:
    """devices has no stats."""
