"""Registration of ``io.berth.debug.v1.status`` and the documents it serves.

Configured by the core's ``[debug]`` section (``address``, ``uid``, ``gid``),
handed over as ``ctx.addresses``; it has no plugin section of its own.
``requires = ("*",)`` makes it init after every other plugin, so it can tell
about all of them.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from typing import Any

import trio

from berth.core.errors import InvalidArgument
from berth.core.introspection import Introspector, PluginInfo
from berth.core.plugin import InitContext, Registration, SkipPlugin, hookimpl

from .server import DebugServer

__all__ = ["TYPE", "ID", "init", "plugins_document", "status_document", "berth_register_plugins"]

log = logging.getLogger(__name__)

TYPE = "io.berth.debug.v1"
ID = "status"


def _started_monotonic() -> float:
    """When this process started, on the ``time.monotonic()`` clock.

    From ``/proc/self/stat`` (start time in clock ticks since boot) and
    ``/proc/uptime``; now, if those cannot be read.
    """
    now = time.monotonic()
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - max(0.0, uptime - started_after_boot)


def _same_path(a: str, b: str) -> bool:
    return os.path.normpath(a.removeprefix("unix://")) == os.path.normpath(b.removeprefix("unix://"))


def plugins_document(plugins: list[PluginInfo]) -> list[dict[str, Any]]:
    """Each plugin's type, id, status (``ok``, ``skip``, ``error``) and error text or None."""
    return [
        {"type": p.type, "id": p.id, "status": p.status, "error": None if p.error is None else str(p.error)}
        for p in plugins
    ]


def _plain(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no infinity: "no deadline"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    fields = getattr(type(value), "__attrs_attrs__", None)  # trio's statistics are attrs classes
    if fields is not None:
        return {a.name: _plain(getattr(value, a.name)) for a in fields}
    return str(value)


def status_document(*, started: float, introspector: Introspector, events: Any) -> dict[str, Any]:
    """The body of ``GET /debug/status``; called on the trio thread."""
    return {
        "pid": os.getpid(),
        "uptime_seconds": round(time.monotonic() - started, 3),
        "plugins": plugins_document(introspector.plugins()),
        "events": _plain(events.statistics()) if events is not None else None,
        "trio": _plain(trio.lowlevel.current_statistics()),
    }


async def init(ctx: InitContext) -> DebugServer:
    addresses = ctx.addresses
    if not addresses.debug_address:
        raise SkipPlugin('no debug address configured ([debug] address is "")')
    for name, taken in (("[grpc] address", addresses.grpc_address), ("[ttrpc] address", addresses.ttrpc_address)):
        if taken and _same_path(taken, addresses.debug_address):
            # the later bind would silently replace the other server's socket file
            raise InvalidArgument(f"[debug] address {addresses.debug_address} is also the {name}; choose another path")
    introspector = ctx.get(Introspector)
    started = _started_monotonic()
    routes = {
        "/debug/status": lambda: status_document(started=started, introspector=introspector, events=ctx.events),
        "/debug/plugins": lambda: plugins_document(introspector.plugins()),
    }
    server = DebugServer(addresses.debug_address, routes, uid=addresses.debug_uid, gid=addresses.debug_gid)
    ctx.meta.exports["address"] = server.path
    ctx.nursery.start_soon(server.run, ctx.ready)
    return server


@hookimpl
def berth_register_plugins() -> list[Registration]:
    return [Registration(type=TYPE, id=ID, init=init, requires=("*",))]
