"""``containerd.services.introspection.v1.Introspection``: plugins and the server.

``Plugins`` lists every plugin the core considered (loaded, skipped or
failed) in init order. Filters are evaluated here, on the field paths
``type`` and ``id`` only (as containerd: ``platforms`` and ``capabilities``
never match); several filters match when any does. A plugin that did not
load carries ``init_err``: a ``google.rpc.Status`` whose code is its error's
gRPC code and whose message is the full error text; a skipped plugin's text
ends with ``: skip plugin``, which is how ``ctr plugins ls`` tells ``skip``
from ``error``.

``Server`` answers the uuid the core persisted under its root, and this
process's pid and pid namespace inode (containerd 1.7's fields).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import final

from google.protobuf import empty_pb2

from berth.core import filters
from berth.core.introspection import Introspector, PluginInfo
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.proto.containerd.services.introspection.v1 import introspection_pb2 as pb
from berth.proto.containerd.types import platform_pb2
from berth.proto.google.rpc import status_pb2

__all__ = ["IntrospectionService", "plugin_message"]


def plugin_message(info: PluginInfo) -> pb.Plugin:
    """The wire form of one plugin's record."""
    msg = pb.Plugin(
        type=info.type,
        id=info.id,
        requires=list(info.requires),
        platforms=[platform_pb2.Platform(os=p.os, architecture=p.architecture, variant=p.variant)
                   for p in info.platforms],
        exports=dict(info.exports),
        capabilities=list(info.capabilities),
    )
    if info.error is not None:
        msg.init_err.CopyFrom(status_pb2.Status(code=info.error.grpc_code, message=str(info.error)))
    return msg


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


@final
class IntrospectionService(RpcService):
    """Serves the core :class:`Introspector`, looked up when a call comes."""

    service_name = "containerd.services.introspection.v1.Introspection"
    transports = frozenset({"grpc"})

    def __init__(self, introspector: Callable[[], Introspector]) -> None:
        # A getter: the core registers its Introspector on the bus, and the
        # plugin list keeps growing until every plugin has initialized.
        self._introspector = introspector

    def methods(self) -> Sequence[Method]:
        return (
            Method(name="Plugins", kind=Kind.UNARY, request=pb.PluginsRequest,
                   response=pb.PluginsResponse, handler=self.plugins),
            Method(name="Server", kind=Kind.UNARY, request=empty_pb2.Empty,
                   response=pb.ServerResponse, handler=self.server),
        )

    async def plugins(self, request: pb.PluginsRequest, call: Call) -> pb.PluginsResponse:
        """Raises InvalidArgument for a malformed filter."""
        match = filters.parse(*request.filters)
        response = pb.PluginsResponse()
        for info in self._introspector().plugins():
            if match.match(filters.adapt_fields({"type": info.type, "id": info.id})):
                response.plugins.append(plugin_message(info))
        return response

    async def server(self, request: empty_pb2.Empty, call: Call) -> pb.ServerResponse:
        return pb.ServerResponse(
            uuid=self._introspector().server_uuid(), pid=os.getpid(), pidns=_pid_namespace()
        )
