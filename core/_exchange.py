"""The event exchange: publish never blocks, subscribers get bounded buffers.

Re-exported as :class:`berth.core.events.Exchange`; see that module for the
event types. The daemon owns one exchange and hands it to every plugin as
``InitContext.events``.

How delivery works: each subscriber has a ``trio.open_memory_channel(buffer)``.
``publish`` appends the envelope to a ring of recent envelopes and offers it
to each subscriber whose filter matches with ``send_nowait``; when a buffer
is full the envelope is dropped *for that subscriber* and counted. The count
rides along with the next envelope that fits, and the subscriber's iterator
turns it into one :class:`~berth.core.events.Missed` just before that
envelope. The ring lets a subscriber resume from a sequence number
(``since``) without a gap or a duplicate.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import final

import trio

from berth.core import namespaces
from berth.core.errors import InvalidArgument, Unavailable
from berth.core.events import Envelope, Event, Missed, RawEvent
from berth.core.filters import Adaptor, Fields, Filter, adapt_fields, parse

__all__ = ["Exchange", "ExchangeStatistics", "Subscription"]

DEFAULT_RING_SIZE = 4096
DEFAULT_BUFFER = 256


@final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeStatistics:
    """A snapshot of an exchange (see :meth:`Exchange.statistics`).

    ``dropped`` counts envelopes lost by slow subscribers since the start
    (one per subscriber per envelope); ``ring_size`` is how many recent
    envelopes are held for resuming, at most ``ring_capacity``.
    """

    subscribers: int
    published: int
    dropped: int
    ring_size: int
    ring_capacity: int
    last_seq: int


def _field_values(obj: object) -> Fields:
    """An event's fields as strings and nested mappings, for filters.

    Strings as they are, integers in decimal, booleans as ``true``/``false``,
    label maps and nested messages as mappings; sequences, bytes and unset
    messages are not filterable (as in containerd, which filters on strings).
    """
    out: dict[str, str | Fields] = {}
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return out
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, bool):
            out[f.name] = "true" if value else "false"
        elif isinstance(value, (str, int)):
            out[f.name] = str(value)
        elif isinstance(value, Mapping):
            out[f.name] = {str(k): str(v) for k, v in value.items()}
        elif dataclasses.is_dataclass(value):
            out[f.name] = _field_values(value)
    return out


def _envelope_adaptor(envelope: Envelope) -> Adaptor:
    """Field paths ``topic``, ``namespace`` and ``event.<field>`` of an envelope."""
    event_adaptor: Adaptor | None = None

    def adaptor(fieldpath: Sequence[str]) -> tuple[str, bool]:
        nonlocal event_adaptor
        if len(fieldpath) == 1 and fieldpath[0] == "topic":
            return envelope.topic, True
        if len(fieldpath) == 1 and fieldpath[0] == "namespace":
            return envelope.namespace, True
        if len(fieldpath) > 1 and fieldpath[0] == "event":
            if event_adaptor is None:  # built once, only when a filter looks inside
                event_adaptor = adapt_fields(_field_values(envelope.event))
            return event_adaptor(fieldpath[1:])
        return "", False

    return adaptor


class _Subscriber:
    __slots__ = ("filter", "send", "missed")

    def __init__(self, filter: Filter, send: trio.MemorySendChannel[tuple[int, Envelope]]) -> None:
        self.filter = filter
        self.send = send
        self.missed = 0  # dropped since the last envelope that got through


@final
class Subscription:
    """An async iterator of :class:`Envelope` and :class:`Missed` items.

    Obtained from ``async with exchange.subscribe(...) as sub``. It never
    ends on its own while the exchange runs; it ends (``StopAsyncIteration``)
    once the ``async with`` block is left or the exchange is closed.

    **Cancellation**: each ``__anext__`` is a trio checkpoint; cancelling a
    wait loses nothing (the next call returns the next item).
    """

    def __init__(self, replay: collections.deque[Envelope | Missed],
                 receive: trio.MemoryReceiveChannel[tuple[int, Envelope]]) -> None:
        self._replay = replay
        self._receive = receive
        self._held: Envelope | None = None
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Envelope | Missed:
        if self._closed:
            await trio.lowlevel.checkpoint()
            raise StopAsyncIteration
        if self._held is not None or self._replay:
            await trio.lowlevel.checkpoint()
            if self._held is not None:
                held, self._held = self._held, None
                return held
            return self._replay.popleft()
        try:
            missed, envelope = await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None
        if missed:
            self._held = envelope
            return Missed(missed)
        return envelope

    def _close(self) -> None:
        self._closed = True
        self._replay.clear()
        self._held = None
        self._receive.close()


@final
class _Subscribe:
    """The async context manager :meth:`Exchange.subscribe` returns."""

    def __init__(self, exchange: Exchange, filter: Filter, since: int | None, buffer: int) -> None:
        self._exchange = exchange
        self._filter = filter
        self._since = since
        self._buffer = buffer
        self._subscriber: _Subscriber | None = None
        self._subscription: Subscription | None = None

    async def __aenter__(self) -> Subscription:
        if self._subscription is not None:
            raise RuntimeError("this subscribe() context was already entered; call subscribe() again")
        await trio.lowlevel.checkpoint()
        # From here to registration nothing awaits, so no publish can slip
        # between the replay snapshot and the live feed: no gap, no duplicate.
        send, receive = trio.open_memory_channel[tuple[int, Envelope]](self._buffer)
        replay = self._exchange._replay(self._filter, self._since)
        self._subscriber = _Subscriber(self._filter, send)
        self._exchange._attach(self._subscriber)
        self._subscription = Subscription(replay, receive)
        return self._subscription

    async def __aexit__(self, *exc_info: object) -> None:
        if self._subscriber is not None:
            self._exchange._detach(self._subscriber)
            self._subscriber.send.close()
        if self._subscription is not None:
            self._subscription._close()


@final
class Exchange:
    """Fans published events out to subscribers; keeps recent ones to resume from.

    Args:
        ring_size: how many recent envelopes to keep for ``subscribe(since=…)``.
        clock: nanoseconds since the epoch for timestamps (tests pass a fake).

    Use it from the trio thread only (``publish`` uses ``send_nowait``); from
    a worker thread call ``trio.from_thread.run_sync(exchange.publish, event)``.
    """

    def __init__(self, *, ring_size: int = DEFAULT_RING_SIZE, clock: Callable[[], int] = time.time_ns) -> None:
        if ring_size < 0:
            raise InvalidArgument(f"event exchange: ring_size must be >= 0 (got {ring_size})")
        self._ring: collections.deque[Envelope] = collections.deque(maxlen=ring_size)
        self._clock = clock
        self._seq = 0
        self._dropped = 0
        self._subscribers: list[_Subscriber] = []
        self._closed = False

    def publish(self, event: Event | RawEvent, *, namespace: str | None = None,
                topic: str | None = None) -> Envelope:
        """Stamp ``event`` and deliver it to every matching subscriber. Never blocks.

        Args:
            event: a typed event, or a :class:`RawEvent` (then ``topic`` is required).
            namespace: defaults to the caller's namespace
                (:func:`berth.core.namespaces.current`).
            topic: only for raw events; for a typed event it must equal the class's.

        Returns:
            The envelope, with its sequence number and timestamp.

        Raises:
            InvalidArgument: bad namespace or topic, or a topic that does not
                match the event.
            FailedPrecondition: ``namespace`` is None and the call has none.
        """
        if isinstance(event, Event):
            event_topic = type(event).topic
            if topic is not None and topic != event_topic:
                raise InvalidArgument(
                    f"publish: topic {topic!r} does not match {type(event).__name__} (topic {event_topic!r})"
                )
            topic = event_topic
        elif isinstance(event, RawEvent):
            if topic is None:
                raise InvalidArgument(f"publish: event {event.type_url!r} is raw, so a topic is required")
        else:
            raise InvalidArgument(f"publish: {type(event).__name__} is not an Event or RawEvent")
        if namespace is None:
            namespace = namespaces.current()
        return self._emit(namespace=namespace, topic=topic, timestamp=self._clock(), event=event)

    def forward(self, *, namespace: str, topic: str, timestamp: int, event: Event | RawEvent) -> Envelope:
        """Publish an event that was stamped elsewhere (a shim's ``Events/Forward``).

        Keeps ``namespace``, ``topic`` and ``timestamp``; assigns a new sequence
        number. Never blocks.

        Raises:
            InvalidArgument: bad namespace or topic, ``timestamp`` is 0, or a
                typed event whose topic differs.
        """
        if not timestamp:
            raise InvalidArgument("timestamp must be set on forwarded event")
        if not isinstance(event, (Event, RawEvent)):
            raise InvalidArgument(f"forward: {type(event).__name__} is not an Event or RawEvent")
        return self._emit(namespace=namespace, topic=topic, timestamp=timestamp, event=event)

    def subscribe(self, *filters: str, since: int | None = None, buffer: int = DEFAULT_BUFFER) -> _Subscribe:
        """Subscribe to envelopes matching ``filters`` (any of them; none = all).

        Filters use :mod:`berth.core.filters` over the field paths ``topic``,
        ``namespace`` and ``event.<field>`` (``event.labels.<key>``,
        ``event.runtime.name``; integers in decimal, booleans as ``true``/``false``).
        Envelopes of every namespace are delivered unless a filter says otherwise.

        Use as ``async with exchange.subscribe('topic~="^/tasks/"') as sub:
        async for item in sub: ...``; leaving the block unsubscribes.

        Args:
            filters: filter strings, parsed now.
            since: replay the envelopes with a sequence number above ``since``
                that the ring still holds, then continue live with no gap and
                no duplicate. If some were already evicted, a
                ``Missed(count)`` comes first. A ``since`` at or beyond the last
                sequence number replays nothing.
            buffer: how many envelopes may wait for this subscriber before
                further ones are dropped (and reported as ``Missed``).

        Raises:
            InvalidArgument: a malformed filter, ``since < 0`` or ``buffer < 1``.
            Unavailable: the exchange is closed (raised on entering the block).

        **Cancellation**: entering the block is a checkpoint; so is each iteration.
        """
        if since is not None and since < 0:
            raise InvalidArgument(f"subscribe: since must be >= 0 (got {since})")
        if buffer < 1:
            raise InvalidArgument(f"subscribe: buffer must be >= 1 (got {buffer})")
        return _Subscribe(self, parse(*filters), since, buffer)

    def statistics(self) -> ExchangeStatistics:
        """Subscribers, envelopes published and dropped, ring use, last sequence number."""
        return ExchangeStatistics(
            subscribers=len(self._subscribers),
            published=self._seq,
            dropped=self._dropped,
            ring_size=len(self._ring),
            ring_capacity=self._ring.maxlen or 0,
            last_seq=self._seq,
        )

    def close(self) -> None:
        """End every subscription (after what is buffered) and refuse new ones.

        Publishing still works (into the ring) so plugins shutting down after
        the exchange do not fail.
        """
        self._closed = True
        for subscriber in self._subscribers:
            subscriber.send.close()
        self._subscribers.clear()

    # --- internals -----------------------------------------------------------

    def _emit(self, *, namespace: str, topic: str, timestamp: int, event: Event | RawEvent) -> Envelope:
        envelope = Envelope(seq=self._seq + 1, timestamp=timestamp, namespace=namespace, topic=topic, event=event)
        self._seq += 1
        self._ring.append(envelope)
        adaptor = _envelope_adaptor(envelope)
        broken: list[_Subscriber] = []
        for subscriber in self._subscribers:
            if not subscriber.filter.match(adaptor):
                continue
            try:
                subscriber.send.send_nowait((subscriber.missed, envelope))
            except trio.WouldBlock:
                subscriber.missed += 1
                self._dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                broken.append(subscriber)
            else:
                subscriber.missed = 0
        for subscriber in broken:
            self._detach(subscriber)
        return envelope

    def _replay(self, filter: Filter, since: int | None) -> collections.deque[Envelope | Missed]:
        if self._closed:
            raise Unavailable("event exchange is closed: the daemon is shutting down")
        replay: collections.deque[Envelope | Missed] = collections.deque()
        if since is None:
            return replay
        first = self._ring[0].seq if self._ring else self._seq + 1
        evicted = min(first - 1, self._seq) - since
        if evicted > 0:
            replay.append(Missed(evicted))
        start = max(since + 1, first)
        for envelope in itertools.islice(self._ring, max(0, start - first), None):
            if filter.match(_envelope_adaptor(envelope)):
                replay.append(envelope)
        return replay

    def _attach(self, subscriber: _Subscriber) -> None:
        self._subscribers.append(subscriber)

    def _detach(self, subscriber: _Subscriber) -> None:
        try:
            self._subscribers.remove(subscriber)
        except ValueError:
            pass

