"""The ``berth`` command groups, one module each.

Each module has ``add_parser(groups)`` (argparse only, imported at start-up)
and run functions that import protobuf and the client when they run.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["Context", "Client", "parse_labels", "is_connect_error"]

M = TypeVar("M", bound="Message")


class Client(Protocol):
    """What the commands need of ``berth.plugins.api.grpc.client.Client``."""

    def unary(self, path: str, request: "Message", response_type: type[M]) -> M: ...

    def server_stream(self, path: str, request: "Message", response_type: type[M]) -> Iterator[M]: ...

    def close(self) -> None: ...


@dataclasses.dataclass(kw_only=True)
class Context:
    """The global options, and the connection once a command asks for it."""

    address: str
    namespace: str
    format: str = "table"
    timeout: float | None = None
    _client: Any = None

    @property
    def json(self) -> bool:
        return self.format == "json"

    def client(self) -> Client:
        """The blocking gRPC client, connected on first use."""
        if self._client is None:
            from berth.plugins.api.grpc.client import Client as GrpcClient

            self._client = GrpcClient(self.address, timeout=self.timeout, namespace=self.namespace)
        return self._client  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def parse_labels(items: list[str]) -> dict[str, str]:
    """``k=v`` arguments as a dict, as ctr reads them (``k`` alone means an empty value)."""
    labels: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def is_connect_error(error: BaseException) -> bool:
    """Whether ``error`` is the client's ConnectError (no daemon at the address)."""
    module = sys.modules.get("berth.plugins.api.grpc.client")
    connect_error = getattr(module, "ConnectError", None)
    return connect_error is not None and isinstance(error, connect_error)
