"""Registrations of the API service plugins.

| URI | serves | needs |
|---|---|---|
| ``io.containerd.grpc.v1.version`` | ``containerd.services.version.v1.Version`` | — |
| ``io.containerd.grpc.v1.introspection`` | ``containerd.services.introspection.v1.Introspection`` | the core's Introspector |
| ``io.containerd.grpc.v1.namespaces`` | ``containerd.services.namespaces.v1.Namespaces`` | a NamespaceStore (metadata) |
| ``io.containerd.grpc.v1.events`` | ``containerd.services.events.v1.Events`` | the exchange |
| ``io.containerd.ttrpc.v1.ttrpc-events`` | ``containerd.services.events.ttrpc.v1.Events`` (ttrpc) | the exchange |

Each instance provides :class:`~berth.core.rpc.RpcService`; the gRPC and
ttrpc servers pick them up by their ``transports``. (The ttrpc one has its
own id because the bus keys instances of one interface by plugin id.)
"""
from __future__ import annotations

from berth.core.introspection import Introspector
from berth.core.namespaces import NamespaceStore
from berth.core.plugin import InitContext, Registration, hookimpl
from berth.core.rpc import RpcService

__all__ = ["GRPC", "TTRPC", "berth_register_plugins"]

GRPC = "io.containerd.grpc.v1"
TTRPC = "io.containerd.ttrpc.v1"
METADATA = "io.containerd.metadata.v1"


async def _version(ctx: InitContext) -> RpcService:
    from .version import VersionService

    return VersionService()


async def _introspection(ctx: InitContext) -> RpcService:
    from .introspection import IntrospectionService

    bus = ctx.bus
    return IntrospectionService(lambda: bus.get(Introspector))


async def _namespaces(ctx: InitContext) -> RpcService:
    from .namespaces import NamespacesService

    store = ctx.get(NamespaceStore)  # fails this plugin when metadata did not load
    return NamespacesService(lambda: store)


async def _events(ctx: InitContext) -> RpcService:
    from .events import EventsService

    return EventsService(ctx.events)


async def _ttrpc_events(ctx: InitContext) -> RpcService:
    from .events import TtrpcEventsService

    return TtrpcEventsService(ctx.events)


@hookimpl
def berth_register_plugins() -> list[Registration]:
    provides = (RpcService,)
    return [
        Registration(type=GRPC, id="version", init=_version, provides=provides),
        Registration(type=GRPC, id="introspection", init=_introspection, provides=provides),
        Registration(type=GRPC, id="namespaces", init=_namespaces, requires=(METADATA,), provides=provides),
        Registration(type=GRPC, id="events", init=_events, provides=provides),
        Registration(type=TTRPC, id="ttrpc-events", init=_ttrpc_events, provides=provides),
    ]
