"""``containerd.services.version.v1.Version``: berth's version and git revision."""
from __future__ import annotations

from collections.abc import Sequence
from typing import final

from google.protobuf import empty_pb2

from berth.core.rpc import Call, Kind, Method, RpcService
from berth.proto.containerd.services.version.v1 import version_pb2

from . import _buildinfo

__all__ = ["VersionService"]


@final
class VersionService(RpcService):
    """Answers ``Version`` with berth's distribution version and git revision."""

    service_name = "containerd.services.version.v1.Version"
    transports = frozenset({"grpc"})

    def __init__(self, version: str | None = None, revision: str | None = None) -> None:
        self._response = version_pb2.VersionResponse(
            version=_buildinfo.version() if version is None else version,
            revision=_buildinfo.revision() if revision is None else revision,
        )

    def methods(self) -> Sequence[Method]:
        return (Method(name="Version", kind=Kind.UNARY, request=empty_pb2.Empty,
                       response=version_pb2.VersionResponse, handler=self.version),)

    async def version(self, request: empty_pb2.Empty, call: Call) -> version_pb2.VersionResponse:
        return self._response
