"""What a plugin author imports: registrations, the init context, hook markers.

A plugin is a *registration*: an interface ``type`` string (containerd's,
e.g. ``io.containerd.snapshotter.v1``), an ``id`` within the type, the types it
``requires`` (``"*"`` alone means every other plugin), a typed ``config``
dataclass whose defaults apply when ``config.toml`` has no section for it, the
interfaces it ``provides`` on the service bus, and an async ``init``.

Built-in and third-party plugins register the same way: a module with a
``berth_register_plugins`` hook implementation returning registrations. A
third-party package lists that module under the ``berth`` entry-point group::

    # myplugin.py
    from dataclasses import dataclass
    from berth.core.plugin import InitContext, Registration, hookimpl

    @dataclass(kw_only=True)
    class Config:
        greeting: str = "hello"

    async def init(ctx: InitContext) -> object:
        ctx.meta.exports["greeting"] = ctx.config.greeting
        return object()

    @hookimpl
    def berth_register_plugins() -> list[Registration]:
        return [Registration(type="io.example.greeter.v1", id="hello",
                             init=init, config=Config)]

    # pyproject.toml
    [project.entry-points.berth]
    hello = "myplugin"

The core runs each ``init`` under trio in dependency order; ``init`` returns
the plugin instance (registered on the bus under each type in ``provides``),
raises :class:`SkipPlugin` to decline, or raises anything else to fail. An
instance with an async ``aclose()`` (or a plain ``close()``) is closed at
shutdown, in reverse init order.
"""
from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

if TYPE_CHECKING:
    import trio

    from berth.core._bus import Bus
    from berth.core.events import Exchange

__all__ = [
    "Registration",
    "InitContext",
    "PluginMeta",
    "Platform",
    "SkipPlugin",
    "hookimpl",
    "hookspec",
    "ServerAddresses",
]

PROJECT = "berth"
hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

T = TypeVar("T")


class SkipPlugin(Exception):
    """Raised by ``init`` to decline loading; not a failure.

    The reason is recorded and shown by ``berth plugins ls`` with status
    ``skip`` (its message ends with ``: skip plugin`` as containerd's does).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}: skip plugin")
        self.reason = reason


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""


@dataclasses.dataclass(slots=True, kw_only=True)
class PluginMeta:
    """What ``init`` tells introspection about itself (containerd's ``ic.Meta``)."""

    exports: dict[str, str] = dataclasses.field(default_factory=dict)
    capabilities: list[str] = dataclasses.field(default_factory=list)
    platforms: list[Platform] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServerAddresses:
    """The daemon's own sockets and limits, from ``[grpc]`` / ``[ttrpc]``."""

    grpc_address: str
    grpc_uid: int = 0
    grpc_gid: int = 0
    ttrpc_address: str = ""
    max_recv_message_size: int = 16 * 1024 * 1024
    max_send_message_size: int = 16 * 1024 * 1024
    debug_address: str = ""
    debug_uid: int = 0
    debug_gid: int = 0


InitFn = Callable[["InitContext"], Awaitable[object]]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """One plugin: see the module docstring."""

    type: str
    id: str
    init: InitFn
    requires: tuple[str, ...] = ()
    config: type | None = None
    provides: tuple[type, ...] = ()

    def __post_init__(self) -> None:
        if not self.type or not isinstance(self.type, str):
            raise ValueError("plugin registration: type must be a non-empty string")
        if not self.id or not isinstance(self.id, str):
            raise ValueError(f"plugin registration of type {self.type!r}: id must be a non-empty string")
        if "*" in self.requires and len(self.requires) != 1:
            raise ValueError(f'plugin {self.uri}: "*" must be the only entry of requires')
        if self.config is not None and not dataclasses.is_dataclass(self.config):
            raise ValueError(f"plugin {self.uri}: config must be a dataclass class")

    @property
    def uri(self) -> str:
        return f"{self.type}.{self.id}"


@dataclasses.dataclass(slots=True, kw_only=True)
class InitContext:
    """Everything a plugin's ``init`` gets.

    ``root`` and ``state`` are ``<root>/<type>.<id>`` and ``<state>/<type>.<id>``;
    a plugin creates them when it needs them (``ctx.root.mkdir(...)``), as
    containerd's plugins do. ``nursery`` lives as long
    as the daemon: start long-lived work there (``await ctx.nursery.start(fn)``).
    ``ready`` is set once every plugin has initialized (servers wait for it
    before they listen, as containerd serves only after init).
    """

    registration: Registration
    root: pathlib.Path
    state: pathlib.Path
    config: Any
    bus: "Bus"
    events: "Exchange"
    addresses: ServerAddresses
    nursery: "trio.Nursery"
    ready: "trio.Event"
    meta: PluginMeta = dataclasses.field(default_factory=PluginMeta)

    @property
    def type(self) -> str:
        return self.registration.type

    @property
    def id(self) -> str:
        return self.registration.id

    def get(self, interface: type[T], id: str | None = None) -> T:
        """An instance providing ``interface`` (see :meth:`Bus.get`)."""
        return self.bus.get(interface, id)

    def all(self, interface: type[T]) -> dict[str, T]:
        """Every instance providing ``interface``, by plugin id."""
        return self.bus.all(interface)


class _HookSpecs:
    @hookspec
    def berth_register_plugins(self) -> list[Registration]:  # type: ignore[empty-body]
        """Return the plugin registrations a module offers.

        Called once when the daemon (or ``berthd config default``) loads
        plugins, before any ``init`` runs. Must not do I/O: return data.
        """
