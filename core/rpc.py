"""The RPC service interface: how a plugin exposes methods over gRPC or ttrpc.

A plugin that serves an API (``io.containerd.grpc.v1.<name>``) provides
:class:`RpcService` on the bus. The gRPC (and ttrpc) server collects every
``RpcService`` once all plugins are initialized and routes
``/<service_name>/<method>`` to it. Messages are protobuf message classes;
the transport decodes requests and encodes responses.

Handler shapes by :class:`Kind`:

- ``UNARY``:         ``async def h(request, call) -> response``
- ``SERVER_STREAM``: ``def h(request, call) -> AsyncIterator[response]`` (an async generator)
- ``CLIENT_STREAM``: ``async def h(requests: AsyncIterator, call) -> response``
- ``BIDI``:          ``def h(requests: AsyncIterator, call) -> AsyncIterator[response]``

The transport runs each handler with the namespace from the
``containerd-namespace`` metadata set in :mod:`berth.core.namespaces` (or
unset, so :func:`berth.core.namespaces.current` raises FailedPrecondition).
A :class:`berth.core.errors.BerthError` becomes its gRPC status; anything
else becomes INTERNAL and is logged.

A service may carry a ``transports`` attribute (a frozenset of ``"grpc"`` and
``"ttrpc"``); without one it is served on gRPC only. The ttrpc server (on
``[ttrpc] address``, for shims) serves those that name ``"ttrpc"``.
"""
from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Kind", "Method", "Call", "RpcService"]


class Kind(enum.Enum):
    UNARY = "unary"
    SERVER_STREAM = "server_stream"
    CLIENT_STREAM = "client_stream"
    BIDI = "bidi"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    name: str
    kind: Kind
    request: type
    response: type
    handler: Callable[..., Any]


@runtime_checkable
class Call(Protocol):
    """Per-call information handed to a handler."""

    @property
    def metadata(self) -> Mapping[str, str]:
        """Request metadata, keys lower-case (``containerd-namespace``, ...)."""
        ...

    @property
    def deadline(self) -> float | None:
        """Absolute deadline on ``time.monotonic()``'s clock, or None."""
        ...


@runtime_checkable
class RpcService(Protocol):
    """One RPC service, e.g. ``containerd.services.version.v1.Version``."""

    @property
    def service_name(self) -> str: ...

    def methods(self) -> Sequence[Method]: ...
