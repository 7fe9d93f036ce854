"""The committed ``*_pb2.py`` files are what ``scripts/gen_proto.py`` makes now,
they load on the pinned protobuf runtime, and their wire shape is containerd's."""
from __future__ import annotations

import importlib
import importlib.util
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

pytest.importorskip("grpc_tools", reason="grpcio-tools (a test dependency) regenerates the protobuf modules")


def _gen_proto():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_proto", REPO / "scripts" / "gen_proto.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_modules_are_fresh(tmp_path: pathlib.Path) -> None:
    gen = _gen_proto()
    fresh = gen.generate(tmp_path)
    assert fresh, "no .proto files found"
    base = tmp_path / "berth" / "proto"
    for path in fresh:
        rel = path.relative_to(base)
        committed = REPO / "proto" / rel
        assert committed.exists(), f"proto/{rel} is not committed: run scripts/gen_proto.py"
        assert committed.read_bytes() == path.read_bytes(), f"proto/{rel} is stale: run scripts/gen_proto.py"
    committed_pb2 = {p.relative_to(REPO / "proto") for p in (REPO / "proto").rglob("*_pb2.py")}
    assert committed_pb2 == {p.relative_to(base) for p in fresh}, "a _pb2.py has no .proto"


def _modules() -> list[str]:
    root = REPO / "proto"
    return sorted(
        "berth.proto." + ".".join(p.relative_to(root).with_suffix("").parts) for p in root.rglob("*_pb2.py")
    )


@pytest.mark.parametrize("name", _modules())
def test_generated_module_loads_on_runtime(name: str) -> None:
    module = importlib.import_module(name)
    assert module.DESCRIPTOR.name.startswith("berth/proto/")


# (message full name) -> {field: (number, type name or message full name, repeated)}
WIRE = {
    "containerd.services.version.v1.VersionResponse": {"version": (1, "string", False), "revision": (2, "string", False)},
    "containerd.services.introspection.v1.Plugin": {
        "type": (1, "string", False), "id": (2, "string", False), "requires": (3, "string", True),
        "platforms": (4, "containerd.types.Platform", True),
        "exports": (5, "containerd.services.introspection.v1.Plugin.ExportsEntry", True),
        "capabilities": (6, "string", True), "init_err": (7, "google.rpc.Status", False),
    },
    "containerd.services.introspection.v1.PluginsRequest": {"filters": (1, "string", True)},
    "containerd.services.introspection.v1.PluginsResponse": {
        "plugins": (1, "containerd.services.introspection.v1.Plugin", True)},
    "containerd.services.introspection.v1.ServerResponse": {
        "uuid": (1, "string", False), "pid": (2, "uint64", False), "pidns": (3, "uint64", False),
        "deprecations": (4, "containerd.services.introspection.v1.DeprecationWarning", True)},
    "containerd.types.Platform": {"os": (1, "string", False), "architecture": (2, "string", False),
                                  "variant": (3, "string", False)},
    "containerd.types.Mount": {"type": (1, "string", False), "source": (2, "string", False),
                               "target": (3, "string", False), "options": (4, "string", True)},
    "google.rpc.Status": {"code": (1, "int32", False), "message": (2, "string", False),
                          "details": (3, "google.protobuf.Any", True)},
    "containerd.services.namespaces.v1.Namespace": {
        "name": (1, "string", False), "labels": (2, "containerd.services.namespaces.v1.Namespace.LabelsEntry", True)},
    "containerd.services.namespaces.v1.UpdateNamespaceRequest": {
        "namespace": (1, "containerd.services.namespaces.v1.Namespace", False),
        "update_mask": (2, "google.protobuf.FieldMask", False)},
    "containerd.services.namespaces.v1.ListNamespacesRequest": {"filter": (1, "string", False)},
    "containerd.services.events.v1.PublishRequest": {"topic": (1, "string", False),
                                                     "event": (2, "google.protobuf.Any", False)},
    "containerd.services.events.v1.Envelope": {
        "timestamp": (1, "google.protobuf.Timestamp", False), "namespace": (2, "string", False),
        "topic": (3, "string", False), "event": (4, "google.protobuf.Any", False)},
    "containerd.services.events.ttrpc.v1.ForwardRequest": {
        "envelope": (1, "containerd.services.events.ttrpc.v1.Envelope", False)},
    "containerd.events.TaskExit": {
        "container_id": (1, "string", False), "id": (2, "string", False), "pid": (3, "uint32", False),
        "exit_status": (4, "uint32", False), "exited_at": (5, "google.protobuf.Timestamp", False)},
    "containerd.events.TaskCreate": {
        "container_id": (1, "string", False), "bundle": (2, "string", False),
        "rootfs": (3, "containerd.types.Mount", True), "io": (4, "containerd.events.TaskIO", False),
        "checkpoint": (5, "string", False), "pid": (6, "uint32", False)},
    "containerd.events.TaskDelete": {
        "container_id": (1, "string", False), "pid": (2, "uint32", False), "exit_status": (3, "uint32", False),
        "exited_at": (4, "google.protobuf.Timestamp", False), "id": (5, "string", False)},
    "containerd.events.ContainerCreate": {
        "id": (1, "string", False), "image": (2, "string", False),
        "runtime": (3, "containerd.events.ContainerCreate.Runtime", False)},
    "containerd.events.ContainerUpdate": {
        "id": (1, "string", False), "image": (2, "string", False),
        "labels": (3, "containerd.events.ContainerUpdate.LabelsEntry", True), "snapshot_key": (4, "string", False)},
    "containerd.events.SnapshotCommit": {"key": (1, "string", False), "name": (2, "string", False),
                                         "snapshotter": (5, "string", False)},
    "containerd.events.NamespaceDelete": {"name": (1, "string", False)},
    "containerd.services.images.v1.ImageUpdate": {
        "name": (1, "string", False), "labels": (2, "containerd.services.images.v1.ImageUpdate.LabelsEntry", True)},
}

_TYPE_NAMES = {1: "double", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string", 12: "bytes", 13: "uint32"}


@pytest.mark.parametrize("full_name", sorted(WIRE))
def test_wire_shape_matches_containerd(full_name: str) -> None:
    from google.protobuf import descriptor_pool

    from berth.proto import anytypes

    for name in _modules():
        importlib.import_module(name)
    anytypes.message_class("containerd.events.TaskExit")  # loads the event modules
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    got = {
        f.name: (f.number, f.message_type.full_name if f.message_type else _TYPE_NAMES[f.type], f.is_repeated)
        for f in descriptor.fields
    }
    assert got == WIRE[full_name]


def test_services_and_methods() -> None:
    from berth.proto.containerd.services.events.ttrpc.v1 import events_pb2 as ttrpc
    from berth.proto.containerd.services.events.v1 import events_pb2 as events
    from berth.proto.containerd.services.introspection.v1 import introspection_pb2 as intro
    from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as ns
    from berth.proto.containerd.services.version.v1 import version_pb2 as version

    def methods(module, service):  # type: ignore[no-untyped-def]
        s = module.DESCRIPTOR.services_by_name[service]
        return s.full_name, [(m.name, m.client_streaming, m.server_streaming) for m in s.methods]

    assert methods(version, "Version") == ("containerd.services.version.v1.Version", [("Version", False, False)])
    assert methods(intro, "Introspection") == (
        "containerd.services.introspection.v1.Introspection", [("Plugins", False, False), ("Server", False, False)])
    assert methods(ns, "Namespaces")[1] == [(m, False, False) for m in ("Get", "List", "Create", "Update", "Delete")]
    assert methods(events, "Events") == ("containerd.services.events.v1.Events", [
        ("Publish", False, False), ("Forward", False, False), ("Subscribe", False, True)])
    assert methods(ttrpc, "Events") == ("containerd.services.events.ttrpc.v1.Events", [("Forward", False, False)])


def test_known_bytes() -> None:
    # Plugin{type="a", id="b", init_err{code=2, message="m"}} as containerd encodes it.
    from berth.proto.containerd.services.introspection.v1 import introspection_pb2 as intro

    msg = intro.Plugin(type="a", id="b")
    msg.init_err.code, msg.init_err.message = 2, "m"
    assert msg.SerializeToString() == b"\x0a\x01a\x12\x01b\x3a\x05\x08\x02\x12\x01m"


def test_no_grpc_stubs_committed() -> None:
    assert not list((REPO / "proto").rglob("*_pb2_grpc.py"))
