"""The blocking gRPC client, against berth's trio server and against grpcio's
own server (an independent HTTP/2 implementation)."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from test_grpc_server import SERVICE, SV, EchoService, ServerThread

from berth.core import errors
from berth.plugins.api.grpc._headers import encode_timeout, parse_timeout, percent_decode, percent_encode
from berth.plugins.api.grpc.client import Client, ConnectError


@pytest.fixture
def berth_server(tmp_path: pathlib.Path) -> Iterator[tuple[str, EchoService]]:
    path = str(tmp_path / "berth.sock")
    echo = EchoService()
    with ServerThread(path, [echo]):
        yield path, echo


def P(method: str) -> str:
    return f"/{SERVICE}/{method}"


def test_unary_and_errors(berth_server: tuple[str, EchoService]) -> None:
    path, _ = berth_server
    with Client(path, timeout=10, namespace="ns1") as c:
        assert c.unary(P("Unary"), SV(value="a"), SV).value == "echo:a"
        assert c.unary(P("Namespace"), SV(), SV).value == "ns1"
        with pytest.raises(errors.NotFound, match="^gone «ü» 100%$"):
            c.unary(P("Fail"), SV(value="gone «ü» 100%"), SV)
        with pytest.raises(errors.Internal, match="kaboom"):
            c.unary(P("Boom"), SV(), SV)
        with pytest.raises(errors.NotImplemented_, match="unknown method Nope"):
            c.unary(P("Nope"), SV(), SV)
        # The connection survived every error.
        assert c.unary(P("Unary"), SV(value="b"), SV).value == "echo:b"
    with Client(path, timeout=10) as c, pytest.raises(errors.FailedPrecondition, match="namespace is required"):
        c.unary(P("Namespace"), SV(), SV)


def test_metadata_sent(berth_server: tuple[str, EchoService]) -> None:
    path, echo = berth_server
    with Client(path, timeout=10, metadata={"x-a": "1"}) as c:
        assert c.unary(P("Metadata"), SV(), SV, metadata={"raw-bin": b"\x00\x01\xfe"}).value == "True"
    assert echo.seen_metadata["x-a"] == "1"
    assert echo.seen_metadata["raw-bin"].encode("utf-8", "surrogateescape") == b"\x00\x01\xfe"
    assert echo.seen_metadata["user-agent"].startswith("berth-grpc/")


def test_streams(berth_server: tuple[str, EchoService]) -> None:
    path, _ = berth_server
    with Client(path, timeout=60) as c:
        assert [r.value for r in c.server_stream(P("Count"), SV(value="3"), SV)] == ["0:", "1:", "2:"]
        total = sum(len(r.value) for r in c.server_stream(P("Count"), SV(value=f"30:{1 << 20}"), SV))
        assert total == 30 * (1 << 20) + sum(len(f"{i}:") for i in range(30))
        big = (SV(value="q" * (1 << 20)) for _ in range(30))
        assert c.client_stream(P("Join"), big, SV).value == f"30:{30 << 20}"
        with pytest.raises(errors.InvalidArgument, match="fail requested"):
            c.client_stream(P("Join"), [SV(value="fail")], SV)
        with c.bidi(P("Chat"), SV) as chat:
            for word in ["one", "two", "three"]:
                chat.send(SV(value=word))
                assert chat.recv() == SV(value=word.upper())
            chat.done_writing()
            assert chat.recv() is None


def test_close_server_stream_cancels_handler(berth_server: tuple[str, EchoService]) -> None:
    path, echo = berth_server
    with Client(path, timeout=30) as c:
        for _ in range(10):
            echo.cancelled.clear()
            with c.server_stream(P("Forever"), SV(), SV) as stream:
                for _, _r in zip(range(3), stream):
                    pass
            assert echo.cancelled.wait(10)
        assert c.unary(P("Unary"), SV(value="z"), SV).value == "echo:z"


def test_deadline(berth_server: tuple[str, EchoService]) -> None:
    path, echo = berth_server
    with Client(path) as c:
        with pytest.raises(errors.DeadlineExceeded):
            c.unary(P("Sleep"), SV(value="30"), SV, timeout=0.3)
        assert echo.cancelled.wait(10)
        assert c.unary(P("Sleep"), SV(value="0"), SV, timeout=10).value == "slept"


def test_oversized_response_rejected_by_client(berth_server: tuple[str, EchoService]) -> None:
    path, _ = berth_server
    with Client(path, timeout=10, max_recv=1000) as c:
        with pytest.raises(errors.ResourceExhausted, match="larger than max"):
            c.unary(P("Big"), SV(value="5000"), SV)
        assert c.unary(P("Big"), SV(value="10"), SV).value == "x" * 10


def test_connect_error(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "none.sock")
    with pytest.raises(ConnectError) as info:
        Client(path, timeout=1).unary(P("Unary"), SV(), SV)
    assert str(info.value) == f"cannot connect to berthd at {path} (is it running?)"
    assert isinstance(info.value, errors.Unavailable)


def test_import_is_cheap() -> None:
    code = "import sys, berth.plugins.api.grpc.client; print('trio' in sys.modules, 'h2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# -- berth client -> grpcio server ---------------------------------------------


class _GrpcioEcho(grpc.GenericRpcHandler):
    def service(self, details: Any) -> Any:
        method = details.method
        ser, de = SV.SerializeToString, SV.FromString

        if method == P("Unary"):
            return grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: SV(value="grpcio:" + req.value), request_deserializer=de, response_serializer=ser)
        if method == P("Fail"):
            def fail(req: SV, ctx: grpc.ServicerContext) -> SV:
                ctx.abort(grpc.StatusCode.ALREADY_EXISTS, req.value)
            return grpc.unary_unary_rpc_method_handler(fail, request_deserializer=de, response_serializer=ser)
        if method == P("Count"):
            def count(req: SV, ctx: grpc.ServicerContext) -> Iterator[SV]:
                for i in range(int(req.value)):
                    yield SV(value=str(i) * 1000)
            return grpc.unary_stream_rpc_method_handler(count, request_deserializer=de, response_serializer=ser)
        if method == P("Join"):
            return grpc.stream_unary_rpc_method_handler(
                lambda reqs, ctx: SV(value=str(sum(len(r.value) for r in reqs))),
                request_deserializer=de, response_serializer=ser)
        if method == P("Chat"):
            return grpc.stream_stream_rpc_method_handler(
                lambda reqs, ctx: (SV(value=r.value[::-1]) for r in reqs),
                request_deserializer=de, response_serializer=ser)
        if method == P("Namespace"):
            def ns(req: SV, ctx: grpc.ServicerContext) -> SV:
                return SV(value=dict(ctx.invocation_metadata()).get("containerd-namespace", ""))
            return grpc.unary_unary_rpc_method_handler(ns, request_deserializer=de, response_serializer=ser)
        return None


@pytest.fixture
def grpcio_server(tmp_path: pathlib.Path) -> Iterator[str]:
    path = str(tmp_path / "grpcio.sock")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", 64 << 20)])
    server.add_generic_rpc_handlers([_GrpcioEcho()])
    server.add_insecure_port(f"unix://{path}")
    server.start()
    try:
        yield path
    finally:
        server.stop(None).wait(10)


def test_client_against_grpcio_server(grpcio_server: str) -> None:
    with Client(grpcio_server, timeout=30, namespace="other") as c:
        assert c.unary(P("Unary"), SV(value="x"), SV).value == "grpcio:x"
        assert c.unary(P("Namespace"), SV(), SV).value == "other"
        with pytest.raises(errors.AlreadyExists, match="dup ✓"):
            c.unary(P("Fail"), SV(value="dup ✓"), SV)
        with pytest.raises(errors.NotImplemented_):
            c.unary(P("Missing"), SV(), SV)
        assert len(list(c.server_stream(P("Count"), SV(value="2000"), SV))) == 2000
        big = [SV(value="k" * (4 << 20)) for _ in range(8)]
        assert c.client_stream(P("Join"), big, SV).value == str(32 << 20)
        with c.bidi(P("Chat"), SV) as chat:
            chat.send(SV(value="abc"))
            assert chat.recv() == SV(value="cba")
            chat.send(SV(value="xyz"))
            assert chat.recv() == SV(value="zyx")
            chat.done_writing()
            assert list(chat) == []


def test_concurrent_clients_against_berth(berth_server: tuple[str, EchoService]) -> None:
    path, _ = berth_server
    failures: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            with Client(path, timeout=30) as c:
                for j in range(5):
                    assert c.unary(P("Unary"), SV(value=f"{i}/{j}"), SV).value == f"echo:{i}/{j}"
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]


# -- sans-IO header helpers -----------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [(b"1H", 3600), (b"2M", 120), (b"3S", 3), (b"100m", 0.1), (b"250u", 250e-6), (b"99999999n", 0.099999999)],
)
def test_parse_timeout(raw: bytes, seconds: float) -> None:
    assert parse_timeout(raw) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", [b"", b"1", b"S", b"123456789S", b"1s", b"-1S", b"1.5S"])
def test_parse_timeout_rejects(raw: bytes) -> None:
    with pytest.raises(ValueError, match="malformed grpc-timeout"):
        parse_timeout(raw)


@pytest.mark.parametrize("seconds", [0.001, 0.3, 1, 10, 3600, 1e7])
def test_encode_timeout_round_trip(seconds: float) -> None:
    raw = encode_timeout(seconds)
    assert len(raw) <= 9
    assert parse_timeout(raw) >= seconds
    assert parse_timeout(raw) <= seconds * 1.0001 + 1e-9


def test_percent_encoding() -> None:
    assert percent_encode("a b%c") == b"a b%25c"
    assert percent_encode("ü\n") == b"%C3%BC%0A"
    assert percent_decode(b"%C3%BC%0A100%25") == "ü\n100%"
    assert percent_decode(b"bad %zz %4") == "bad %zz %4"
