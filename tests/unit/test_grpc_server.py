"""The trio gRPC server, driven through real unix sockets by grpcio (an
independent implementation) and by berth's blocking client."""
from __future__ import annotations

import functools
import os
import pathlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import grpc
import pytest
import trio
from google.protobuf import empty_pb2, wrappers_pb2

from berth.core import errors, namespaces
from berth.core.rpc import Call, Kind, Method, RpcService
from berth.plugins.api.grpc.client import Client
from berth.plugins.api.grpc.server import serve_grpc

SV = wrappers_pb2.StringValue
SERVICE = "berth.test.v1.Echo"


class EchoService:
    """A service exercising every handler shape; records what it saw."""

    service_name = SERVICE

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.started = threading.Event()
        self.seen_metadata: dict[str, str] = {}

    def methods(self) -> Sequence[Method]:
        m = functools.partial(Method, request=SV, response=SV)
        return [
            m(name="Unary", kind=Kind.UNARY, handler=self.unary),
            m(name="Fail", kind=Kind.UNARY, handler=self.fail),
            m(name="Boom", kind=Kind.UNARY, handler=self.boom),
            m(name="Namespace", kind=Kind.UNARY, handler=self.namespace),
            m(name="Metadata", kind=Kind.UNARY, handler=self.metadata),
            m(name="Sleep", kind=Kind.UNARY, handler=self.sleep),
            m(name="Big", kind=Kind.UNARY, handler=self.big),
            m(name="WrongType", kind=Kind.UNARY, handler=self.wrong_type),
            m(name="Count", kind=Kind.SERVER_STREAM, handler=self.count),
            m(name="Forever", kind=Kind.SERVER_STREAM, handler=self.forever),
            m(name="Join", kind=Kind.CLIENT_STREAM, handler=self.join),
            m(name="Chat", kind=Kind.BIDI, handler=self.chat),
        ]

    async def unary(self, request: SV, call: Call) -> SV:
        return SV(value="echo:" + request.value)

    async def fail(self, request: SV, call: Call) -> SV:
        raise errors.NotFound(request.value)

    async def boom(self, request: SV, call: Call) -> SV:
        raise ValueError("kaboom")

    async def namespace(self, request: SV, call: Call) -> SV:
        return SV(value=namespaces.current())

    async def metadata(self, request: SV, call: Call) -> SV:
        self.seen_metadata = dict(call.metadata)
        return SV(value=f"{call.deadline is not None}")

    async def sleep(self, request: SV, call: Call) -> SV:
        self.started.set()
        try:
            await trio.sleep(float(request.value))
        except trio.Cancelled:
            self.cancelled.set()
            raise
        return SV(value="slept")

    async def big(self, request: SV, call: Call) -> SV:
        return SV(value="x" * int(request.value))

    async def wrong_type(self, request: SV, call: Call) -> Any:
        return empty_pb2.Empty()

    async def count(self, request: SV, call: Call) -> AsyncIterator[SV]:
        n, _, size = request.value.partition(":")
        for i in range(int(n)):
            yield SV(value=f"{i}:" + "y" * int(size or 0))

    async def forever(self, request: SV, call: Call) -> AsyncIterator[SV]:
        self.started.set()
        try:
            i = 0
            while True:
                yield SV(value=f"{i}:" + "z" * 65536)
                i += 1
        finally:
            # Cancelled while sending (in the transport) the generator is
            # closed at its yield: GeneratorExit, not Cancelled.
            self.cancelled.set()

    async def join(self, requests: AsyncIterator[SV], call: Call) -> SV:
        parts = [r.value async for r in requests]
        if "fail" in parts:
            raise errors.InvalidArgument("fail requested")
        total = sum(map(len, parts))
        return SV(value=",".join(parts) if total < 1000 else f"{len(parts)}:{total}")

    async def chat(self, requests: AsyncIterator[SV], call: Call) -> AsyncIterator[SV]:
        async for r in requests:
            yield SV(value=r.value.upper())


class ServerThread:
    """Runs ``serve_grpc`` in a thread with its own trio run."""

    def __init__(self, address: str, services: Sequence[RpcService], **kwargs: Any) -> None:
        self.address = address
        self.services = services
        self.kwargs = kwargs
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as e:  # surfaced in __enter__/__exit__
            self._error = e
            self._ready.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._scope = nursery.cancel_scope
            await nursery.start(functools.partial(serve_grpc, self.address, self.services,
                                                  uid=None, gid=None, **self.kwargs))
            self._ready.set()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._error is None:
            trio.from_thread.run_sync(self._scope.cancel, trio_token=self._token)
        self._thread.join(10)
        assert not self._thread.is_alive(), "server did not stop"
        if self._error is not None:
            raise self._error


@pytest.fixture
def sock_path(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / "run" / "berth.sock")


@pytest.fixture
def echo() -> EchoService:
    return EchoService()


@pytest.fixture
def server(sock_path: str, echo: EchoService) -> Iterator[ServerThread]:
    with ServerThread(sock_path, [echo], handshake_timeout=2.0) as s:
        yield s


def _channel(path: str, **options: Any) -> grpc.Channel:
    opts = [("grpc.max_receive_message_length", 32 << 20), ("grpc.max_send_message_length", 32 << 20)]
    return grpc.insecure_channel(f"unix://{path}", options=opts)


def _unary(channel: grpc.Channel, method: str) -> Callable[..., SV]:
    return channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=SV.SerializeToString,
                               response_deserializer=SV.FromString)


# -- grpcio client -> berth server -------------------------------------------


def test_grpcio_unary_round_trip(server: ServerThread, sock_path: str) -> None:
    with _channel(sock_path) as ch:
        assert _unary(ch, "Unary")(SV(value="hi"), timeout=10).value == "echo:hi"
        assert _unary(ch, "Unary")(SV(value=""), timeout=10).value == "echo:"


def test_socket_mode_and_cleanup(sock_path: str, echo: EchoService) -> None:
    with ServerThread(sock_path, [echo], mode=0o600):
        assert os.stat(sock_path).st_mode & 0o777 == 0o600
    assert not os.path.exists(sock_path)


def test_stale_socket_is_replaced(sock_path: str, echo: EchoService) -> None:
    os.makedirs(os.path.dirname(sock_path))
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(sock_path)
    stale.close()
    with ServerThread(sock_path, [echo]), Client(sock_path, timeout=10) as c:
        assert c.unary(f"/{SERVICE}/Unary", SV(value="a"), SV).value == "echo:a"


def test_too_long_path_is_a_clear_error(tmp_path: pathlib.Path, echo: EchoService) -> None:
    path = str(tmp_path / ("x" * 120) / "s.sock")
    with pytest.raises(errors.InvalidArgument, match="longer than the 107"):
        trio.run(functools.partial(serve_grpc, path, [echo], uid=None, gid=None))


def test_grpcio_errors_map_codes(server: ServerThread, sock_path: str) -> None:
    with _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Fail")(SV(value='thing "x": not found'), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert info.value.details() == 'thing "x": not found'
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Boom")(SV(), timeout=10)
        assert info.value.code() == grpc.StatusCode.INTERNAL
        assert "kaboom" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "WrongType")(SV(), timeout=10)
        assert info.value.code() == grpc.StatusCode.INTERNAL


def test_grpcio_unknown_service_and_method(server: ServerThread, sock_path: str) -> None:
    with _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary("/no.Such/Thing")(b"", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert info.value.details() == "unknown service no.Such"
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary(f"/{SERVICE}/Nope")(b"", timeout=10)
        assert info.value.details() == f"unknown method Nope for service {SERVICE}"


def test_grpcio_unicode_message_percent_encoded(server: ServerThread, sock_path: str) -> None:
    text = "blob «ünïcødé» 100% ✓ not found\nnext line"
    with _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Fail")(SV(value=text), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == text


def test_grpcio_namespace_and_metadata(server: ServerThread, sock_path: str, echo: EchoService) -> None:
    with _channel(sock_path) as ch:
        ns = _unary(ch, "Namespace")
        assert ns(SV(), metadata=[("containerd-namespace", "k8s.io")], timeout=10).value == "k8s.io"
        with pytest.raises(grpc.RpcError) as info:
            ns(SV(), timeout=10)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.RpcError) as info:
            ns(SV(), metadata=[("containerd-namespace", "Bad_NS!")], timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        reply = _unary(ch, "Metadata")(
            SV(), metadata=[("x-thing", "v1"), ("blob-bin", b"\x00\xffraw")], timeout=10
        )
    assert reply.value == "True"
    assert echo.seen_metadata["x-thing"] == "v1"
    assert echo.seen_metadata["blob-bin"].encode("utf-8", "surrogateescape") == b"\x00\xffraw"
    assert "grpc-timeout" not in echo.seen_metadata


def test_grpcio_server_stream(server: ServerThread, sock_path: str) -> None:
    with _channel(sock_path) as ch:
        stream = ch.unary_stream(f"/{SERVICE}/Count", request_serializer=SV.SerializeToString,
                                 response_deserializer=SV.FromString)
        got = [r.value for r in stream(SV(value="5"), timeout=10)]
        assert got == ["0:", "1:", "2:", "3:", "4:"]
        assert list(stream(SV(value="0"), timeout=10)) == []
        # Large: 40 messages of 1 MiB go through flow control both ways.
        total = sum(len(r.value) for r in stream(SV(value=f"40:{1 << 20}"), timeout=60))
        assert total == 40 * (1 << 20) + sum(len(f"{i}:") for i in range(40))


def test_grpcio_client_stream_and_bidi(server: ServerThread, sock_path: str) -> None:
    with _channel(sock_path) as ch:
        join = ch.stream_unary(f"/{SERVICE}/Join", request_serializer=SV.SerializeToString,
                               response_deserializer=SV.FromString)
        assert join(iter([SV(value="a"), SV(value="b"), SV(value="c")]), timeout=10).value == "a,b,c"
        big = (SV(value="q" * (1 << 20)) for _ in range(30))
        assert join(big, timeout=60).value == f"30:{30 << 20}"
        with pytest.raises(grpc.RpcError) as info:
            join(iter([SV(value="fail")]), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        chat = ch.stream_stream(f"/{SERVICE}/Chat", request_serializer=SV.SerializeToString,
                                response_deserializer=SV.FromString)
        assert [r.value for r in chat(iter([SV(value="x"), SV(value="yz")]), timeout=10)] == ["X", "YZ"]


def test_grpcio_deadline_cancels_handler(server: ServerThread, sock_path: str, echo: EchoService) -> None:
    with _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Sleep")(SV(value="30"), timeout=0.3)
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert echo.cancelled.wait(10)
        assert _unary(ch, "Unary")(SV(value="after"), timeout=10).value == "echo:after"


def test_grpcio_cancel_mid_stream_keeps_connection(server: ServerThread, sock_path: str, echo: EchoService) -> None:
    with _channel(sock_path) as ch:
        forever = ch.unary_stream(f"/{SERVICE}/Forever", request_serializer=SV.SerializeToString,
                                  response_deserializer=SV.FromString)
        for round_ in range(20):
            echo.cancelled.clear()
            call = forever(SV(), timeout=30)
            for _, _r in zip(range(5 + round_), call):
                pass
            call.cancel()
            assert echo.cancelled.wait(10)
        assert _unary(ch, "Unary")(SV(value="still"), timeout=10).value == "echo:still"


def test_grpcio_oversized_request_is_resource_exhausted(sock_path: str, echo: EchoService) -> None:
    with ServerThread(sock_path, [echo], max_recv=1 << 20), _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Unary")(SV(value="x" * (2 << 20)), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert _unary(ch, "Unary")(SV(value="ok"), timeout=10).value == "echo:ok"


def test_grpcio_oversized_response_is_resource_exhausted(sock_path: str, echo: EchoService) -> None:
    with ServerThread(sock_path, [echo], max_send=1 << 20), _channel(sock_path) as ch:
        with pytest.raises(grpc.RpcError) as info:
            _unary(ch, "Big")(SV(value=str(2 << 20)), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert len(_unary(ch, "Big")(SV(value=str(1000)), timeout=10).value) == 1000


def test_fifty_concurrent_clients(server: ServerThread, sock_path: str) -> None:
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with _channel(sock_path) as ch:
                for j in range(5):
                    assert _unary(ch, "Unary")(SV(value=f"{i}.{j}"), timeout=30).value == f"echo:{i}.{j}"
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]


# -- hostile peers: the server keeps answering ---------------------------------


def _raw(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    return s


def _still_serves(path: str) -> None:
    with Client(path, timeout=10) as c:
        assert c.unary(f"/{SERVICE}/Unary", SV(value="alive"), SV).value == "echo:alive"


def _read_until_closed(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def test_garbage_bytes_close_the_connection(server: ServerThread, sock_path: str) -> None:
    with _raw(sock_path) as s:
        s.sendall(os.urandom(4096))
        _read_until_closed(s)  # the server closes it
    _still_serves(sock_path)


def test_http1_request_closes_the_connection(server: ServerThread, sock_path: str) -> None:
    with _raw(sock_path) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _read_until_closed(s)
    _still_serves(sock_path)


def test_garbage_after_preface_is_a_protocol_error(server: ServerThread, sock_path: str) -> None:
    with _raw(sock_path) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 64)
        _read_until_closed(s)
    _still_serves(sock_path)


def test_silent_client_is_dropped_after_handshake_timeout(server: ServerThread, sock_path: str) -> None:
    # handshake_timeout is 2 s in the fixture.
    with _raw(sock_path) as s:
        s.sendall(b"PRI * HTTP/2")  # stops mid-preface
        _still_serves(sock_path)  # meanwhile others are served
        _read_until_closed(s)  # and then it is closed


def test_idle_connection_gets_goaway(sock_path: str, echo: EchoService) -> None:
    with ServerThread(sock_path, [echo], idle_timeout=0.5), Client(sock_path, timeout=10) as c:
        assert c.unary(f"/{SERVICE}/Unary", SV(value="1"), SV).value == "echo:1"
        threading.Event().wait(1.5)
        # The client notices the GOAWAY/close and reconnects on its own.
        assert c.unary(f"/{SERVICE}/Unary", SV(value="2"), SV).value == "echo:2"
