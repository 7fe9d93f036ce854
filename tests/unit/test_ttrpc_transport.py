"""ttrpc: framing, the trio server and client, the blocking server and client,
each pair talking over real unix sockets."""
from __future__ import annotations

import functools
import os
import pathlib
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence


import pytest
import trio
from google.protobuf import wrappers_pb2
from hypothesis import given
from hypothesis import strategies as st

from berth.core import errors, namespaces
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.plugins.api.ttrpc import _messages
from berth.plugins.api.ttrpc._framing import (
    MAX_PAYLOAD,
    TYPE_REQUEST,
    TYPE_RESPONSE,
    Frame,
    FrameDecoder,
    encode_frame,
)
from berth.plugins.api.ttrpc.blocking_client import BlockingTtrpcClient
from berth.plugins.api.ttrpc.blocking_server import BlockingCall, BlockingTtrpcServer, Reply
from berth.plugins.api.ttrpc.client import open_ttrpc_client
from berth.plugins.api.ttrpc.server import serve_ttrpc
from berth.proto.ttrpc import ttrpc_pb2

SV = wrappers_pb2.StringValue
SERVICE = "berth.test.v1.Shim"

# -- framing --------------------------------------------------------------------


def test_frame_bytes_match_ttrpc() -> None:
    assert encode_frame(1, TYPE_REQUEST, b"abc") == b"\x00\x00\x00\x03\x00\x00\x00\x01\x01\x00abc"


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 3]), st.binary(max_size=300)), max_size=8),
    st.lists(st.integers(1, 50), min_size=1),
)
def test_decoder_any_chunking(frames: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(sid, t, p) for sid, t, p in frames)
    decoder = FrameDecoder()
    got: list[Frame] = []
    pos, i = 0, 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        got += decoder.feed(wire[pos : pos + step])
        pos += step
        i += 1
    assert [(f.stream_id, f.type, f.payload) for f in got] == frames
    assert decoder.at_boundary


def test_decoder_discards_oversized_payload() -> None:
    decoder = FrameDecoder(max_size=10)
    big = struct.pack(">IIBB", 25, 3, TYPE_REQUEST, 0) + b"x" * 25
    frames = decoder.feed(big[:14]) + decoder.feed(big[14:] + encode_frame(5, TYPE_REQUEST, b"ok"))
    assert frames == [Frame(3, TYPE_REQUEST, 0, b"", oversized=True, length=25), Frame(5, TYPE_REQUEST, 0, b"ok", length=2)]


def test_encode_refuses_oversized() -> None:
    with pytest.raises(errors.ResourceExhausted):
        encode_frame(1, TYPE_RESPONSE, b"x" * (MAX_PAYLOAD + 1))


# -- services ---------------------------------------------------------------------


class AsyncShim:
    service_name = SERVICE
    transports = frozenset({"ttrpc"})

    def methods(self) -> Sequence[Method]:
        m = functools.partial(Method, request=SV, response=SV, kind=Kind.UNARY)
        return [m(name="Echo", handler=self.echo), m(name="Fail", handler=self.fail),
                m(name="Sleep", handler=self.sleep), m(name="Namespace", handler=self.namespace),
                m(name="Boom", handler=self.boom),
                Method(name="Stream", kind=Kind.SERVER_STREAM, request=SV, response=SV, handler=self.echo)]

    async def echo(self, request: SV, call: Call) -> SV:
        return SV(value=request.value[::-1])

    async def fail(self, request: SV, call: Call) -> SV:
        raise errors.NotFound(request.value)

    async def sleep(self, request: SV, call: Call) -> SV:
        await trio.sleep(float(request.value))
        return SV(value="done")

    async def namespace(self, request: SV, call: Call) -> SV:
        return SV(value=namespaces.current())

    async def boom(self, request: SV, call: Call) -> SV:
        raise RuntimeError("bad")


class BlockingShim:
    """Plain-def handlers; ``Wait`` defers until ``release`` is written to."""

    service_name = SERVICE

    def __init__(self) -> None:
        self.waiting: list[Reply] = []
        self.release_r, self.release_w = os.pipe()

    def methods(self) -> Sequence[Method]:
        m = functools.partial(Method, request=SV, response=SV, kind=Kind.UNARY)
        return [m(name="Echo", handler=self.echo), m(name="Fail", handler=self.fail),
                m(name="Wait", handler=self.wait), m(name="Namespace", handler=self.namespace),
                m(name="Async", handler=self.async_handler), m(name="Boom", handler=self.boom)]

    def echo(self, request: SV, call: BlockingCall) -> SV:
        return SV(value=request.value[::-1])

    def fail(self, request: SV, call: BlockingCall) -> SV:
        raise errors.FailedPrecondition(request.value)

    def boom(self, request: SV, call: BlockingCall) -> SV:
        raise KeyError("missing")

    def wait(self, request: SV, call: BlockingCall) -> None:
        self.waiting.append(call.defer())

    def namespace(self, request: SV, call: BlockingCall) -> SV:
        return SV(value=namespaces.current())

    async def async_handler(self, request: SV, call: Call) -> SV:
        return SV()

    def on_release(self) -> None:
        value = os.read(self.release_r, 100).decode()
        while self.waiting:
            self.waiting.pop(0).send(SV(value=f"exited {value}"))


# -- harness ----------------------------------------------------------------------


class TrioServerThread:
    def __init__(self, address: str, services: Sequence[RpcService]) -> None:
        self.address, self.services = address, services
        self._ready = threading.Event()
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            await nursery.start(functools.partial(serve_ttrpc, self.address, self.services))
            self._ready.set()

    def __enter__(self) -> TrioServerThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def trio_server(tmp_path: pathlib.Path) -> Iterator[str]:
    path = str(tmp_path / "t.sock")
    with TrioServerThread(path, [AsyncShim()]):
        yield path
    assert not os.path.exists(path)


@pytest.fixture
def blocking_server(tmp_path: pathlib.Path) -> Iterator[tuple[str, BlockingShim, BlockingTtrpcServer]]:
    shim = BlockingShim()
    server = BlockingTtrpcServer([shim])
    path = server.listen(f"unix://{tmp_path / 'b.sock'}")
    server.add_reader(shim.release_r, shim.on_release)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield path, shim, server
    finally:
        server.shutdown()
        thread.join(10)
        assert not thread.is_alive()
        server.close()
        os.close(shim.release_r)
        os.close(shim.release_w)
    assert not os.path.exists(path)


# -- trio server <-> blocking client ------------------------------------------------


def test_trio_server_blocking_client(trio_server: str) -> None:
    with BlockingTtrpcClient(trio_server, timeout=10) as c:
        assert c.call(SERVICE, "Echo", SV(value="abc"), SV).value == "cba"
        with pytest.raises(errors.NotFound, match="^no «such» thing$"):
            c.call(SERVICE, "Fail", SV(value="no «such» thing"), SV)
        with pytest.raises(errors.Internal, match="RuntimeError: bad"):
            c.call(SERVICE, "Boom", SV(), SV)
        with pytest.raises(errors.NotImplemented_, match="unknown method Nope"):
            c.call(SERVICE, "Nope", SV(), SV)
        with pytest.raises(errors.NotImplemented_, match="unknown service x.Y"):
            c.call("x.Y", "Z", SV(), SV)
        with pytest.raises(errors.NotImplemented_, match="unary methods only"):
            c.call(SERVICE, "Stream", SV(), SV)
        with pytest.raises(errors.FailedPrecondition, match="namespace is required"):
            c.call(SERVICE, "Namespace", SV(), SV)
        assert c.call(SERVICE, "Namespace", SV(), SV, metadata={"containerd-namespace": "k8s.io"}).value == "k8s.io"
        assert c.call(SERVICE, "Namespace", SV(), SV, metadata={"containerd-namespace-ttrpc": "x"}).value == "x"
        assert c.call(SERVICE, "Echo", SV(value="still"), SV).value == "llits"


def test_trio_server_deadline(trio_server: str) -> None:
    with BlockingTtrpcClient(trio_server) as c:
        # The server's own deadline answers first (the client waits longer).
        raw = encode_frame(1, TYPE_REQUEST, ttrpc_pb2.Request(
            service=SERVICE, method="Sleep", payload=SV(value="30").SerializeToString(),
            timeout_nano=200_000_000).SerializeToString())
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(trio_server)
            s.sendall(raw)
            frames = FrameDecoder().feed(s.recv(65536))
        resp = ttrpc_pb2.Response.FromString(frames[0].payload)
        assert resp.status.code == errors.DeadlineExceeded.grpc_code
        # Client-side timeout: DeadlineExceeded, and the connection stays usable.
        with pytest.raises(errors.DeadlineExceeded):
            c.call(SERVICE, "Sleep", SV(value="30"), SV, timeout=0.2)
        assert c.call(SERVICE, "Echo", SV(value="ok"), SV, timeout=10).value == "ko"


def test_trio_server_rejects_bad_frames(trio_server: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(trio_server)
        s.sendall(encode_frame(2, TYPE_REQUEST, b""))  # even stream id
        s.sendall(struct.pack(">IIBB", MAX_PAYLOAD + 1, 3, TYPE_REQUEST, 0) + b"\0" * (MAX_PAYLOAD + 1))
        s.sendall(encode_frame(5, TYPE_REQUEST, b"\xff\xff\xff"))  # not a Request
        decoder, frames = FrameDecoder(), []
        while len(frames) < 3:
            frames += decoder.feed(s.recv(65536))
    by_id = {f.stream_id: ttrpc_pb2.Response.FromString(f.payload).status for f in frames}
    assert by_id[2].code == errors.InvalidArgument.grpc_code
    assert by_id[2].message == "StreamID must be odd for client initiated streams"
    assert by_id[3].code == errors.ResourceExhausted.grpc_code
    assert by_id[5].code == errors.InvalidArgument.grpc_code
    with BlockingTtrpcClient(trio_server, timeout=10) as c:
        assert c.call(SERVICE, "Echo", SV(value="up"), SV).value == "pu"


def test_trio_server_garbage_then_still_serves(trio_server: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(trio_server)
        s.sendall(os.urandom(1000))
    with BlockingTtrpcClient(trio_server, timeout=10) as c:
        assert c.call(SERVICE, "Echo", SV(value="up"), SV).value == "pu"


def test_trio_client_trio_server(trio_server: str) -> None:
    async def main() -> None:
        async with open_ttrpc_client(f"unix://{trio_server}") as client:
            results: dict[int, str] = {}

            async def one(i: int) -> None:
                results[i] = (await client.call(SERVICE, "Echo", SV(value=f"x{i}"), SV, timeout=10)).value

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            assert results == {i: f"{i}"[::-1] + "x" for i in range(50)}
            with pytest.raises(errors.DeadlineExceeded):
                await client.call(SERVICE, "Sleep", SV(value="30"), SV, timeout=0.2)

    trio.run(main)


# -- blocking server <-> trio client / blocking client -------------------------------


def test_blocking_server_trio_client(blocking_server: tuple[str, BlockingShim, BlockingTtrpcServer]) -> None:
    path, shim, _ = blocking_server

    async def main() -> None:
        async with open_ttrpc_client(path) as client:
            assert (await client.call(SERVICE, "Echo", SV(value="hey"), SV, timeout=10)).value == "yeh"
            with pytest.raises(errors.FailedPrecondition, match="^not now$"):
                await client.call(SERVICE, "Fail", SV(value="not now"), SV, timeout=10)
            with pytest.raises(errors.Internal, match="KeyError"):
                await client.call(SERVICE, "Boom", SV(), SV, timeout=10)
            with pytest.raises(errors.Internal, match="plain def"):
                await client.call(SERVICE, "Async", SV(), SV, timeout=10)
            with pytest.raises(errors.NotImplemented_):
                await client.call(SERVICE, "Nope", SV(), SV, timeout=10)
            got = await client.call(SERVICE, "Namespace", SV(), SV, timeout=10,
                                    metadata={"containerd-namespace": "moby"})
            assert got.value == "moby"

            # Wait is deferred: other calls proceed while it is pending.
            async with trio.open_nursery() as nursery:
                waited: list[str] = []

                async def wait() -> None:
                    waited.append((await client.call(SERVICE, "Wait", SV(), SV, timeout=10)).value)

                nursery.start_soon(wait)
                nursery.start_soon(wait)
                while len(shim.waiting) < 2:
                    await trio.sleep(0.01)
                assert (await client.call(SERVICE, "Echo", SV(value="ab"), SV, timeout=10)).value == "ba"
                os.write(shim.release_w, b"0")
            assert waited == ["exited 0", "exited 0"]

            # A deferred call past its deadline is answered DEADLINE_EXCEEDED by the server.
            with pytest.raises(errors.DeadlineExceeded):
                await client.call(SERVICE, "Wait", SV(), SV, timeout=0.2)

    trio.run(main)


def test_blocking_server_reply_from_thread(blocking_server: tuple[str, BlockingShim, BlockingTtrpcServer]) -> None:
    path, shim, _ = blocking_server
    with BlockingTtrpcClient(path, timeout=10) as c:
        def later() -> None:
            while not shim.waiting:
                threading.Event().wait(0.01)
            shim.waiting.pop().send(SV(value="from thread"))

        t = threading.Thread(target=later)
        t.start()
        assert c.call(SERVICE, "Wait", SV(), SV).value == "from thread"
        t.join(10)


def test_blocking_server_many_clients(blocking_server: tuple[str, BlockingShim, BlockingTtrpcServer]) -> None:
    path, _, _ = blocking_server
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with BlockingTtrpcClient(path, timeout=30) as c:
                for j in range(10):
                    assert c.call(SERVICE, "Echo", SV(value=f"{i}-{j}"), SV).value == f"{i}-{j}"[::-1]
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]


def test_blocking_client_connect_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.Unavailable, match="cannot connect to ttrpc server"):
        BlockingTtrpcClient(str(tmp_path / "none.sock"), timeout=1).call(SERVICE, "Echo", SV(), SV)


def test_blocking_side_imports_no_trio() -> None:
    code = ("import sys, berth.plugins.api.ttrpc.blocking_server, berth.plugins.api.ttrpc.blocking_client;"
            "print('trio' in sys.modules, 'h2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_messages_round_trip() -> None:
    body = _messages.encode_request("s.S", "M", b"p", timeout=1.5, metadata={"K": "v"})
    req = _messages.decode_request(body)
    assert (req.service, req.method, req.payload, req.timeout_nano) == ("s.S", "M", b"p", 1_500_000_000)
    assert _messages.request_metadata(req) == {"k": "v"}
    assert _messages.decode_response(_messages.encode_response(payload=b"x"), "w") == b"x"
    with pytest.raises(errors.AlreadyExists, match="dup"):
        _messages.decode_response(_messages.encode_response(6, "dup"), "w")


