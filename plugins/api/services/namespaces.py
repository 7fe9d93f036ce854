"""``containerd.services.namespaces.v1.Namespaces`` over the bus's NamespaceStore.

Not a namespaced service: the ``containerd-namespace`` header is ignored and
the namespace is named in each request.

Update masks, as containerd's: ``labels.<key>`` sets that label from the
request (an absent or empty value removes it); ``labels`` replaces the whole
map; no mask replaces the whole map too. Any other path is InvalidArgument.
Every path is checked before any change is made. Each label change is one
store transaction (and one ``/namespaces/update`` event from the store).

``Get`` of a namespace that does not exist answers it with no labels, as
containerd does (the Go client reads a namespace's default labels before
the namespace necessarily exists); ``Delete`` of one is NotFound.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import final

from google.protobuf import empty_pb2

from berth.core.errors import InvalidArgument, NotFound
from berth.core.namespaces import NamespaceStore
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb

__all__ = ["NamespacesService", "label_changes"]


def label_changes(name: str, current: Mapping[str, str], requested: Mapping[str, str],
                  paths: Sequence[str]) -> dict[str, str]:
    """The label writes an update makes: key -> value (``""`` removes).

    Pure, so the mask rules are tested without a store.

    Raises:
        InvalidArgument: a path other than ``labels`` or ``labels.<key>``.
    """
    replace = not paths
    keys: list[str] = []
    for path in paths:
        if path == "labels":
            replace = True
        elif path.startswith("labels.") and len(path) > len("labels."):
            keys.append(path[len("labels."):])
        else:
            raise InvalidArgument(f'cannot update "{path}" field on namespace "{name}"')
    changes: dict[str, str] = {}
    if replace:
        changes.update({k: "" for k in current if k not in requested})
        changes.update({k: v for k, v in requested.items() if current.get(k) != v})
    for key in keys:
        value = requested.get(key, "")
        if current.get(key, "") != value:
            changes[key] = value
    return changes


@final
class NamespacesService(RpcService):
    service_name = "containerd.services.namespaces.v1.Namespaces"
    transports = frozenset({"grpc"})

    def __init__(self, store: Callable[[], NamespaceStore]) -> None:
        self._store = store

    def methods(self) -> Sequence[Method]:
        def unary(name: str, req: type, resp: type, handler: Callable[..., object]) -> Method:
            return Method(name=name, kind=Kind.UNARY, request=req, response=resp, handler=handler)

        return (
            unary("Get", pb.GetNamespaceRequest, pb.GetNamespaceResponse, self.get),
            unary("List", pb.ListNamespacesRequest, pb.ListNamespacesResponse, self.list),
            unary("Create", pb.CreateNamespaceRequest, pb.CreateNamespaceResponse, self.create),
            unary("Update", pb.UpdateNamespaceRequest, pb.UpdateNamespaceResponse, self.update),
            unary("Delete", pb.DeleteNamespaceRequest, empty_pb2.Empty, self.delete),
        )

    def _namespace(self, name: str) -> pb.Namespace:
        return pb.Namespace(name=name, labels=self._store().labels(name))

    async def get(self, request: pb.GetNamespaceRequest, call: Call) -> pb.GetNamespaceResponse:
        try:
            return pb.GetNamespaceResponse(namespace=self._namespace(request.name))
        except NotFound:
            return pb.GetNamespaceResponse(namespace=pb.Namespace(name=request.name))

    async def list(self, request: pb.ListNamespacesRequest, call: Call) -> pb.ListNamespacesResponse:
        store = self._store()
        response = pb.ListNamespacesResponse()
        for name in store.list():
            try:
                response.namespaces.append(pb.Namespace(name=name, labels=store.labels(name)))
            except NotFound:  # deleted between list and read
                continue
        return response

    async def create(self, request: pb.CreateNamespaceRequest, call: Call) -> pb.CreateNamespaceResponse:
        """Raises InvalidArgument (name, labels), AlreadyExists."""
        name = request.namespace.name
        self._store().create(name, dict(request.namespace.labels))
        return pb.CreateNamespaceResponse(namespace=self._namespace(name))

    async def update(self, request: pb.UpdateNamespaceRequest, call: Call) -> pb.UpdateNamespaceResponse:
        """Raises NotFound, InvalidArgument (mask path, label)."""
        store = self._store()
        name = request.namespace.name
        current = store.labels(name)
        changes = label_changes(name, current, dict(request.namespace.labels),
                                list(request.update_mask.paths))
        for key, value in changes.items():
            store.set_label(name, key, value)
        return pb.UpdateNamespaceResponse(namespace=self._namespace(name))

    async def delete(self, request: pb.DeleteNamespaceRequest, call: Call) -> empty_pb2.Empty:
        """Raises NotFound; FailedPrecondition when the namespace still holds objects."""
        self._store().delete(request.name)
        return empty_pb2.Empty()
