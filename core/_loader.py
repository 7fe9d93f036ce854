"""Finding registrations (pluggy hooks, entry points) and running plugin init.

Built-in plugin modules are listed by name here, like pytest's
``default_plugins``; the core imports them by name only when loading, so it
never depends on a plugin at import time. Third-party modules are found by
the ``berth`` entry-point group.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import pathlib
from collections.abc import Sequence
from typing import Any

import pluggy

from berth.core import errors
from berth.core._bus import Bus
from berth.core._graph import init_order
from berth.core.introspection import PluginInfo, Status
from berth.core.plugin import PROJECT, InitContext, Registration, ServerAddresses, SkipPlugin, _HookSpecs

__all__ = ["BUILTIN_MODULES", "collect", "Loader", "RequiredPluginError"]

log = logging.getLogger(__name__)

BUILTIN_MODULES: tuple[str, ...] = (
    "berth.plugins.metadata.plugin",
    "berth.plugins.api.services.plugin",
    "berth.plugins.api.grpc.plugin",
    "berth.plugins.api.ttrpc.plugin",
    "berth.plugins.debug.plugin",
)


class RequiredPluginError(Exception):
    """A plugin in ``required_plugins`` did not initialize."""


def collect(builtins: Sequence[str] = BUILTIN_MODULES, *, entry_points: bool = True) -> list[Registration]:
    """Every registration offered by built-in modules and installed packages.

    A built-in module that does not exist yet is skipped with a debug log; a
    third-party module that fails to import is an error naming it.
    """
    import importlib

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(_HookSpecs)
    for name in builtins:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                log.debug("built-in plugin module %s is not present", name)
                continue
            raise
        pm.register(module, name=name)
    if entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    found: list[Registration] = []
    for result in reversed(pm.hook.berth_register_plugins()):
        for reg in result or ():
            if not isinstance(reg, Registration):
                raise TypeError(f"berth_register_plugins returned {reg!r}, not a Registration")
            found.append(reg)
    return found


@dataclasses.dataclass(slots=True)
class _Loaded:
    reg: Registration
    instance: Any
    info: PluginInfo


class Loader:
    """Runs init in dependency order, records outcomes, closes in reverse."""

    def __init__(
        self,
        registrations: Sequence[Registration],
        *,
        configs: dict[str, Any],
        root: str,
        state: str,
        addresses: ServerAddresses,
        bus: Bus,
        events: Any,
        disabled: Sequence[str] = (),
    ) -> None:
        self._order = init_order(registrations, set(disabled))
        self._configs = configs
        self._root = pathlib.Path(root)
        self._state = pathlib.Path(state)
        self._addresses = addresses
        self._bus = bus
        self._events = events
        self._loaded: list[_Loaded] = []

    @property
    def order(self) -> list[Registration]:
        return list(self._order)

    def plugins(self) -> list[PluginInfo]:
        return [entry.info for entry in self._loaded]

    async def init_all(self, nursery: Any, ready: Any) -> None:
        """Init every enabled plugin once, in order. Never raises for a plugin's failure."""
        for reg in self._order:
            await self._init_one(reg, nursery, ready)

    async def _init_one(self, reg: Registration, nursery: Any, ready: Any) -> None:
        ctx = InitContext(
            registration=reg,
            root=self._root / reg.uri,
            state=self._state / reg.uri,
            config=self._configs.get(reg.uri),
            bus=self._bus,
            events=self._events,
            addresses=self._addresses,
            nursery=nursery,
            ready=ready,
        )
        log.info("loading plugin %s", reg.uri)
        instance: Any = None
        error: errors.BerthError | None = None
        status = Status.OK
        try:
            instance = await reg.init(ctx)
            for interface in reg.provides:
                self._bus.register(interface, reg.id, instance)
        except SkipPlugin as e:
            status, error = Status.SKIP, errors.Unknown(str(e))
            log.info("skip loading plugin %s: %s", reg.uri, e.reason)
        except errors.BerthError as e:
            status, error = Status.ERROR, e
            log.warning("failed to load plugin %s: %s", reg.uri, e)
        except Exception as e:  # a plugin's bug must not take the daemon down
            status, error = Status.ERROR, errors.Unknown(f"{type(e).__name__}: {e}")
            log.warning("failed to load plugin %s: %s", reg.uri, error, exc_info=True)
        if error is not None:
            instance = None
            for interface in reg.provides:
                self._bus.record_failure(interface, reg.id, str(error))
        info = PluginInfo(
            type=reg.type,
            id=reg.id,
            requires=reg.requires,
            platforms=tuple(ctx.meta.platforms),
            exports=dict(ctx.meta.exports),
            capabilities=tuple(ctx.meta.capabilities),
            error=error,
            status=status,
        )
        self._loaded.append(_Loaded(reg, instance, info))

    def check_required(self, required: Sequence[str]) -> None:
        """Raises RequiredPluginError naming the plugin and why it is missing."""
        by_uri = {entry.reg.uri: entry for entry in self._loaded}
        missing = [uri for uri in required if uri not in by_uri]
        if missing:
            raise RequiredPluginError(f"required plugin {', '.join(missing)} not included (disabled or not installed)")
        for uri in required:
            entry = by_uri[uri]
            if entry.info.error is not None:
                raise RequiredPluginError(f"load required plugin {uri}: {entry.info.error}")

    async def close_all(self) -> None:
        """Close instances in reverse init order; errors are logged, not raised."""
        while self._loaded:
            entry = self._loaded.pop()
            await _close(entry)


async def _close(entry: _Loaded) -> None:
    instance = entry.instance
    if instance is None:
        return
    try:
        closer = getattr(instance, "aclose", None) or getattr(instance, "close", None)
        if closer is None:
            return
        result = closer()
        if inspect.isawaitable(result):
            await result
        log.debug("closed plugin %s", entry.reg.uri)
    except Exception:
        log.exception("closing plugin %s failed", entry.reg.uri)

