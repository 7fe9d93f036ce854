"""What the daemon knows about its plugins and itself (``plugins ls``, ``Server``)."""
from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from berth.core.errors import BerthError
from berth.core.plugin import Platform

__all__ = ["PluginInfo", "Introspector", "Status"]


class Status:
    OK = "ok"
    SKIP = "skip"
    ERROR = "error"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PluginInfo:
    """One registration that was considered for init (disabled ones never are)."""

    type: str
    id: str
    requires: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    exports: dict[str, str] = dataclasses.field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    error: BerthError | None = None
    status: str = Status.OK

    @property
    def uri(self) -> str:
        return f"{self.type}.{self.id}"


@runtime_checkable
class Introspector(Protocol):
    """Provided on the bus by the core itself (id ``core``)."""

    def plugins(self) -> list[PluginInfo]:
        """Every initialized, skipped or failed plugin, in init order."""
        ...

    def server_uuid(self) -> str:
        """A uuid generated once per root and persisted there."""
        ...
