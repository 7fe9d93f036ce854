"""LMDB metadata survives ``kill -9`` of berthd in the middle of a stream of writes.

A client thread creates namespaces through the real gRPC API and records
each one the daemon acknowledged; another thread SIGKILLs the daemon (by its
pid) after a random short delay after the first acknowledged write. The daemon is restarted on the same root:
the database must open, every acknowledged namespace must be there, and the
lock file the killed daemon left behind must not block the restart (the
kernel released its flock).
"""
from __future__ import annotations

import os
import random
import signal
import threading

from berth.core.errors import BerthError
from berth.plugins.api.grpc.client import Client
from berth.proto.containerd.services.namespaces.v1 import namespace_pb2 as pb
from berth.testing.daemon import Daemon, DaemonFactory

ROUNDS = 3
CREATE = "/containerd.services.namespaces.v1.Namespaces/Create"
LIST = "/containerd.services.namespaces.v1.Namespaces/List"


class Writer(threading.Thread):
    """Creates namespaces one by one; records a name only once the daemon answered OK."""

    def __init__(self, daemon: Daemon, prefix: str, killing: threading.Event) -> None:
        super().__init__(name=f"writer-{prefix}")
        self.daemon = daemon
        self.prefix = prefix
        self.killing = killing
        self.acknowledged: list[str] = []
        self.first = threading.Event()  # set at the first acknowledged write
        self.stop = threading.Event()  # set by the test when it gives up
        self.unexpected: BaseException | None = None

    def run(self) -> None:
        with Client(self.daemon.address, namespace="default", timeout=5) as client:
            for i in range(100_000):
                if self.stop.is_set():
                    return
                name = f"{self.prefix}-{i}"
                request = pb.CreateNamespaceRequest(namespace=pb.Namespace(name=name, labels={"i": str(i)}))
                try:
                    client.unary(CREATE, request, pb.CreateNamespaceResponse)
                except (BerthError, OSError) as e:  # ConnectError is an Unavailable
                    if not self.killing.is_set():
                        self.unexpected = e  # failed before the kill: a bug, not the crash
                    return  # the daemon died under this call: it was not acknowledged
                self.acknowledged.append(name)
                self.first.set()


def listed(daemon: Daemon) -> dict[str, dict[str, str]]:
    with daemon.client() as client:
        response = client.unary(LIST, pb.ListNamespacesRequest(), pb.ListNamespacesResponse)
    return {ns.name: dict(ns.labels) for ns in response.namespaces}


def test_acknowledged_namespaces_survive_sigkill(berthd_factory: DaemonFactory) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    workdir = berthd_factory.workdir()
    daemon = berthd_factory(workdir=workdir)
    expected: dict[str, dict[str, str]] = {}
    for round_ in range(ROUNDS):
        killing = threading.Event()

        def kill(pid: int = daemon.pid) -> None:
            killing.set()
            os.kill(pid, signal.SIGKILL)

        writer = Writer(daemon, f"crash{round_}", killing)
        delay = rng.uniform(0.15, 0.5)
        killer = threading.Timer(delay, kill)
        writer.start()
        try:
            assert writer.first.wait(30), f"seed {seed}: no write acknowledged: {writer.unexpected!r}"
            killer.start()  # mid-stream: writes keep going until the kill lands
            assert daemon.wait(30) == -signal.SIGKILL, f"seed {seed}"
        finally:
            killer.cancel()
            writer.stop.set()
            writer.join(30)
        assert writer.unexpected is None, f"seed {seed}: {writer.unexpected!r}"
        acknowledged = writer.acknowledged
        print(f"round {round_}: killed after {delay:.2f}s, {len(acknowledged)} acknowledged (seed {seed})")
        expected.update({name: {"i": name.rsplit("-", 1)[1]} for name in acknowledged})
        # kill -9 ran no cleanup: the lock file (with the dead pid) and the sockets are still there
        assert daemon.lock.read_text() == f"{daemon.pid}\n"
        assert daemon.socket.exists()

        daemon = berthd_factory(config=None, workdir=workdir)  # same root, same config
        assert daemon.lock.read_text() == f"{daemon.pid}\n"
        found = listed(daemon)
        missing = sorted(set(expected) - set(found))
        assert not missing, f"seed {seed}, round {round_}: acknowledged but lost: {missing}"
        assert {name: found[name] for name in expected} == expected
    assert daemon.stop() == 0
