"""The gRPC server: serve :class:`~berth.core.rpc.RpcService` s on a unix socket.

Example::

    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(serve_grpc, "/run/berth/berth.sock", services))
        ...
        nursery.cancel_scope.cancel()   # stops serving, removes the socket
"""
from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Sequence

import trio

from berth.core.rpc import RpcService
from berth.plugins.api.grpc._connection import Limits, serve_connection
from berth.plugins.api.grpc._routing import Router
from berth.plugins.api.grpc._unix import open_unix_listener

__all__ = ["serve_grpc", "Limits"]

logger = logging.getLogger(__name__)

_ACCEPT_CAPACITY_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}


async def serve_grpc(
    address: str,
    services: Sequence[RpcService],
    *,
    uid: int | None = 0,
    gid: int | None = 0,
    mode: int = 0o660,
    max_recv: int = 16 << 20,
    max_send: int = 16 << 20,
    handshake_timeout: float = 10.0,
    idle_timeout: float | None = 300.0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``services`` over gRPC on the unix socket ``address`` until cancelled.

    Routes ``/<service_name>/<Method>``; every connection gets its own task
    and never takes the server down with it.

    Args:
        address: socket path (or ``unix:///path``); a stale socket is
            replaced, the parent directory created.
        services: what to serve; two with one name are an error.
        uid, gid: owner given to the socket file (None: keep the creator's).
        mode: the socket file's permission bits.
        max_recv, max_send: largest message accepted / sent
            (RESOURCE_EXHAUSTED beyond).
        handshake_timeout: seconds a new connection has to send the HTTP/2 preface.
        idle_timeout: seconds a connection with no open stream may stay.
        task_status: started with the socket path once it listens.

    Raises:
        InvalidArgument, FailedPrecondition, PermissionDenied, OSError: the
            socket could not be set up (see :func:`open_unix_listener`).
        AlreadyExists: two services share a name.

    Cancellation: stops accepting, drops open connections and removes the
    socket file.
    """
    router = Router(services)
    limits = Limits(max_recv=max_recv, max_send=max_send,
                    handshake_timeout=handshake_timeout, idle_timeout=idle_timeout)
    async with open_unix_listener(address, mode=mode, uid=uid, gid=gid) as listener, trio.open_nursery() as nursery:
        path = address[len("unix://"):] if address.startswith("unix://") else address
        logger.info("grpc: serving %s on %s", ", ".join(router.service_names) or "nothing", path)
        task_status.started(path)
        await _accept_loop(listener, functools.partial(serve_connection, router=router, limits=limits), nursery)


async def _accept_loop(listener: trio.SocketListener, handler: functools.partial[object], nursery: trio.Nursery) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as e:
            if e.errno not in _ACCEPT_CAPACITY_ERRNOS:
                raise
            logger.error("grpc: accept failed (%s); retrying in 100 ms", e)
            await trio.sleep(0.1)
            continue
        nursery.start_soon(handler, stream)
