"""Unix socket listeners for the daemon's servers (trio has none built in).

The socket is bound, given its mode and owner, and only then put in the
listening state, so no client can connect while it is still world-readable.
"""
from __future__ import annotations

import contextlib
import errno
import os
import socket as stdlib_socket
import stat
from collections.abc import AsyncIterator

import trio

from berth.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied

__all__ = ["socket_path", "open_unix_listener", "MAX_PATH"]

# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_PATH = 107


def socket_path(address: str) -> str:
    """The filesystem path of ``address`` (``/p``, or ``unix:///p``), checked.

    Raises:
        InvalidArgument: empty, relative or too long for ``sun_path``.
    """
    path = address[len("unix://"):] if address.startswith("unix://") else address
    if not path:
        raise InvalidArgument("socket address is empty: set [grpc] address in config.toml")
    if not os.path.isabs(path):
        raise InvalidArgument(f"socket address {address!r} must be an absolute path")
    if len(os.fsencode(path)) > MAX_PATH:
        raise InvalidArgument(
            f"socket path {path} is {len(os.fsencode(path))} bytes, longer than the "
            f"{MAX_PATH} a unix socket allows; choose a shorter address"
        )
    return path


def _remove_stale(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FailedPrecondition(f"socket path {path} exists and is not a socket; remove it or choose another address")
    os.unlink(path)


def _bind(path: str, *, mode: int, uid: int | None, gid: int | None, backlog: int) -> stdlib_socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    _remove_stale(path)
    sock = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        st = os.stat(path)
        want_uid = st.st_uid if uid is None else uid
        want_gid = st.st_gid if gid is None else gid
        if (want_uid, want_gid) != (st.st_uid, st.st_gid):
            try:
                os.chown(path, want_uid, want_gid)
            except PermissionError as e:
                raise PermissionDenied(
                    f"cannot give socket {path} owner {want_uid}:{want_gid}: {e.strerror}; "
                    "run as root or set uid/gid to your own"
                ) from e
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return sock


@contextlib.asynccontextmanager
async def open_unix_listener(
    address: str,
    *,
    mode: int = 0o660,
    uid: int | None = None,
    gid: int | None = None,
    backlog: int = 128,
) -> AsyncIterator[trio.SocketListener]:
    """Listen on a unix socket; the file is removed again on exit.

    A stale socket file is unlinked first; the parent directory is created.
    ``uid``/``gid`` of None keep the creator's.

    Raises:
        InvalidArgument: a bad or too long path.
        FailedPrecondition: something that is not a socket sits at the path.
        PermissionDenied: the owner cannot be set.
        OSError: bind failed otherwise.

    Resource handling: the socket file is removed on exit only if it is still
    the one this call created (a successor's socket is left alone).
    """
    path = socket_path(address)
    try:
        raw = _bind(path, mode=mode, uid=uid, gid=gid, backlog=backlog)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise FailedPrecondition(f"socket {path} is in use") from e
        raise
    ino = os.stat(path).st_ino
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(raw))
    try:
        yield listener
    finally:
        with trio.CancelScope(shield=True):
            await listener.aclose()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == ino:
                os.unlink(path)
