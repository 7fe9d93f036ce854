"""``google.protobuf.Any`` the way containerd writes it: bare type URLs.

containerd 1.6 (typeurl v1) names an ``Any``'s type by the message's bare full
name, e.g. ``containerd.events.TaskExit``; ``Any.Pack`` would write
``type.googleapis.com/...``, which ``ctr events`` cannot resolve and drops.
:func:`pack` writes the bare name; :func:`message_class` resolves any of the
spellings (bare, ``type.googleapis.com/``-prefixed, ``/``-prefixed) to a
generated message class once its module is imported. The event payload
modules (``berth.proto.containerd.events.*``) are imported on first use.

No trio and no gRPC here: the CLI and the shim import this module.
"""
from __future__ import annotations

import importlib

from google.protobuf import any_pb2, descriptor_pool, message, message_factory

__all__ = ["EVENT_MODULES", "full_name", "message_class", "pack", "unpack"]

EVENT_MODULES: tuple[str, ...] = (
    "berth.proto.containerd.events.task_pb2",
    "berth.proto.containerd.events.container_pb2",
    "berth.proto.containerd.events.content_pb2",
    "berth.proto.containerd.events.image_pb2",
    "berth.proto.containerd.events.namespace_pb2",
    "berth.proto.containerd.events.snapshot_pb2",
)

_loaded = False


def _load_event_modules() -> None:
    global _loaded
    if not _loaded:
        for name in EVENT_MODULES:
            importlib.import_module(name)
        _loaded = True


def full_name(type_url: str) -> str:
    """The message name in a type URL: the text after the last ``/``."""
    return type_url.rpartition("/")[2]


def message_class(type_url: str) -> type[message.Message] | None:
    """The generated class for ``type_url``, or None if no loaded module defines it."""
    _load_event_modules()
    name = full_name(type_url)
    if not name:
        return None
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return None
    return message_factory.GetMessageClass(descriptor)


def pack(msg: message.Message) -> any_pb2.Any:
    """An ``Any`` holding ``msg`` with the bare type URL containerd uses."""
    return any_pb2.Any(type_url=msg.DESCRIPTOR.full_name, value=msg.SerializeToString())


def unpack(value: any_pb2.Any) -> message.Message | None:
    """Decode an ``Any`` into its message, or None when its type is unknown.

    Raises:
        google.protobuf.message.DecodeError: the bytes do not parse as that type.
    """
    cls = message_class(value.type_url)
    if cls is None:
        return None
    msg = cls()
    msg.ParseFromString(value.value)
    return msg
