"""A namespaced call without the containerd-namespace header gets
FAILED_PRECONDITION over the wire, as containerd answers, and the daemon
keeps serving."""
from __future__ import annotations

import pytest
from google.protobuf import any_pb2, empty_pb2

from berth.core import errors
from berth.proto.containerd.events import namespace_pb2
from berth.proto.containerd.services.events.v1 import events_pb2
from berth.proto.containerd.services.version.v1 import version_pb2
from berth.testing.daemon import Daemon

PUBLISH = "/containerd.services.events.v1.Events/Publish"
VERSION = "/containerd.services.version.v1.Version/Version"


def _publish_request() -> events_pb2.PublishRequest:
    event = any_pb2.Any(type_url="containerd.events.NamespaceCreate",
                        value=namespace_pb2.NamespaceCreate(name="x").SerializeToString())
    return events_pb2.PublishRequest(topic="/namespaces/create", event=event)


def test_publish_without_namespace_is_failed_precondition(berthd: Daemon) -> None:
    with berthd.client(namespace=None) as client:
        with pytest.raises(errors.FailedPrecondition, match="namespace is required"):
            client.unary(PUBLISH, _publish_request(), empty_pb2.Empty)
        # The same connection still works for an un-namespaced call.
        reply = client.unary(VERSION, empty_pb2.Empty(), version_pb2.VersionResponse)
        assert reply.version


def test_publish_with_namespace_succeeds(berthd: Daemon) -> None:
    with berthd.client(namespace="default") as client:
        client.unary(PUBLISH, _publish_request(), empty_pb2.Empty)
