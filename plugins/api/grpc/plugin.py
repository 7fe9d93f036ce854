"""Plugin registration: ``io.berth.server.v1.grpc`` serves the gRPC API.

Once every plugin has initialized (``ctx.ready``), it serves each
:class:`~berth.core.rpc.RpcService` on the bus that runs on gRPC (no
``transports`` attribute, or one naming ``"grpc"``) at ``[grpc] address``.
"""
from __future__ import annotations

import functools
import logging
from typing import final

import trio

from berth.core.plugin import InitContext, Registration, hookimpl
from berth.core.rpc import RpcService
from berth.plugins.api.grpc._routing import serves_on
from berth.plugins.api.grpc.server import serve_grpc

__all__ = ["ServerHandle", "berth_register_plugins"]

logger = logging.getLogger(__name__)

SERVER_TYPE = "io.berth.server.v1"


@final
class ServerHandle:
    """A server running in the daemon's nursery; ``aclose()`` stops it.

    Error handling: a server that cannot listen (bad address, socket in
    use) raises into the daemon's nursery, which stops the daemon: a berthd
    that cannot serve its API should not look healthy.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.address: str | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()

    async def run(self, ready: trio.Event, serve: functools.partial[object], select: object) -> None:
        try:
            with self._scope:
                await ready.wait()
                services = select()  # type: ignore[operator]
                await serve(services, task_status=_Started(self))
        finally:
            self._done.set()

    async def aclose(self) -> None:
        """Stop serving and remove the socket file.

        Cancellation: waits (at most 5 s) for the server to finish its cleanup.
        """
        self._scope.cancel()
        with trio.move_on_after(5):
            await self._done.wait()


@final
class _Started:
    """A ``task_status`` recording the address the server listens on."""

    def __init__(self, handle: ServerHandle) -> None:
        self._handle = handle

    def started(self, value: object = None) -> None:
        self._handle.address = value if isinstance(value, str) else None
        logger.info("%s server listening on %s", self._handle.name, value)


def services_for(ctx: InitContext, transport: str) -> list[RpcService]:
    """The RpcServices on the bus that ask to be served on ``transport``."""
    return [s for s in ctx.all(RpcService).values() if serves_on(s, transport)]


async def init(ctx: InitContext) -> ServerHandle:
    addresses = ctx.addresses
    handle = ServerHandle("grpc")
    serve = functools.partial(
        serve_grpc,
        addresses.grpc_address,
        uid=addresses.grpc_uid,
        gid=addresses.grpc_gid,
        max_recv=addresses.max_recv_message_size,
        max_send=addresses.max_send_message_size,
    )
    ctx.meta.exports["address"] = addresses.grpc_address
    ctx.nursery.start_soon(handle.run, ctx.ready, serve, functools.partial(services_for, ctx, "grpc"))
    return handle


@hookimpl
def berth_register_plugins() -> list[Registration]:
    return [Registration(type=SERVER_TYPE, id="grpc", init=init, requires=("*",))]
