"""The one error the cgroups package raises."""
from __future__ import annotations

from berth.core.errors import Internal

__all__ = ["CgroupError"]


class CgroupError(Internal):
    """A cgroup operation failed.

    Raised when the kernel refuses a value written to a cgroup file, when a
    controller a resource needs is missing, or when a cgroup cannot be removed.
    The message names the controller, the file and the value, and ends with
    the kernel's own words (``strerror``); ``errno`` holds the number when the
    failure came from a system call, else ``None``.

    What to do: fix the value in ``linux.resources`` (most errors), or make the
    controller available (mount it on v1, enable it in the parent's
    ``cgroup.subtree_control`` on v2).
    """

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
