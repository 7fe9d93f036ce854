"""Namespaces: every call runs in one, carried by a contextvar.

containerd's identifier rule applies: 1-76 characters, lower-case letters,
digits, ``.``, ``_`` and ``-``; starts with a letter or digit; components
separated by ``.``/``_``/``-`` may not be empty.
"""
from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator, Mapping
from typing import Protocol, runtime_checkable

from berth.core.errors import FailedPrecondition, InvalidArgument

__all__ = ["DEFAULT", "current", "use", "use_unset", "validate", "set_current", "is_set", "NamespaceStore"]

DEFAULT = "default"
MAX_LENGTH = 76

_IDENTIFIER = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
_current: contextvars.ContextVar[str] = contextvars.ContextVar("berth_namespace", default=DEFAULT)


def validate(name: str) -> str:
    """Return ``name`` if it is a valid namespace, else raise InvalidArgument."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument("namespace: identifier must not be empty")
    if len(name) > MAX_LENGTH:
        raise InvalidArgument(f'namespace "{name}": identifier is longer than {MAX_LENGTH} characters')
    if not _IDENTIFIER.match(name):
        raise InvalidArgument(
            f'namespace "{name}": identifier must match {_IDENTIFIER.pattern} '
            "(letters, digits, and '.', '_' or '-' between them)"
        )
    return name


def current() -> str:
    """The namespace of the running call.

    Raises:
        FailedPrecondition: the call carries no namespace (a gRPC request
            without the ``containerd-namespace`` header), as containerd does.
    """
    name = _current.get()
    if not name:
        raise FailedPrecondition("namespace is required: set one with -n/--namespace or the containerd-namespace header")
    return name


def is_set() -> bool:
    """Whether the running call carries a namespace."""
    return bool(_current.get())


def set_current(name: str) -> contextvars.Token[str]:
    """Set the namespace for the rest of this context; returns the reset token."""
    return _current.set(validate(name))


@contextlib.contextmanager
def use(name: str) -> Iterator[str]:
    """Run a block in namespace ``name``."""
    token = _current.set(validate(name))
    try:
        yield name
    finally:
        _current.reset(token)


@contextlib.contextmanager
def use_unset() -> Iterator[None]:
    """Run a block with no namespace (transports use it when a request has none)."""
    token = _current.set("")
    try:
        yield None
    finally:
        _current.reset(token)


@runtime_checkable
class NamespaceStore(Protocol):
    """Namespace records with labels (provided by the metadata plugin).

    Methods are plain ``def``: each is one short LMDB transaction. Each change
    publishes ``/namespaces/create``, ``/namespaces/update`` or
    ``/namespaces/delete`` on the event exchange.
    """

    def create(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Raises InvalidArgument (bad name/label), AlreadyExists."""
        ...

    def labels(self, name: str) -> dict[str, str]:
        """Raises NotFound."""
        ...

    def set_label(self, name: str, key: str, value: str) -> None:
        """Set a label; an empty value removes it. Raises NotFound, InvalidArgument."""
        ...

    def list(self) -> list[str]:
        """All namespace names, sorted."""
        ...

    def delete(self, name: str) -> None:
        """Raises NotFound; FailedPrecondition when it still holds objects."""
        ...
