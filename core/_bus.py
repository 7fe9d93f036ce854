"""The typed service bus: instances looked up by interface and plugin id."""
from __future__ import annotations

from typing import TypeVar, cast, final

from berth.core.errors import NotFound, Unavailable

__all__ = ["Bus"]

T = TypeVar("T")


@final
class Bus:
    """Maps an interface (a Protocol class) to the instances providing it.

    Plugins register in init order, so ``get(I)`` without an id returns the
    first plugin that provides ``I``. A plugin whose init failed is remembered
    so a dependent asking for it learns why it is missing.
    """

    def __init__(self) -> None:
        self._by_interface: dict[type, dict[str, object]] = {}
        self._failed: dict[type, dict[str, str]] = {}

    def register(self, interface: type, id: str, instance: object) -> None:
        if not isinstance(instance, interface):
            raise TypeError(
                f"plugin {id!r} returned {type(instance).__name__}, which does not provide {interface.__name__}"
            )
        self._by_interface.setdefault(interface, {})[id] = instance

    def record_failure(self, interface: type, id: str, reason: str) -> None:
        self._failed.setdefault(interface, {})[id] = reason

    def get(self, interface: type[T], id: str | None = None) -> T:
        """The instance of ``interface`` from plugin ``id`` (the first one if None).

        Raises:
            NotFound: nothing provides it.
            Unavailable: the providing plugin failed or skipped; the message has why.
        """
        found = self._by_interface.get(interface, {})
        if id is None and found:
            return cast(T, next(iter(found.values())))
        if id is not None and id in found:
            return cast(T, found[id])
        failed = self._failed.get(interface, {})
        if id is None and failed:
            id = next(iter(failed))
        if id is not None and id in failed:
            raise Unavailable(f"{interface.__name__} {id!r} is not available: {failed[id]}")
        what = f"{interface.__name__} {id!r}" if id else interface.__name__
        raise NotFound(f"{what}: no plugin provides it")

    def all(self, interface: type[T]) -> dict[str, T]:
        """Every instance of ``interface``, by plugin id, in init order."""
        return cast(dict[str, T], dict(self._by_interface.get(interface, {})))
