"""Event types and envelopes: what the exchange carries (data only, no trio).

An *event* is a frozen dataclass whose class names its *topic*, as
containerd's ``api/events`` messages do: ``TaskExit`` is ``/tasks/exit``,
``NamespaceCreate`` is ``/namespaces/create``. Each class also knows its
protobuf message name (``type_url``, a bare full name such as
``containerd.events.TaskExit``: the form ``ctr events`` accepts). An event
that arrives over the wire and is not decoded stays a :class:`RawEvent`; its
topic travels in the envelope.

An :class:`Envelope` is one published event: a sequence number (per
exchange, from 1, no gaps), a timestamp, the namespace and the topic. A
subscriber that lost envelopes (its buffer was full, or it resumed from a
sequence number older than the exchange remembers) receives one
:class:`Missed` notice before the next envelope it does get.

The shim and the CLI import this module, so it must not import trio; the
exchange itself lives in :mod:`berth.core._exchange` and is re-exported here
lazily as ``Exchange``::

    from berth.core.events import TaskExit
    exchange.publish(TaskExit(container_id="c1", id="c1", pid=42, exit_status=0))

Plugins may define their own event classes the same way (subclass
:class:`Event`, set ``topic`` and ``type_url``); topics are validated when
the class is created.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Union

from berth.core import namespaces
from berth.core.errors import InvalidArgument

if TYPE_CHECKING:
    from berth.core._exchange import Exchange as Exchange
    from berth.core._exchange import ExchangeStatistics as ExchangeStatistics
    from berth.core._exchange import Subscription as Subscription

__all__ = [
    "Event",
    "RawEvent",
    "Opaque",
    "Envelope",
    "Missed",
    "Mount",
    "TaskIO",
    "ContainerRuntime",
    "TaskCreate",
    "TaskStart",
    "TaskDelete",
    "TaskExit",
    "TaskOOM",
    "TaskExecAdded",
    "TaskExecStarted",
    "TaskPaused",
    "TaskResumed",
    "TaskCheckpointed",
    "ContainerCreate",
    "ContainerUpdate",
    "ContainerDelete",
    "ImageCreate",
    "ImageUpdate",
    "ImageDelete",
    "ContentDelete",
    "SnapshotPrepare",
    "SnapshotCommit",
    "SnapshotRemove",
    "NamespaceCreate",
    "NamespaceUpdate",
    "NamespaceDelete",
    "EVENT_TYPES",
    "event_type",
    "validate_topic",
]
# Also available, loaded lazily (they import trio): Exchange, ExchangeStatistics,
# Subscription. They stay out of __all__ so ``import *`` does not pull in trio.

_IDENTIFIER = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
_MAX_IDENTIFIER = 76


def validate_topic(topic: str) -> str:
    """Return ``topic`` if containerd would accept it, else raise.

    A topic starts with ``/`` and has at least one component; each component
    is an identifier (letters and digits, with single ``.``, ``_`` or ``-``
    between them, at most 76 characters), e.g. ``/tasks/exec-added``.

    Raises:
        InvalidArgument: the message names the topic and the rule it breaks.
    """
    if not isinstance(topic, str) or not topic:
        raise InvalidArgument("topic: must not be empty")
    if topic[0] != "/":
        raise InvalidArgument(f"topic {topic!r}: must start with '/'")
    if len(topic) == 1:
        raise InvalidArgument(f"topic {topic!r}: must have at least one component")
    for component in topic[1:].split("/"):
        if not _IDENTIFIER.match(component) or len(component) > _MAX_IDENTIFIER:
            raise InvalidArgument(
                f"topic {topic!r}: component {component!r} must match {_IDENTIFIER.pattern} "
                f"and be at most {_MAX_IDENTIFIER} characters"
            )
    return topic


# --- field checking ----------------------------------------------------------

_HINTS: dict[type, dict[str, object]] = {}


def _describe(hint: object) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return re.sub(r"\b(?:typing|collections\.abc|berth\.core\.events)\.", "", str(hint))


def _conform(hint: object, value: object) -> tuple[bool, object]:
    """Check ``value`` against a field's type; return (ok, frozen value)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            ok, frozen = _conform(arm, value)
            if ok:
                return True, frozen
        return False, value
    if hint is type(None):
        return value is None, value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if origin is Mapping or hint is Mapping:
        if not isinstance(value, Mapping):
            return False, value
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return False, value
        # Subscribers share one event object: freeze maps so none can edit it.
        return True, types.MappingProxyType(dict(value))
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False, value
        (item,) = typing.get_args(hint)[:1]
        return all(_conform(item, v)[0] for v in value), tuple(value)
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value  # a hint this checker does not know: trust the caller


def _check_fields(obj: object) -> None:
    cls = type(obj)
    hints = _HINTS.get(cls)
    if hints is None:
        resolved = typing.get_type_hints(cls)
        hints = _HINTS[cls] = {f.name: resolved[f.name] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for name, hint in hints.items():
        value = getattr(obj, name)
        ok, frozen = _conform(hint, value)
        if not ok:
            raise InvalidArgument(
                f"{cls.__name__}: {name!r} must be {_describe(hint)} "
                f"(got {value!r} that is a {type(value).__name__})"
            )
        if frozen is not value:
            object.__setattr__(obj, name, frozen)


class _Checked:
    """Mixin: dataclass fields are type-checked (and maps frozen) when built."""

    __slots__ = ()

    def __post_init__(self) -> None:
        _check_fields(self)


# --- values carried inside events -------------------------------------------


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Opaque(_Checked):
    """A protobuf ``Any`` the core does not decode (e.g. runtime options)."""

    type_url: str
    value: bytes = b""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Mount(_Checked):
    """A mount as events carry it (``containerd.types.Mount``)."""

    type: str = ""
    source: str = ""
    target: str = ""
    options: tuple[str, ...] = ()


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskIO(_Checked):
    """A task's stdio paths, inside :class:`TaskCreate` (``containerd.events.TaskIO``)."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRuntime(_Checked):
    """The runtime of a container, inside :class:`ContainerCreate`."""

    name: str = ""
    options: Opaque | None = None


# --- events ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event(_Checked):
    """Base of typed events.

    A subclass is a ``@dataclass(frozen=True, slots=True, kw_only=True)``
    with two class variables: ``topic`` (validated by :func:`validate_topic`
    when the class is created) and ``type_url`` (the protobuf message's full
    name). Fields are checked against their annotations when an event is
    built; mappings are frozen. Timestamps inside events (``exited_at``) are
    nanoseconds since the epoch, 0 when unset.

    Raises:
        InvalidArgument: a field has the wrong type (when built), or the
            class's topic is malformed (when defined).
    """

    topic: ClassVar[str]
    type_url: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super(Event, cls).__init_subclass__(**kwargs)
        if "topic" in cls.__dict__:
            validate_topic(cls.topic)


_EVENTS = "containerd.events."
_IMAGE_EVENTS = "containerd.services.images.v1."


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskCreate(Event):
    topic = "/tasks/create"
    type_url = _EVENTS + "TaskCreate"

    container_id: str = ""
    bundle: str = ""
    rootfs: tuple[Mount, ...] = ()
    io: TaskIO | None = None
    checkpoint: str = ""
    pid: int = 0


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskStart(Event):
    topic = "/tasks/start"
    type_url = _EVENTS + "TaskStart"

    container_id: str = ""
    pid: int = 0


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskDelete(Event):
    topic = "/tasks/delete"
    type_url = _EVENTS + "TaskDelete"

    container_id: str = ""
    pid: int = 0
    exit_status: int = 0
    exited_at: int = 0
    id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskExit(Event):
    """A process exited; ``id`` is the exec id, or the container id for the init process."""

    topic = "/tasks/exit"
    type_url = _EVENTS + "TaskExit"

    container_id: str = ""
    id: str = ""
    pid: int = 0
    exit_status: int = 0
    exited_at: int = 0


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskOOM(Event):
    topic = "/tasks/oom"
    type_url = _EVENTS + "TaskOOM"

    container_id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskExecAdded(Event):
    topic = "/tasks/exec-added"
    type_url = _EVENTS + "TaskExecAdded"

    container_id: str = ""
    exec_id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskExecStarted(Event):
    topic = "/tasks/exec-started"
    type_url = _EVENTS + "TaskExecStarted"

    container_id: str = ""
    exec_id: str = ""
    pid: int = 0


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskPaused(Event):
    topic = "/tasks/paused"
    type_url = _EVENTS + "TaskPaused"

    container_id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskResumed(Event):
    topic = "/tasks/resumed"
    type_url = _EVENTS + "TaskResumed"

    container_id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TaskCheckpointed(Event):
    topic = "/tasks/checkpointed"
    type_url = _EVENTS + "TaskCheckpointed"

    container_id: str = ""
    checkpoint: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerCreate(Event):
    topic = "/containers/create"
    type_url = _EVENTS + "ContainerCreate"

    id: str = ""
    image: str = ""
    runtime: ContainerRuntime | None = None


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerUpdate(Event):
    topic = "/containers/update"
    type_url = _EVENTS + "ContainerUpdate"

    id: str = ""
    image: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    snapshot_key: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContainerDelete(Event):
    topic = "/containers/delete"
    type_url = _EVENTS + "ContainerDelete"

    id: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageCreate(Event):
    topic = "/images/create"
    type_url = _IMAGE_EVENTS + "ImageCreate"

    name: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageUpdate(Event):
    topic = "/images/update"
    type_url = _IMAGE_EVENTS + "ImageUpdate"

    name: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ImageDelete(Event):
    topic = "/images/delete"
    type_url = _IMAGE_EVENTS + "ImageDelete"

    name: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContentDelete(Event):
    topic = "/content/delete"
    type_url = _EVENTS + "ContentDelete"

    digest: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotPrepare(Event):
    topic = "/snapshot/prepare"
    type_url = _EVENTS + "SnapshotPrepare"

    key: str = ""
    parent: str = ""
    snapshotter: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotCommit(Event):
    topic = "/snapshot/commit"
    type_url = _EVENTS + "SnapshotCommit"

    key: str = ""
    name: str = ""
    snapshotter: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRemove(Event):
    topic = "/snapshot/remove"
    type_url = _EVENTS + "SnapshotRemove"

    key: str = ""
    snapshotter: str = ""


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceCreate(Event):
    topic = "/namespaces/create"
    type_url = _EVENTS + "NamespaceCreate"

    name: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceUpdate(Event):
    topic = "/namespaces/update"
    type_url = _EVENTS + "NamespaceUpdate"

    name: str = ""
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NamespaceDelete(Event):
    topic = "/namespaces/delete"
    type_url = _EVENTS + "NamespaceDelete"

    name: str = ""


EVENT_TYPES: Mapping[str, type[Event]] = types.MappingProxyType(
    {
        cls.topic: cls
        for cls in (
            TaskCreate, TaskStart, TaskDelete, TaskExit, TaskOOM, TaskExecAdded, TaskExecStarted,
            TaskPaused, TaskResumed, TaskCheckpointed,
            ContainerCreate, ContainerUpdate, ContainerDelete,
            ImageCreate, ImageUpdate, ImageDelete,
            ContentDelete,
            SnapshotPrepare, SnapshotCommit, SnapshotRemove,
            NamespaceCreate, NamespaceUpdate, NamespaceDelete,
        )
    }
)
"""containerd's event classes by topic."""

_BY_TYPE_URL = {cls.type_url: cls for cls in EVENT_TYPES.values()}


def event_type(key: str) -> type[Event] | None:
    """The built-in event class for a topic or a type URL, or None."""
    return EVENT_TYPES.get(key) or _BY_TYPE_URL.get(key)


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RawEvent(_Checked):
    """An event kept as its protobuf ``Any``: ``type_url`` and encoded ``value``."""

    type_url: str
    value: bytes = b""


# --- envelopes -----------------------------------------------------------------


@typing.final
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Envelope(_Checked):
    """One published event.

    ``seq`` counts from 1 per exchange with no gaps; ``timestamp`` is
    nanoseconds since the epoch (set by the publisher, kept on forward).

    Raises:
        InvalidArgument: bad namespace or topic, or a typed event whose
            class topic differs from ``topic``.
    """

    seq: int
    timestamp: int
    namespace: str
    topic: str
    event: Event | RawEvent

    def __post_init__(self) -> None:
        _check_fields(self)
        namespaces.validate(self.namespace)
        validate_topic(self.topic)
        if isinstance(self.event, Event) and type(self.event).topic != self.topic:
            raise InvalidArgument(
                f"envelope topic {self.topic!r} does not match {type(self.event).__name__} "
                f"(topic {type(self.event).topic!r})"
            )


@typing.final
@dataclasses.dataclass(frozen=True, slots=True)
class Missed:
    """Notice to a subscriber: ``count`` envelopes were lost before the next one.

    Sent when the subscriber's buffer was full (it reads too slowly) or when
    it resumed from a sequence number the exchange no longer holds. When
    resuming, ``count`` counts every evicted envelope, filtered or not.
    """

    count: int


def __getattr__(name: str) -> object:
    # The exchange needs trio; load it only when asked for, so the shim and
    # the CLI can import the event types without paying for trio.
    if name in ("Exchange", "ExchangeStatistics", "Subscription"):
        from berth.core import _exchange

        return getattr(_exchange, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
