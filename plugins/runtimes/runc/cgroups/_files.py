"""Reading and writing cgroup files, with errors that name file and value.

Every write goes through :func:`write`, so a refused value always becomes
``cgroup <controller>: write <value> to <path>: <strerror>``.
"""
from __future__ import annotations

import os

from ._errors import CgroupError

__all__ = ["write", "read", "read_int", "read_uint_or_max", "read_kv", "exists", "MAX_UINT64"]

#: What runc reports for an unlimited ("max" / huge) value in stats.
MAX_UINT64 = (1 << 64) - 1


def write(controller: str, directory: str, name: str, value: str | int) -> None:
    """Write ``value`` to ``directory/name`` in one ``write(2)``.

    Raises:
        CgroupError: the file cannot be opened or the kernel refused the value;
            the message is ``cgroup <controller>: write <value> to <path>: <why>``.
    """
    path = os.path.join(directory, name)
    data = str(value).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        raise CgroupError(
            f"cgroup {controller}: write {value} to {path}: {e.strerror}", errno=e.errno
        ) from e


def read(directory: str, name: str) -> str:
    """Return the stripped text of ``directory/name``.

    Raises:
        CgroupError: the file cannot be read.
    """
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError as e:
        raise CgroupError(f"cgroup: read {path}: {e.strerror}", errno=e.errno) from e


def read_int(directory: str, name: str) -> int:
    """Return the integer in ``directory/name`` (``max`` reads as :data:`MAX_UINT64`)."""
    return read_uint_or_max(directory, name)


def read_uint_or_max(directory: str, name: str, max_value: int = MAX_UINT64) -> int:
    """Return the first number in ``directory/name``; ``max`` becomes ``max_value``."""
    text = read(directory, name).split()
    if not text or text[0] == "max":
        return max_value
    try:
        return int(text[0])
    except ValueError as e:
        raise CgroupError(
            f"cgroup: {os.path.join(directory, name)}: expected a number, got {text[0]!r}"
        ) from e


def read_kv(directory: str, name: str) -> dict[str, int]:
    """Parse a flat-keyed file (``key value`` per line, e.g. ``memory.stat``)."""
    out: dict[str, int] = {}
    for line in read(directory, name).splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def exists(directory: str, name: str) -> bool:
    """Whether ``directory/name`` exists (controllers differ by kernel)."""
    return os.path.exists(os.path.join(directory, name))
