"""Transport-neutral RPC plumbing shared by the gRPC and ttrpc servers.

Routing ``(service, method)`` to a :class:`~berth.core.rpc.Method`, the
:class:`RpcCall` handed to handlers, the namespace a call runs in, and the
status an exception becomes. Imports neither trio nor h2.
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import final

from berth.core import namespaces
from berth.core.errors import AlreadyExists, BerthError, Internal, NotImplemented_
from berth.core.rpc import Method, RpcService

__all__ = ["Router", "RpcCall", "status_of", "call_namespace", "serves_on", "NAMESPACE_KEYS"]

#: Metadata keys that carry the namespace, in order of preference.
NAMESPACE_KEYS = ("containerd-namespace", "containerd-namespace-ttrpc")


def serves_on(service: object, transport: str) -> bool:
    """Whether ``service`` asks to be served on ``transport`` (gRPC by default)."""
    transports = getattr(service, "transports", None)
    if transports is None:
        return transport == "grpc"
    return transport in transports


@final
class Router:
    """Maps a service name and method name to the :class:`Method` serving it.

    Raises:
        AlreadyExists: two services share a name (built at construction).
    """

    def __init__(self, services: Sequence[RpcService]) -> None:
        self._table: dict[str, dict[str, Method]] = {}
        for service in services:
            name = service.service_name
            if name in self._table:
                raise AlreadyExists(f"rpc service {name}: served by two plugins; disable one of them")
            self._table[name] = {m.name: m for m in service.methods()}

    @property
    def service_names(self) -> list[str]:
        return sorted(self._table)

    def lookup(self, service: str, method: str) -> Method:
        """The method, or NotImplemented_ with grpc-go's wording."""
        methods = self._table.get(service)
        if methods is None:
            raise NotImplemented_(f"unknown service {service}")
        found = methods.get(method)
        if found is None:
            raise NotImplemented_(f"unknown method {method} for service {service}")
        return found

    def lookup_path(self, path: str) -> Method:
        """Route a gRPC ``:path`` (``/package.Service/Method``)."""
        service, sep, method = path.lstrip("/").rpartition("/")
        if not path.startswith("/") or not sep or not service:
            raise NotImplemented_(f"malformed method name: {path!r}")
        return self.lookup(service, method)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RpcCall:
    """What a handler learns about its call (satisfies :class:`berth.core.rpc.Call`).

    ``deadline`` is on :func:`time.monotonic`'s clock.
    """

    method: str
    metadata: Mapping[str, str]
    deadline: float | None = None


@contextlib.contextmanager
def call_namespace(metadata: Mapping[str, str]) -> Iterator[None]:
    """Run a block in the call's namespace, or with none when it carries none.

    Raises:
        InvalidArgument: the namespace in the metadata is not a valid name.
    """
    for key in NAMESPACE_KEYS:
        name = metadata.get(key)
        if name:
            with namespaces.use(name):
                yield
            return
    with namespaces.use_unset():
        yield


def _single_berth_error(exc: BaseException) -> BerthError | None:
    if isinstance(exc, BerthError):
        return exc
    if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        return _single_berth_error(exc.exceptions[0])
    return None


def status_of(exc: BaseException) -> tuple[int, str, bool]:
    """``(grpc code, message, expected)`` for an exception a handler raised.

    ``expected`` is False for anything but a :class:`BerthError` (or a group
    holding just one): those become INTERNAL and deserve a logged traceback.
    """
    err = _single_berth_error(exc)
    if err is not None:
        return err.grpc_code, err.message, True
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return Internal.grpc_code, message, False
