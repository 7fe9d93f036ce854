"""``containerd.services.events.v1.Events`` (gRPC) and the ttrpc ``Forward`` for shims.

- ``Publish`` needs the ``containerd-namespace`` header (FailedPrecondition
  without it, as containerd); the exchange stamps the time.
- ``Forward`` keeps the envelope's namespace, topic and timestamp (a zero
  timestamp is InvalidArgument ``timestamp must be set on forwarded event``).
- Both turn the ``Any`` into a typed core event when its type URL names a
  built-in event of that topic and it decodes (so filters such as
  ``event.container_id==c1`` and in-process subscribers see fields), and
  keep it as a :class:`~berth.core.events.RawEvent` otherwise.
- ``Subscribe`` streams the envelopes of every namespace that match the
  filters and never ends on its own. A :class:`~berth.core.events.Missed`
  notice (the client read too slowly and the exchange dropped envelopes for
  it) is logged as a warning and skipped: the wire ``Envelope`` has no way to
  say it, and a made-up event would be shown by ``ctr events`` as an event
  that never happened. An envelope whose typed event has no protobuf
  message is logged and skipped for the same reason: the stream goes on.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, final

from google.protobuf import empty_pb2

from berth.core import namespaces
from berth.core.errors import BerthError, InvalidArgument
from berth.core.events import Envelope, Missed
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.proto.containerd.services.events.ttrpc.v1 import events_pb2 as ttrpc_pb
from berth.proto.containerd.services.events.v1 import events_pb2 as pb

from ._convert import any_to_event, event_to_any, from_timestamp, to_timestamp

if TYPE_CHECKING:
    from berth.core.events import Exchange

__all__ = ["EventsService", "TtrpcEventsService", "envelope_message"]

log = logging.getLogger(__name__)


def envelope_message(envelope: Envelope) -> pb.Envelope:
    """The wire form of an envelope (typed events become their message's ``Any``).

    Raises:
        Internal: a typed event whose protobuf message is not loaded.
    """
    return pb.Envelope(
        timestamp=to_timestamp(envelope.timestamp),
        namespace=envelope.namespace,
        topic=envelope.topic,
        event=event_to_any(envelope.event),
    )


def _forward(exchange: "Exchange", envelope: pb.Envelope | ttrpc_pb.Envelope) -> empty_pb2.Empty:
    if not envelope.HasField("event"):
        raise InvalidArgument(f"envelope topic {envelope.topic!r}: event must be set")
    exchange.forward(
        namespace=envelope.namespace,
        topic=envelope.topic,
        timestamp=from_timestamp(envelope.timestamp),
        event=any_to_event(envelope.event, envelope.topic),
    )
    return empty_pb2.Empty()


@final
class EventsService(RpcService):
    service_name = "containerd.services.events.v1.Events"
    transports = frozenset({"grpc"})

    def __init__(self, exchange: "Exchange") -> None:
        self._exchange = exchange

    def methods(self) -> Sequence[Method]:
        return (
            Method(name="Publish", kind=Kind.UNARY, request=pb.PublishRequest,
                   response=empty_pb2.Empty, handler=self.publish),
            Method(name="Forward", kind=Kind.UNARY, request=pb.ForwardRequest,
                   response=empty_pb2.Empty, handler=self.forward),
            Method(name="Subscribe", kind=Kind.SERVER_STREAM, request=pb.SubscribeRequest,
                   response=pb.Envelope, handler=self.subscribe),
        )

    async def publish(self, request: pb.PublishRequest, call: Call) -> empty_pb2.Empty:
        """Raises FailedPrecondition (no namespace), InvalidArgument (topic, no event)."""
        namespace = namespaces.current()
        if not request.HasField("event"):
            raise InvalidArgument(f"publish to topic {request.topic!r}: event must be set")
        self._exchange.publish(any_to_event(request.event, request.topic),
                               namespace=namespace, topic=request.topic)
        return empty_pb2.Empty()

    async def forward(self, request: pb.ForwardRequest, call: Call) -> empty_pb2.Empty:
        """Raises InvalidArgument (namespace, topic, timestamp, no event)."""
        return _forward(self._exchange, request.envelope)

    async def subscribe(self, request: pb.SubscribeRequest, call: Call) -> AsyncIterator[pb.Envelope]:
        """Raises InvalidArgument for a malformed filter (before the first envelope).

        **Cancellation**: ends when the client goes away (the transport
        cancels it); unsubscribing happens on the way out.
        """
        async with self._exchange.subscribe(*request.filters) as subscription:
            async for item in subscription:
                if isinstance(item, Missed):
                    log.warning("events subscriber missed %d envelopes (it reads too slowly)", item.count,
                                extra={"filters": list(request.filters)})
                    continue
                try:
                    message = envelope_message(item)
                except BerthError as e:
                    log.error("event not sent to subscriber: %s", e, extra={"topic": item.topic})
                    continue
                yield message


@final
class TtrpcEventsService(RpcService):
    """``containerd.services.events.ttrpc.v1.Events/Forward``, served on ttrpc for shims."""

    service_name = "containerd.services.events.ttrpc.v1.Events"
    transports = frozenset({"ttrpc"})

    def __init__(self, exchange: "Exchange") -> None:
        self._exchange = exchange

    def methods(self) -> Sequence[Method]:
        return (Method(name="Forward", kind=Kind.UNARY, request=ttrpc_pb.ForwardRequest,
                       response=empty_pb2.Empty, handler=self.forward),)

    async def forward(self, request: ttrpc_pb.ForwardRequest, call: Call) -> empty_pb2.Empty:
        """Raises InvalidArgument (namespace, topic, timestamp, no event)."""
        return _forward(self._exchange, request.envelope)
