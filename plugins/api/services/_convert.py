"""Typed core events <-> protobuf messages, and nanosecond times <-> Timestamps.

The core's event dataclasses (:mod:`berth.core.events`) mirror containerd's
event messages field by field, so conversion is by field name:

- ``str``/``int``/``bool`` fields copy as they are;
- ``Mapping`` fields fill a ``map<string,string>``;
- ``tuple`` fields of dataclasses fill repeated messages;
- ``int`` fields whose message field is a ``Timestamp`` are nanoseconds
  since the epoch (0 = unset);
- :class:`~berth.core.events.Opaque` fills a ``google.protobuf.Any``;
- nested dataclasses (``TaskIO``, ``ContainerRuntime``) fill sub-messages.

Each class names its message through ``type_url`` (a bare full name), found
with :func:`berth.proto.anytypes.message_class`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from google.protobuf import any_pb2, descriptor, message, timestamp_pb2
from google.protobuf.message import DecodeError

from berth.core.errors import Internal
from berth.core.events import Event, Opaque, RawEvent, event_type
from berth.proto import anytypes

__all__ = ["event_to_any", "any_to_event", "to_timestamp", "from_timestamp"]

_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name
_ANY = any_pb2.Any.DESCRIPTOR.full_name


def to_timestamp(ns: int) -> timestamp_pb2.Timestamp:
    """A ``Timestamp`` for nanoseconds since the epoch."""
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(ns)
    return ts


def from_timestamp(ts: timestamp_pb2.Timestamp) -> int:
    """Nanoseconds since the epoch for a ``Timestamp``."""
    return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)


# --- dataclass -> message ------------------------------------------------------


def event_to_any(event: Event | RawEvent) -> any_pb2.Any:
    """The ``Any`` (bare type URL) for an event; a RawEvent's is returned as it came.

    Raises:
        Internal: the event's class names no known protobuf message.
    """
    if isinstance(event, RawEvent):
        return any_pb2.Any(type_url=event.type_url, value=event.value)
    cls = anytypes.message_class(type(event).type_url)
    if cls is None:
        raise Internal(f"event {type(event).__name__}: no protobuf message {type(event).type_url!r} is loaded")
    msg = cls()
    _fill(msg, event)
    return anytypes.pack(msg)


def _fill(msg: message.Message, obj: object) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        fd = fields.get(f.name)
        if fd is None:
            continue  # a field the message does not carry
        _set(msg, fd, getattr(obj, f.name))


def _set(msg: message.Message, fd: descriptor.FieldDescriptor, value: object) -> None:
    name = fd.name
    if value is None:
        return
    if _is_map(fd):
        getattr(msg, name).update(dict(value))  # type: ignore[call-overload]
    elif fd.is_repeated:
        target = getattr(msg, name)
        for item in value:  # type: ignore[attr-defined]
            if fd.message_type is not None:
                _fill(target.add(), item)
            else:
                target.append(item)
    elif fd.message_type is not None:
        sub = getattr(msg, name)
        if fd.message_type.full_name == _TIMESTAMP:
            if value:
                sub.FromNanoseconds(value)
        elif fd.message_type.full_name == _ANY:
            if isinstance(value, Opaque):
                sub.type_url, sub.value = value.type_url, value.value
        else:
            sub.SetInParent()
            _fill(sub, value)
    else:
        setattr(msg, name, value)


def _is_map(fd: descriptor.FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


# --- message -> dataclass ------------------------------------------------------


def any_to_event(value: any_pb2.Any, topic: str | None = None) -> Event | RawEvent:
    """A typed event when the type URL names a built-in event that decodes, else a RawEvent.

    With ``topic``, the event is typed only when its class has that topic
    (containerd lets a publisher pair any message with any topic).

    Decoding drops fields the message does not define (a newer containerd's);
    that is the price of filters like ``event.container_id==c1`` working on
    events that arrive over the wire.
    """
    cls = event_type(anytypes.full_name(value.type_url))
    raw = RawEvent(type_url=value.type_url, value=value.value)
    if cls is None or (topic is not None and cls.topic != topic):
        return raw
    try:
        msg = anytypes.unpack(value)
    except DecodeError:
        return raw
    if msg is None:
        return raw
    try:
        return typing.cast(Event, _build(cls, msg))
    except Exception:  # a value the dataclass rejects: keep the bytes as they came
        return raw


_HINTS: dict[type, dict[str, Any]] = {}


def _build(cls: type, msg: message.Message) -> object:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    fields = msg.DESCRIPTOR.fields_by_name
    kwargs: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        fd = fields.get(f.name)
        if fd is None:
            continue
        kwargs[f.name] = _get(msg, fd, hints[f.name])
    return cls(**kwargs)


def _get(msg: message.Message, fd: descriptor.FieldDescriptor, hint: Any) -> object:
    value = getattr(msg, fd.name)
    if _is_map(fd):
        return dict(value)
    if fd.is_repeated:
        if fd.message_type is not None:
            item = _dataclass_arm(typing.get_args(hint)[0])
            return tuple(_build(item, v) for v in value)
        return tuple(value)
    if fd.message_type is None:
        return value
    if fd.message_type.full_name == _TIMESTAMP:
        return from_timestamp(value) if msg.HasField(fd.name) else 0
    if not msg.HasField(fd.name):
        return None
    if fd.message_type.full_name == _ANY:
        return Opaque(type_url=value.type_url, value=value.value)
    return _build(_dataclass_arm(hint), value)


def _dataclass_arm(hint: Any) -> type:
    """The dataclass in ``X | None`` (or ``X`` itself)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            if isinstance(arm, type) and dataclasses.is_dataclass(arm):
                return arm
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint
    raise TypeError(f"no dataclass in {hint!r}")
