"""The ``io.berth.server.v1`` grpc and ttrpc plugins: wait for ready, serve
the bus's RpcServices by transport, stop and remove their sockets on aclose."""
from __future__ import annotations

import os
import pathlib

import pytest
import trio
from google.protobuf import wrappers_pb2

from berth.core._bus import Bus
from berth.core.plugin import InitContext, Registration, ServerAddresses, SkipPlugin
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.plugins.api.grpc import plugin as grpc_plugin
from berth.plugins.api.grpc.client import Client
from berth.plugins.api.ttrpc import plugin as ttrpc_plugin
from berth.plugins.api.ttrpc.blocking_client import BlockingTtrpcClient

SV = wrappers_pb2.StringValue


class Svc:
    def __init__(self, name: str, transports: frozenset[str] | None) -> None:
        self.service_name = name
        if transports is not None:
            self.transports = transports

    def methods(self) -> list[Method]:
        async def hello(request: SV, call: Call) -> SV:
            return SV(value=f"{self.service_name}:{request.value}")

        return [Method(name="Hello", kind=Kind.UNARY, request=SV, response=SV, handler=hello)]


def _ctx(reg: Registration, tmp: pathlib.Path, bus: Bus, addresses: ServerAddresses,
         nursery: trio.Nursery, ready: trio.Event) -> InitContext:
    return InitContext(registration=reg, root=tmp / "root", state=tmp / "state", config=None, bus=bus,
                       events=None, addresses=addresses, nursery=nursery, ready=ready)  # type: ignore[arg-type]


def test_plugins_serve_by_transport(tmp_path: pathlib.Path) -> None:
    grpc_sock, ttrpc_sock = str(tmp_path / "g" / "berth.sock"), str(tmp_path / "g" / "berth.sock.ttrpc")
    bus = Bus()
    bus.register(RpcService, "plain", Svc("t.Plain", None))
    bus.register(RpcService, "shim", Svc("t.Shim", frozenset({"ttrpc"})))
    bus.register(RpcService, "both", Svc("t.Both", frozenset({"grpc", "ttrpc"})))
    addresses = ServerAddresses(grpc_address=grpc_sock, grpc_uid=os.getuid(), grpc_gid=os.getgid(),
                                ttrpc_address=ttrpc_sock)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            ready = trio.Event()
            (g_reg,) = grpc_plugin.berth_register_plugins()
            (t_reg,) = ttrpc_plugin.berth_register_plugins()
            assert (g_reg.type, g_reg.id, t_reg.id) == ("io.berth.server.v1", "grpc", "ttrpc")
            g = await g_reg.init(_ctx(g_reg, tmp_path, bus, addresses, nursery, ready))
            t = await t_reg.init(_ctx(t_reg, tmp_path, bus, addresses, nursery, ready))
            await trio.sleep(0.05)
            assert not os.path.exists(grpc_sock), "must not listen before ready"
            ready.set()
            with trio.fail_after(10):
                while not (os.path.exists(grpc_sock) and os.path.exists(ttrpc_sock)):
                    await trio.sleep(0.01)

            def use_them() -> None:
                with Client(grpc_sock, timeout=10) as c:
                    assert c.unary("/t.Plain/Hello", SV(value="1"), SV).value == "t.Plain:1"
                    assert c.unary("/t.Both/Hello", SV(value="2"), SV).value == "t.Both:2"
                    with pytest.raises(Exception, match="unknown service t.Shim"):
                        c.unary("/t.Shim/Hello", SV(), SV)
                with BlockingTtrpcClient(ttrpc_sock, timeout=10) as tc:
                    assert tc.call("t.Shim", "Hello", SV(value="3"), SV).value == "t.Shim:3"
                    with pytest.raises(Exception, match="unknown service t.Plain"):
                        tc.call("t.Plain", "Hello", SV(), SV)

            await trio.to_thread.run_sync(use_them)
            await g.aclose()  # type: ignore[attr-defined]
            await t.aclose()  # type: ignore[attr-defined]
            assert not os.path.exists(grpc_sock) and not os.path.exists(ttrpc_sock)

    trio.run(main)


def test_ttrpc_plugin_skips_without_address(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            (reg,) = ttrpc_plugin.berth_register_plugins()
            with pytest.raises(SkipPlugin, match="no ttrpc address"):
                await reg.init(_ctx(reg, tmp_path, Bus(), ServerAddresses(grpc_address="/x"), nursery, trio.Event()))

    trio.run(main)
