"""Plugin init order (pure): containerd's depth-first, registration-ordered walk.

Walk registrations in order; before each, emit (recursively) every enabled
registration whose type it requires (``*``: every other plugin), then itself.
A cycle among explicit ``requires`` is an error naming its path; ``*``
plugins do not pull in other ``*`` plugins (they keep registration order),
nor a plugin that is already waiting on them.
"""
from __future__ import annotations

from collections.abc import Sequence

from berth.core.plugin import Registration

__all__ = ["init_order", "PluginGraphError", "check_unique"]


class PluginGraphError(Exception):
    """The registrations cannot be ordered (a cycle) or collide (duplicate URI)."""


def check_unique(registrations: Sequence[Registration]) -> None:
    seen: dict[str, Registration] = {}
    for reg in registrations:
        if reg.uri in seen:
            raise PluginGraphError(
                f"plugin {reg.uri} is registered twice (by {_origin(seen[reg.uri])} and {_origin(reg)}); "
                "uninstall one of the packages or rename the plugin id"
            )
        seen[reg.uri] = reg


def _origin(reg: Registration) -> str:
    return getattr(reg.init, "__module__", "?")


def init_order(registrations: Sequence[Registration], disabled: set[str] = frozenset()) -> list[Registration]:  # type: ignore[assignment]
    """The registrations to init, in order; disabled URIs are left out entirely."""
    check_unique(registrations)
    enabled = [r for r in registrations if r.uri not in disabled]
    ordered: list[Registration] = []
    done: set[str] = set()
    visiting: list[str] = []

    def deps(reg: Registration) -> list[Registration]:
        if reg.requires == ("*",):
            return [r for r in enabled if r.uri != reg.uri and r.requires != ("*",)]
        return [r for r in enabled if r.type in reg.requires and r.uri != reg.uri]

    def visit(reg: Registration, soft: bool = False) -> None:
        if reg.uri in done or (soft and reg.uri in visiting):
            return
        if reg.uri in visiting:
            cycle = visiting[visiting.index(reg.uri):] + [reg.uri]
            raise PluginGraphError("plugin dependency cycle: " + " -> ".join(cycle))
        visiting.append(reg.uri)
        star = reg.requires == ("*",)
        for dep in deps(reg):
            visit(dep, soft=star)
        visiting.pop()
        done.add(reg.uri)
        ordered.append(reg)

    for reg in enabled:
        visit(reg)
    return ordered
