"""The trio ttrpc client: unary calls multiplexed on one connection.

Example::

    async with open_ttrpc_client("unix:///run/berth/s/abc.sock") as client:
        resp = await client.call("containerd.task.v2.Task", "State", req, StateResponse, timeout=2)
"""
from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import AsyncIterator, Mapping
from typing import TypeVar, final

import trio
from google.protobuf.message import DecodeError, Message

from berth.core.errors import DeadlineExceeded, Internal, Unavailable
from berth.plugins.api.ttrpc import _messages
from berth.plugins.api.ttrpc._framing import MAX_PAYLOAD, TYPE_REQUEST, TYPE_RESPONSE, FrameDecoder, encode_frame

__all__ = ["TtrpcClient", "open_ttrpc_client"]

M = TypeVar("M", bound=Message)


@final
class _Pending:
    __slots__ = ("done", "payload")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.payload: bytes | BaseException | None = None


@final
class TtrpcClient:
    """A ttrpc connection; make it with :func:`open_ttrpc_client`."""

    def __init__(self, sock: trio.abc.Stream, address: str) -> None:
        self._sock = sock
        self.address = address
        self._ids = itertools.count(1, 2)
        self._pending: dict[int, _Pending] = {}
        self._send, self._outbox = trio.open_memory_channel[bytes](64)
        self._closed: Unavailable | None = None

    async def call(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> M:
        """Call ``service/method`` and return its response.

        Raises:
            BerthError: the server's status (by gRPC code).
            DeadlineExceeded: no answer within ``timeout`` (also sent to the server).
            Unavailable: the connection is closed.

        Cancellation: the call is abandoned; its late answer is dropped.
        """
        if self._closed is not None:
            raise self._closed
        what = f"{service}/{method}"
        stream_id = next(self._ids)
        body = _messages.encode_request(service, method, request.SerializeToString(), timeout=timeout, metadata=metadata)
        frame = encode_frame(stream_id, TYPE_REQUEST, body)
        pending = self._pending[stream_id] = _Pending()
        try:
            with trio.move_on_after(math.inf if timeout is None else timeout):
                await self._send.send(frame)
                await pending.done.wait()
        finally:
            self._pending.pop(stream_id, None)
        if not pending.done.is_set():
            raise DeadlineExceeded(f"{what}: context deadline exceeded")
        if isinstance(pending.payload, BaseException):
            raise pending.payload
        payload = _messages.decode_response(pending.payload or b"", what)
        try:
            return response_type.FromString(payload)
        except DecodeError as e:
            raise Internal(f"{what}: cannot parse the response as {response_type.__name__}: {e}") from e

    def _fail_all(self, error: Unavailable) -> None:
        self._closed = self._closed or error
        for pending in self._pending.values():
            pending.payload = error
            pending.done.set()

    async def _reader(self) -> None:
        decoder = FrameDecoder()
        try:
            while data := await self._sock.receive_some(65536):
                for frame in decoder.feed(data):
                    pending = self._pending.get(frame.stream_id)
                    if frame.type != TYPE_RESPONSE or pending is None:
                        continue
                    if frame.oversized:
                        pending.payload = _messages.encode_response(
                            8, f"ttrpc: response of {frame.length} bytes exceeds the maximum of {MAX_PAYLOAD}")
                    else:
                        pending.payload = frame.payload
                    pending.done.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        self._fail_all(Unavailable(f"ttrpc connection to {self.address} closed"))

    async def _writer(self) -> None:
        try:
            async for frame in self._outbox:
                await self._sock.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            self._fail_all(Unavailable(f"ttrpc connection to {self.address} lost"))


@contextlib.asynccontextmanager
async def open_ttrpc_client(address: str) -> AsyncIterator[TtrpcClient]:
    """Connect to a ttrpc server on a unix socket (``/path`` or ``unix:///path``).

    Raises:
        Unavailable: nothing listens there.

    Resource handling: the connection and its tasks end with the block.
    """
    path = address[len("unix://"):] if address.startswith("unix://") else address
    try:
        sock = await trio.open_unix_socket(path)
    except OSError as e:
        raise Unavailable(f"cannot connect to ttrpc server at {address}: {e.strerror or e}") from e
    client = TtrpcClient(sock, address)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._reader)
            nursery.start_soon(client._writer)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # Only the caller's block can raise here (the tasks catch their
        # errors); hand its exception back unwrapped.
        if len(group.exceptions) == 1:
            inner = group.exceptions[0]
            raise inner from inner.__cause__
        raise
    finally:
        client._fail_all(Unavailable(f"ttrpc connection to {address} closed"))
        with trio.CancelScope(shield=True):
            await sock.aclose()
