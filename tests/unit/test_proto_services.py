"""The API service adapters, called with real protobuf messages against real stores.

The namespace store is the LMDB metadata store on a temp dir; the exchange is
the core's. Handlers run under ``trio.run`` as the transport would run them.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import trio
from google.protobuf import empty_pb2, field_mask_pb2, timestamp_pb2

from berth.core import errors, events, namespaces
from berth.core._exchange import Exchange
from berth.core.introspection import PluginInfo, Status
from berth.core.plugin import Platform
from berth.plugins.api.services import _buildinfo
from berth.plugins.api.services.events import EventsService, TtrpcEventsService
from berth.plugins.api.services.introspection import IntrospectionService
from berth.plugins.api.services.namespaces import NamespacesService, label_changes
from berth.plugins.api.services.version import VersionService
from berth.plugins.metadata.db import MetaDB
from berth.plugins.metadata.namespaces import LmdbNamespaceStore
from berth.proto import anytypes
from berth.proto.containerd.events import namespace_pb2 as nsev_pb
from berth.proto.containerd.events import task_pb2
from berth.proto.containerd.services.events.ttrpc.v1 import events_pb2 as ttrpc_pb
from berth.proto.containerd.services.events.v1 import events_pb2 as ev_pb
from berth.proto.containerd.services.introspection.v1 import introspection_pb2 as in_pb
from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as ns_pb


@dataclasses.dataclass
class FakeCall:
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)
    deadline: float | None = None


CALL = FakeCall()


def run(fn: Callable[..., Any], *args: Any, namespace: str | None = "default") -> Any:
    """Run a unary handler as the transport does: in a namespace, or with none."""

    async def main() -> Any:
        if namespace is None:
            with namespaces.use_unset():
                return await fn(*args)
        with namespaces.use(namespace):
            return await fn(*args)

    return trio.run(main)


# --- version -------------------------------------------------------------------


def test_version_reports_distribution_and_git_revision() -> None:
    response = run(VersionService().version, empty_pb2.Empty(), CALL)
    assert response.version == _buildinfo.version() != ""
    assert response.revision == _buildinfo.revision()


def test_revision_is_empty_outside_git(tmp_path: pathlib.Path) -> None:
    assert _buildinfo.revision.__wrapped__(tmp_path) == ""


def test_revision_reads_packed_refs(tmp_path: pathlib.Path) -> None:
    git = tmp_path / ".git"
    git.mkdir()
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    sha = "a" * 40
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n")
    assert _buildinfo.revision.__wrapped__(tmp_path) == sha


# --- introspection -----------------------------------------------------------------


@dataclasses.dataclass
class StaticIntrospector:
    infos: list[PluginInfo]
    uuid: str = "0d3c2f8e-4f6a-4a55-9a49-8f0c5d3b1e11"

    def plugins(self) -> list[PluginInfo]:
        return self.infos

    def server_uuid(self) -> str:
        return self.uuid


INFOS = [
    PluginInfo(type="io.containerd.metadata.v1", id="lmdb", exports={"path": "/r/meta.lmdb"}),
    PluginInfo(type="io.containerd.snapshotter.v1", id="btrfs", platforms=(Platform(os="linux", architecture="amd64"),),
               error=errors.Unknown("path /r (ext4) must be a btrfs filesystem: skip plugin"), status=Status.SKIP),
    PluginInfo(type="io.containerd.snapshotter.v1", id="devmapper",
               error=errors.FailedPrecondition("devmapper not configured"), status=Status.ERROR),
    PluginInfo(type="io.containerd.grpc.v1", id="version", requires=("io.containerd.service.v1",),
               capabilities=("a", "b")),
]


def introspection() -> IntrospectionService:
    introspector = StaticIntrospector(INFOS)
    return IntrospectionService(lambda: introspector)


def test_plugins_lists_all_with_details() -> None:
    response = run(introspection().plugins, in_pb.PluginsRequest(), CALL)
    assert [(p.type, p.id) for p in response.plugins] == [(i.type, i.id) for i in INFOS]
    lmdb, btrfs, devmapper, version = response.plugins
    assert dict(lmdb.exports) == {"path": "/r/meta.lmdb"} and not lmdb.HasField("init_err")
    assert [(p.os, p.architecture, p.variant) for p in btrfs.platforms] == [("linux", "amd64", "")]
    assert btrfs.init_err.code == 2 and btrfs.init_err.message.endswith(": skip plugin")
    assert devmapper.init_err.code == 9 and devmapper.init_err.message == "devmapper not configured"
    assert list(version.requires) == ["io.containerd.service.v1"] and list(version.capabilities) == ["a", "b"]


@pytest.mark.parametrize(
    "filters, expected",
    [
        (["type==io.containerd.snapshotter.v1"], ["btrfs", "devmapper"]),
        (["id==lmdb", "id==version"], ["lmdb", "version"]),  # several filters: OR
        (["type==io.containerd.snapshotter.v1,id!=btrfs"], ["devmapper"]),  # one filter: AND
        (["id~=^dev"], ["devmapper"]),
        (["platforms==linux/amd64"], []),  # only type and id are fields
        ([], ["lmdb", "btrfs", "devmapper", "version"]),
    ],
)
def test_plugins_filters_evaluated_by_server(filters: list[str], expected: list[str]) -> None:
    response = run(introspection().plugins, in_pb.PluginsRequest(filters=filters), CALL)
    assert [p.id for p in response.plugins] == expected


def test_plugins_bad_filter_is_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgument, match="parse error"):
        run(introspection().plugins, in_pb.PluginsRequest(filters=["bad filter=="]), CALL)


def test_server_reports_uuid_pid_and_pid_namespace() -> None:
    response = run(introspection().server, empty_pb2.Empty(), CALL, namespace=None)
    assert response.uuid == StaticIntrospector(INFOS).uuid
    assert response.pid == os.getpid()
    assert response.pidns == os.stat("/proc/self/ns/pid").st_ino


# --- namespaces --------------------------------------------------------------------


@pytest.fixture
def exchange() -> Exchange:
    return Exchange()


@pytest.fixture
def store(tmp_path: pathlib.Path, exchange: Exchange) -> Iterator[LmdbNamespaceStore]:
    db = MetaDB(tmp_path / "meta.lmdb", map_size=16 * 1024 * 1024)
    try:
        yield LmdbNamespaceStore(db, exchange)
    finally:
        db.close()


@pytest.fixture
def service(store: LmdbNamespaceStore) -> NamespacesService:
    return NamespacesService(lambda: store)


def create(service: NamespacesService, name: str, **labels: str) -> ns_pb.Namespace:
    request = ns_pb.CreateNamespaceRequest(namespace=ns_pb.Namespace(name=name, labels=labels))
    return run(service.create, request, CALL).namespace


def update(service: NamespacesService, name: str, labels: dict[str, str], *paths: str) -> dict[str, str]:
    request = ns_pb.UpdateNamespaceRequest(
        namespace=ns_pb.Namespace(name=name, labels=labels),
        update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
    )
    return dict(run(service.update, request, CALL).namespace.labels)


def test_namespace_create_get_list_delete(service: NamespacesService) -> None:
    created = create(service, "foo", a="1")
    assert (created.name, dict(created.labels)) == ("foo", {"a": "1"})
    create(service, "bar")
    got = run(service.get, ns_pb.GetNamespaceRequest(name="foo"), CALL).namespace
    assert dict(got.labels) == {"a": "1"}
    listed = run(service.list, ns_pb.ListNamespacesRequest(), CALL).namespaces
    assert [(n.name, dict(n.labels)) for n in listed] == [("bar", {}), ("foo", {"a": "1"})]
    assert run(service.delete, ns_pb.DeleteNamespaceRequest(name="foo"), CALL) == empty_pb2.Empty()
    assert [n.name for n in run(service.list, ns_pb.ListNamespacesRequest(), CALL).namespaces] == ["bar"]


def test_namespace_service_ignores_missing_namespace_header(service: NamespacesService) -> None:
    request = ns_pb.CreateNamespaceRequest(namespace=ns_pb.Namespace(name="x"))
    assert run(service.create, request, CALL, namespace=None).namespace.name == "x"


def test_namespace_create_existing_is_already_exists(service: NamespacesService) -> None:
    create(service, "foo")
    with pytest.raises(errors.AlreadyExists, match='namespace "foo": already exists'):
        create(service, "foo")


def test_namespace_create_invalid_name(service: NamespacesService) -> None:
    with pytest.raises(errors.InvalidArgument, match="Bad_NS!"):
        create(service, "Bad_NS!")


def test_namespace_get_missing_answers_empty_labels(service: NamespacesService) -> None:
    # containerd's quirk: the Go client reads labels of namespaces that may not exist yet.
    got = run(service.get, ns_pb.GetNamespaceRequest(name="nope"), CALL).namespace
    assert (got.name, dict(got.labels)) == ("nope", {})


def test_namespace_delete_missing_is_not_found(service: NamespacesService) -> None:
    with pytest.raises(errors.NotFound):
        run(service.delete, ns_pb.DeleteNamespaceRequest(name="nope"), CALL)


def test_namespace_update_one_label_path(service: NamespacesService) -> None:
    create(service, "foo", a="1", b="2")
    assert update(service, "foo", {"c": "3", "b": "x"}, "labels.c") == {"a": "1", "b": "2", "c": "3"}
    assert update(service, "foo", {}, "labels.a") == {"b": "2", "c": "3"}  # absent value removes


def test_namespace_update_labels_path_and_empty_mask_replace(service: NamespacesService) -> None:
    create(service, "foo", a="1", b="2")
    assert update(service, "foo", {"b": "3", "z": "9"}, "labels") == {"b": "3", "z": "9"}
    assert update(service, "foo", {"q": "1"}) == {"q": "1"}


def test_namespace_update_bad_path_changes_nothing(service: NamespacesService) -> None:
    create(service, "foo", a="1")
    with pytest.raises(errors.InvalidArgument, match='cannot update "name" field'):
        update(service, "foo", {"a": "", "b": "2"}, "labels.b", "name")
    got = run(service.get, ns_pb.GetNamespaceRequest(name="foo"), CALL).namespace
    assert dict(got.labels) == {"a": "1"}


def test_namespace_update_missing_is_not_found(service: NamespacesService) -> None:
    with pytest.raises(errors.NotFound):
        update(service, "nope", {"a": "1"}, "labels.a")


def test_label_changes_are_minimal() -> None:
    assert label_changes("n", {"a": "1", "b": "2"}, {"a": "1", "c": "3"}, []) == {"b": "", "c": "3"}
    assert label_changes("n", {"a": "1"}, {"a": "1"}, ["labels.a"]) == {}
    assert label_changes("n", {}, {"x.y/z": "1"}, ["labels.x.y/z"]) == {"x.y/z": "1"}
    with pytest.raises(errors.InvalidArgument):
        label_changes("n", {}, {}, ["labels."])


# --- events ------------------------------------------------------------------------


def collect_envelopes(exchange: Exchange, request: ev_pb.SubscribeRequest, action: Callable[[], None],
                      count: int) -> list[ev_pb.Envelope]:
    """Subscribe through the service, run ``action`` once subscribed, gather ``count`` envelopes."""
    service = EventsService(exchange)
    received: list[ev_pb.Envelope] = []

    async def main() -> None:
        stream = service.subscribe(request, CALL)
        with trio.fail_after(5):
            first = trio.Event()

            async def reader() -> None:
                async for envelope in stream:
                    received.append(envelope)
                    if len(received) == count:
                        return

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                while exchange.statistics().subscribers == 0:
                    await trio.sleep(0.001)
                first.set()
                action()
        await stream.aclose()
        assert exchange.statistics().subscribers == 0  # unsubscribed on the way out

    trio.run(main)
    return received


def test_subscribe_streams_typed_events_as_bare_type_url_any(exchange: Exchange, store: LmdbNamespaceStore) -> None:
    got = collect_envelopes(exchange, ev_pb.SubscribeRequest(), lambda: store.create("foo", {"a": "1"}), 1)
    (envelope,) = got
    assert (envelope.namespace, envelope.topic) == ("foo", "/namespaces/create")
    assert envelope.event.type_url == "containerd.events.NamespaceCreate"
    event = nsev_pb.NamespaceCreate.FromString(envelope.event.value)
    assert (event.name, dict(event.labels)) == ("foo", {"a": "1"})
    assert envelope.timestamp.ToNanoseconds() > 0


def test_subscribe_filters(exchange: Exchange) -> None:
    def action() -> None:
        exchange.publish(events.TaskStart(container_id="c0", pid=1), namespace="default")
        exchange.publish(events.TaskExit(container_id="c1", id="c1", pid=7), namespace="other")
        exchange.publish(events.TaskExit(container_id="c2", id="c2", pid=8), namespace="default")

    request = ev_pb.SubscribeRequest(filters=['topic=="/tasks/exit",namespace==default', "event.container_id==c1"])
    got = collect_envelopes(exchange, request, action, 2)
    assert [task_pb2.TaskExit.FromString(e.event.value).container_id for e in got] == ["c1", "c2"]


def test_subscribe_bad_filter_is_invalid_argument(exchange: Exchange) -> None:
    async def main() -> None:
        async for _ in EventsService(exchange).subscribe(ev_pb.SubscribeRequest(filters=["=="]), CALL):
            pass

    with pytest.raises(errors.InvalidArgument):
        trio.run(main)


def test_subscribe_skips_missed_notices(exchange: Exchange, caplog: pytest.LogCaptureFixture) -> None:
    # A subscriber whose buffer overflows gets a Missed notice; the stream logs it and goes on.
    service = EventsService(exchange)
    received: list[ev_pb.Envelope] = []
    original = exchange.subscribe

    def small_buffer(*filters: str, since: int | None = None) -> Any:
        return original(*filters, since=since, buffer=1)

    exchange.subscribe = small_buffer  # type: ignore[method-assign]

    async def main() -> None:
        stream = service.subscribe(ev_pb.SubscribeRequest(), CALL)
        async with trio.open_nursery() as nursery:
            async def reader() -> None:
                async for envelope in stream:
                    received.append(envelope)
                    if envelope.topic == "/tasks/oom":
                        return

            nursery.start_soon(reader)
            while exchange.statistics().subscribers == 0:
                await trio.sleep(0.001)
            for pid in range(3):  # a waiting reader takes one, one fits the buffer, one is dropped
                exchange.publish(events.TaskStart(container_id="c", pid=pid), namespace="default")
            await trio.sleep(0.05)
            exchange.publish(events.TaskOOM(container_id="c"), namespace="default")
        await stream.aclose()

    trio.run(main)
    starts = [e for e in received if e.topic == "/tasks/start"]
    assert received[-1].topic == "/tasks/oom" and 1 <= len(starts) < 3
    assert f"missed {3 - len(starts)} envelopes" in caplog.text


def test_publish_needs_namespace(exchange: Exchange) -> None:
    request = ev_pb.PublishRequest(topic="/tasks/oom", event=anytypes.pack(task_pb2.TaskOOM(container_id="c")))
    with pytest.raises(errors.FailedPrecondition, match="namespace is required"):
        run(EventsService(exchange).publish, request, CALL, namespace=None)


def test_publish_known_event_is_typed_and_unknown_stays_raw(exchange: Exchange) -> None:
    service = EventsService(exchange)
    known = ev_pb.PublishRequest(topic="/tasks/oom", event=anytypes.pack(task_pb2.TaskOOM(container_id="c")))
    unknown = ev_pb.PublishRequest(topic="/my/thing", event={"type_url": "example.Thing", "value": b"\x08\x01"})
    mismatched = ev_pb.PublishRequest(topic="/other/topic", event=anytypes.pack(task_pb2.TaskOOM(container_id="c")))

    async def main() -> list[events.Envelope]:
        out = []
        async with exchange.subscribe() as sub:
            with namespaces.use("ns1"):
                for request in (known, unknown, mismatched):
                    await service.publish(request, CALL)
            async for item in sub:
                assert isinstance(item, events.Envelope)
                out.append(item)
                if len(out) == 3:
                    return out
        return out

    first, second, third = trio.run(main)
    assert first.event == events.TaskOOM(container_id="c") and first.namespace == "ns1"
    assert second.event == events.RawEvent(type_url="example.Thing", value=b"\x08\x01")
    assert isinstance(third.event, events.RawEvent) and third.topic == "/other/topic"
    # and a raw event goes back out exactly as it came in
    from berth.plugins.api.services.events import envelope_message

    assert envelope_message(second).event.value == b"\x08\x01"


def test_publish_bad_topic(exchange: Exchange) -> None:
    request = ev_pb.PublishRequest(topic="tasks", event={"type_url": "x.Y"})
    with pytest.raises(errors.InvalidArgument, match="must start with '/'"):
        run(EventsService(exchange).publish, request, CALL)


@pytest.mark.parametrize("service_cls, pb", [(EventsService, ev_pb), (TtrpcEventsService, ttrpc_pb)])
def test_forward_keeps_envelope(exchange: Exchange, service_cls: Any, pb: Any) -> None:
    ts = timestamp_pb2.Timestamp(seconds=1700000000, nanos=5)
    exit_event = task_pb2.TaskExit(container_id="c1", id="c1", pid=42, exit_status=3, exited_at=ts)
    envelope = pb.Envelope(timestamp=ts, namespace="k8s.io", topic="/tasks/exit", event=anytypes.pack(exit_event))

    async def main() -> events.Envelope:
        async with exchange.subscribe() as sub:
            with namespaces.use_unset():
                await service_cls(exchange).forward(pb.ForwardRequest(envelope=envelope), CALL)
            async for item in sub:
                assert isinstance(item, events.Envelope)
                return item
        raise AssertionError("no envelope")

    got = trio.run(main)
    assert (got.namespace, got.topic, got.timestamp) == ("k8s.io", "/tasks/exit", 1700000000_000000005)
    assert got.event == events.TaskExit(container_id="c1", id="c1", pid=42, exit_status=3,
                                        exited_at=1700000000_000000005)


@pytest.mark.parametrize(
    "envelope, message",
    [
        (ev_pb.Envelope(namespace="default", topic="/a", event={"type_url": "x.Y"}), "timestamp must be set"),
        (ev_pb.Envelope(timestamp={"seconds": 1}, namespace="Bad!", topic="/a", event={"type_url": "x.Y"}), "Bad!"),
        (ev_pb.Envelope(timestamp={"seconds": 1}, namespace="default", topic="/a"), "event must be set"),
    ],
)
def test_forward_rejects(exchange: Exchange, envelope: ev_pb.Envelope, message: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=message):
        run(EventsService(exchange).forward, ev_pb.ForwardRequest(envelope=envelope), CALL)


def test_services_name_their_methods() -> None:
    ex = Exchange()
    names = {
        VersionService().service_name: ["Version"],
        introspection().service_name: ["Plugins", "Server"],
        EventsService(ex).service_name: ["Publish", "Forward", "Subscribe"],
        TtrpcEventsService(ex).service_name: ["Forward"],
    }
    services = [VersionService(), introspection(), EventsService(ex), TtrpcEventsService(ex)]
    for service in services:
        assert [m.name for m in service.methods()] == names[service.service_name]
    assert TtrpcEventsService(ex).transports == frozenset({"ttrpc"})


# --- registrations -----------------------------------------------------------------


def _init_context(reg: Any, bus: Any, exchange: Exchange, tmp_path: pathlib.Path) -> Any:
    from berth.core.plugin import InitContext, ServerAddresses

    return InitContext(registration=reg, root=tmp_path / reg.uri, state=tmp_path / "s" / reg.uri, config=None,
                       bus=bus, events=exchange, addresses=ServerAddresses(grpc_address="/x.sock"),
                       nursery=None, ready=None)  # type: ignore[arg-type]


def test_registrations(tmp_path: pathlib.Path, exchange: Exchange, store: LmdbNamespaceStore) -> None:
    from berth.core._bus import Bus
    from berth.core.introspection import Introspector
    from berth.core.namespaces import NamespaceStore
    from berth.core.rpc import RpcService
    from berth.plugins.api.services.plugin import berth_register_plugins

    regs = {r.uri: r for r in berth_register_plugins()}
    assert list(regs) == ["io.containerd.grpc.v1.version", "io.containerd.grpc.v1.introspection",
                          "io.containerd.grpc.v1.namespaces", "io.containerd.grpc.v1.events",
                          "io.containerd.ttrpc.v1.ttrpc-events"]
    assert all(r.provides == (RpcService,) for r in regs.values())
    assert regs["io.containerd.grpc.v1.namespaces"].requires == ("io.containerd.metadata.v1",)

    bus = Bus()
    bus.register(Introspector, "core", StaticIntrospector(INFOS))
    bus.register(NamespaceStore, "lmdb", store)
    names = {}
    for uri, reg in regs.items():
        service = trio.run(reg.init, _init_context(reg, bus, exchange, tmp_path))
        assert isinstance(service, RpcService)
        names[uri] = (service.service_name, getattr(service, "transports"))
    assert names["io.containerd.ttrpc.v1.ttrpc-events"] == ("containerd.services.events.ttrpc.v1.Events",
                                                            frozenset({"ttrpc"}))
    server = trio.run(IntrospectionService(lambda: bus.get(Introspector)).server, empty_pb2.Empty(), CALL)
    assert server.uuid == StaticIntrospector(INFOS).uuid


def test_namespaces_plugin_fails_without_metadata(tmp_path: pathlib.Path, exchange: Exchange) -> None:
    from berth.core._bus import Bus
    from berth.plugins.api.services.plugin import berth_register_plugins

    (reg,) = [r for r in berth_register_plugins() if r.id == "namespaces"]
    with pytest.raises(errors.NotFound):
        trio.run(reg.init, _init_context(reg, Bus(), exchange, tmp_path))
