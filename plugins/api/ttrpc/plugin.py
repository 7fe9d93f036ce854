"""Plugin registration: ``io.berth.server.v1.ttrpc`` serves ttrpc for shims.

Once every plugin has initialized it serves, at ``[ttrpc] address``, each
:class:`~berth.core.rpc.RpcService` whose ``transports`` names ``"ttrpc"``
(e.g. ``containerd.services.events.ttrpc.v1.Events`` for shim events).
"""
from __future__ import annotations

import functools

from berth.core.plugin import InitContext, Registration, SkipPlugin, hookimpl
from berth.plugins.api.grpc.plugin import SERVER_TYPE, ServerHandle, services_for
from berth.plugins.api.ttrpc.server import serve_ttrpc

__all__ = ["berth_register_plugins"]


async def init(ctx: InitContext) -> ServerHandle:
    address = ctx.addresses.ttrpc_address
    if not address:
        raise SkipPlugin("no ttrpc address configured ([ttrpc] address is empty)")
    handle = ServerHandle("ttrpc")
    serve = functools.partial(serve_ttrpc, address, uid=ctx.addresses.grpc_uid, gid=ctx.addresses.grpc_gid)
    ctx.meta.exports["address"] = address
    ctx.nursery.start_soon(handle.run, ctx.ready, serve, functools.partial(services_for, ctx, "ttrpc"))
    return handle


@hookimpl
def berth_register_plugins() -> list[Registration]:
    return [Registration(type=SERVER_TYPE, id="ttrpc", init=init, requires=("*",))]
