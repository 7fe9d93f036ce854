"""A tiny HTTP/1.1 JSON server on a unix socket, on trio.

:class:`DebugServer` binds its socket when built (so a bad address fails the
plugin's init, where ``berth plugins ls`` shows why) and starts listening only
in :meth:`DebugServer.run`, once the daemon is ready. Each connection gets one
request and one response, then is closed. Routes map a path to a plain
function returning JSON-able data; ``GET`` and ``HEAD`` are allowed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket as stdlib_socket
import stat
from collections.abc import Callable, Mapping
from typing import final

import trio

from berth.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied

from ._http import MAX_HEAD, BadRequest, head_end, parse_head, response

__all__ = ["DebugServer", "Route", "socket_path"]

log = logging.getLogger(__name__)

Route = Callable[[], object]

# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_PATH = 107
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
MAX_CONNECTIONS = 16
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
ALLOWED_METHODS = ("GET", "HEAD")


def socket_path(address: str) -> str:
    """The filesystem path of ``address`` (``/p`` or ``unix:///p``), checked.

    Raises:
        InvalidArgument: relative, or too long for a unix socket.
    """
    path = address[len("unix://"):] if address.startswith("unix://") else address
    if not os.path.isabs(path):
        raise InvalidArgument(f"[debug] address {address!r} must be an absolute path")
    if len(os.fsencode(path)) > MAX_PATH:
        raise InvalidArgument(
            f"[debug] address {path} is {len(os.fsencode(path))} bytes, longer than the "
            f"{MAX_PATH} a unix socket allows; choose a shorter address"
        )
    return path


def _bind(path: str, *, mode: int, uid: int, gid: int) -> stdlib_socket.socket:
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise FailedPrecondition(
                f"debug socket path {path} exists and is not a socket; remove it or choose another [debug] address"
            )
        os.unlink(path)  # stale: left by a daemon that was killed
    sock = stdlib_socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        st = os.stat(path)
        if (uid, gid) != (st.st_uid, st.st_gid):
            try:
                os.chown(path, uid, gid)
            except PermissionError as e:
                raise PermissionDenied(
                    f"cannot give debug socket {path} owner {uid}:{gid}: {e.strerror}; "
                    "run as root or set [debug] uid/gid to your own"
                ) from e
    except BaseException:
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return sock


@final
class DebugServer:
    """Serves ``routes`` on the unix socket ``address``.

    Args:
        address: socket path (or ``unix:///path``); its directory is created,
            a stale socket file replaced.
        routes: path -> function returning the JSON body of a 200 response.
        mode, uid, gid: the socket file's permission bits and owner.

    Raises:
        InvalidArgument: a relative or too long address.
        FailedPrecondition: something that is not a socket is at the path.
        PermissionDenied: the owner cannot be set.
        OSError: bind failed otherwise.

    Resource handling: the socket file exists from construction until
    :meth:`aclose`, which removes it (only if it is still this server's).
    """

    def __init__(self, address: str, routes: Mapping[str, Route], *, mode: int = 0o660,
                 uid: int = 0, gid: int = 0) -> None:
        self.path = socket_path(address)
        self._routes = dict(routes)
        self._sock: stdlib_socket.socket | None = _bind(self.path, mode=mode, uid=uid, gid=gid)
        self._ino = os.stat(self.path).st_ino
        self._scope = trio.CancelScope()
        self._done = trio.Event()
        self._slots = trio.Semaphore(MAX_CONNECTIONS)  # released by the connection's task

    async def run(self, ready: trio.Event) -> None:
        """Wait for ``ready``, then accept connections until :meth:`aclose`.

        Cancellation: stops accepting, drops open connections and removes
        the socket file.
        """
        try:
            with self._scope:
                await ready.wait()
                assert self._sock is not None
                self._sock.listen(MAX_CONNECTIONS)
                self._sock.setblocking(False)
                listener = trio.SocketListener(trio.socket.from_stdlib_socket(self._sock))
                self._sock = None  # the listener owns it now
                log.info("debug server listening on %s", self.path)
                async with listener, trio.open_nursery() as nursery:
                    while True:
                        await self._slots.acquire()
                        try:
                            stream = await listener.accept()
                        except OSError as e:
                            self._slots.release()
                            log.error("debug server: accept failed (%s); retrying in 100 ms", e)
                            await trio.sleep(0.1)
                            continue
                        nursery.start_soon(self._connection, stream)
        finally:
            self._cleanup()
            self._done.set()

    async def aclose(self) -> None:
        """Stop serving and remove the socket file.

        Cancellation: waits at most 5 s for :meth:`run` to finish.
        """
        self._scope.cancel()
        with trio.move_on_after(5):
            await self._done.wait()
        self._cleanup()  # run() never started: the socket is still only bound

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self._ino:
                os.unlink(self.path)

    async def _connection(self, stream: trio.SocketStream) -> None:
        """One request, one response. Never raises into the server's nursery."""
        try:
            async with stream:
                reply = await self._answer(stream)
                with trio.move_on_after(WRITE_TIMEOUT):
                    await stream.send_all(reply)
                    await stream.send_eof()
                await _drain(stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            log.debug("debug server: client went away: %s", e)
        except Exception:
            log.exception("debug server: connection failed")
        finally:
            self._slots.release()

    async def _answer(self, stream: trio.SocketStream) -> bytes:
        """The response bytes for the request read from ``stream``."""
        buffer = b""
        try:
            with trio.fail_after(READ_TIMEOUT):
                while (end := head_end(buffer)) < 0:
                    data = await stream.receive_some(MAX_HEAD)
                    if not data:
                        raise BadRequest(400, "connection closed before the request was complete")
                    buffer += data
            request = parse_head(buffer[:end])
        except trio.TooSlowError:
            return response(408, {"error": f"no complete request within {READ_TIMEOUT:g} s"})
        except BadRequest as e:
            return response(e.status, {"error": e.message})
        head_only = request.method == "HEAD"
        route = self._routes.get(request.path)
        if route is None:
            known = ", ".join(sorted(self._routes))
            return response(404, {"error": f"{request.path}: not found; try {known}"}, head_only=head_only)
        if request.method not in ALLOWED_METHODS:
            return response(405, {"error": f"method {request.method} is not allowed; use GET"},
                            extra=(("Allow", ", ".join(ALLOWED_METHODS)),))
        try:
            payload = route()
        except Exception as e:
            log.exception("debug server: %s failed", request.path)
            return response(500, {"error": f"{request.path}: {type(e).__name__}: {e}"}, head_only=head_only)
        return response(200, payload, head_only=head_only)


async def _drain(stream: trio.SocketStream) -> None:
    """Read what the client still sends (a body we ignored) until it closes.

    Closing a unix socket with unread data makes the kernel reset the
    connection, and the client may lose the response it has not read yet;
    so, like HTTP servers' "lingering close", read and discard (bounded in
    time and size) first.
    """
    with trio.move_on_after(LINGER_SECONDS):
        received = 0
        while received < LINGER_BYTES:
            data = await stream.receive_some(MAX_HEAD)
            if not data:
                return
            received += len(data)
