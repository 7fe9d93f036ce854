"""A blocking gRPC client for berthd (and any gRPC server on a unix socket).

Stdlib ``socket`` + h2 + protobuf; it never imports trio, and imports h2 only
when it first connects, so a CLI command that never calls out stays fast.

Example::

    from google.protobuf import empty_pb2
    from berth.plugins.api.grpc.client import Client

    with Client("/run/berth/berth.sock", namespace="default", timeout=10) as client:
        reply = client.unary("/containerd.services.version.v1.Version/Version",
                             empty_pb2.Empty(), VersionResponse)
        for batch in client.server_stream("/containerd.services.content.v1.Content/List",
                                          ListContentRequest(), ListContentResponse):
            ...

A non-OK status raises the :mod:`berth.core.errors` class for its code
(``from_grpc_code``); an unreachable daemon raises :class:`ConnectError`.
A ``Client`` is not thread-safe: use one per thread.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Generic, NoReturn, TypeVar, final

from google.protobuf.message import DecodeError, Message

from berth.core.errors import Internal
from berth.plugins.api.grpc._blocking import CallState, ConnectError, Connection, deadline_error
from berth.plugins.api.grpc._headers import encode_metadata, encode_timeout

__all__ = ["Client", "ConnectError", "ServerStream", "BidiStream"]

M = TypeVar("M", bound=Message)
_UNSET: float = -1.0
_USER_AGENT = b"berth-grpc/0.1"


def _decode(state: CallState, raw: bytes, response_type: type[M]) -> M:
    try:
        return response_type.FromString(raw)
    except DecodeError as e:
        raise Internal(f"{state.path}: cannot parse the response as {response_type.__name__}: {e}") from e


@final
class Client:
    """A connection to one gRPC server; calls are made one thread at a time.

    Args:
        address: the socket path, or ``unix:///path``.
        timeout: default deadline of each call in seconds (None: no deadline);
            also bounds connecting.
        namespace: sent as ``containerd-namespace`` on every call.
        metadata: extra metadata for every call (``-bin`` keys take bytes).
        max_recv, max_send: largest message accepted / sent.

    The connection is made on the first call and remade after the server
    closed it (an idle timeout, a restart).
    """

    def __init__(
        self,
        address: str,
        *,
        timeout: float | None = None,
        namespace: str | None = None,
        metadata: Mapping[str, str | bytes] | None = None,
        max_recv: int = 16 << 20,
        max_send: int = 16 << 20,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.namespace = namespace
        self.metadata = dict(metadata or {})
        self.max_recv = max_recv
        self.max_send = max_send
        self._conn: Connection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (open streams end with Unavailable)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def connect(self) -> None:
        """Connect now rather than on the first call.

        Raises:
            ConnectError: no server listens at the address.
            PermissionDenied: the socket is not accessible to this user.
        """
        self._connection()

    # -- plumbing -------------------------------------------------------

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is not None and not conn.calls:
            conn.poll()  # notice a GOAWAY or close that came while idle
            if conn.dead is not None or conn.goaway:
                conn.close()
                conn = self._conn = None
        if conn is None or conn.dead is not None:
            conn = self._conn = Connection(
                self.address, connect_timeout=self.timeout, max_recv=self.max_recv, max_send=self.max_send
            )
        return conn

    def _start(self, path: str, timeout: float | None, metadata: Mapping[str, str | bytes] | None) -> tuple[Connection, CallState]:
        if timeout == _UNSET:
            timeout = self.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        headers = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.encode()),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            (b"user-agent", _USER_AGENT),
        ]
        if timeout is not None:
            headers.append((b"grpc-timeout", encode_timeout(timeout)))
        merged: dict[str, str | bytes] = dict(self.metadata)
        if self.namespace:
            merged["containerd-namespace"] = self.namespace
        merged.update(metadata or {})
        headers += encode_metadata(merged)
        conn = self._connection()
        return conn, conn.open(path, headers, deadline)

    def _finish(self, conn: Connection, state: CallState) -> None:
        conn.wait_end(state)
        conn.forget(state)
        error = state.status_error()
        if error is not None:
            raise error

    def _fail(self, conn: Connection, state: CallState, exc: BaseException) -> NoReturn:
        """Cancel the call and raise what the caller should see for ``exc``."""
        conn.reset(state)
        if isinstance(exc, socket.timeout):
            raise deadline_error(state.path) from None
        raise exc

    # -- calls ----------------------------------------------------------

    def unary(
        self,
        path: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = _UNSET,
        metadata: Mapping[str, str | bytes] | None = None,
    ) -> M:
        """Call a unary method at ``path`` (``/package.Service/Method``).

        Raises:
            BerthError: the server's status (NotFound, ...), DeadlineExceeded,
                or Unavailable/ConnectError when the server is unreachable.
        """
        conn, state = self._start(path, timeout, metadata)
        try:
            conn.send(state, request.SerializeToString(), end=True)
            raw = conn.next_message(state)
            self._finish(conn, state)
        except (Exception, KeyboardInterrupt) as e:
            self._fail(conn, state, e)
        if raw is None:
            raise Internal(f"{path}: server sent no response message")
        return _decode(state, raw, response_type)

    def server_stream(
        self,
        path: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = _UNSET,
        metadata: Mapping[str, str | bytes] | None = None,
    ) -> ServerStream[M]:
        """Call a server-streaming method; iterate the result for responses.

        Close the stream (or leave its ``with`` block) to cancel the call early.
        """
        conn, state = self._start(path, timeout, metadata)
        try:
            conn.send(state, request.SerializeToString(), end=True)
        except (Exception, KeyboardInterrupt) as e:
            self._fail(conn, state, e)
        return ServerStream(self, conn, state, response_type)

    def client_stream(
        self,
        path: str,
        requests: Iterable[Message],
        response_type: type[M],
        *,
        timeout: float | None = _UNSET,
        metadata: Mapping[str, str | bytes] | None = None,
    ) -> M:
        """Call a client-streaming method: send every request, return the response."""
        conn, state = self._start(path, timeout, metadata)
        try:
            for request in requests:
                conn.send(state, request.SerializeToString(), end=False)
            conn.send(state, None, end=True)
            raw = conn.next_message(state)
            self._finish(conn, state)
        except (Exception, KeyboardInterrupt) as e:
            self._fail(conn, state, e)
        if raw is None:
            raise Internal(f"{path}: server sent no response message")
        return _decode(state, raw, response_type)

    def bidi(
        self,
        path: str,
        response_type: type[M],
        *,
        timeout: float | None = _UNSET,
        metadata: Mapping[str, str | bytes] | None = None,
    ) -> BidiStream[M]:
        """Open a bidirectional stream: ``send()`` and ``recv()`` in any order."""
        conn, state = self._start(path, timeout, metadata)
        try:
            conn.flush(state.deadline)
        except (Exception, KeyboardInterrupt) as e:
            self._fail(conn, state, e)
        return BidiStream(self, conn, state, response_type)


class _Stream(Generic[M]):
    def __init__(self, client: Client, conn: Connection, state: CallState, response_type: type[M]) -> None:
        self._client = client
        self._conn = conn
        self._state = state
        self._type = response_type
        self._done = False

    def __enter__(self) -> _Stream[M]:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __iter__(self) -> Iterator[M]:
        return self

    def __next__(self) -> M:
        message = self.recv()
        if message is None:
            raise StopIteration
        return message

    def recv(self) -> M | None:
        """The next response, or None when the call ended with OK.

        Raises:
            BerthError: the call's error status.
        """
        if self._done:
            return None
        try:
            raw = self._conn.next_message(self._state)
            if raw is None:
                self._done = True
                self._client._finish(self._conn, self._state)
                return None
        except (Exception, KeyboardInterrupt) as e:
            self._done = True
            self._client._fail(self._conn, self._state, e)
        return _decode(self._state, raw, self._type)

    def close(self) -> None:
        """Cancel the call if it is still running (sends RST_STREAM)."""
        if not self._done:
            self._done = True
            self._conn.reset(self._state)


@final
class ServerStream(_Stream[M]):
    """The responses of a server-streaming call; iterate, then it closes itself."""


@final
class BidiStream(_Stream[M]):
    """A bidirectional call: interleave :meth:`send` and :meth:`recv`."""

    def send(self, request: Message) -> None:
        """Send one request (blocks while the server's window is full).

        Raises:
            BerthError: the call already ended (its status), or the deadline passed.
        """
        try:
            self._conn.send(self._state, request.SerializeToString(), end=False)
        except (Exception, KeyboardInterrupt) as e:
            self._done = True
            self._client._fail(self._conn, self._state, e)

    def done_writing(self) -> None:
        """Half-close: tell the server no more requests come."""
        try:
            self._conn.send(self._state, None, end=True)
        except (Exception, KeyboardInterrupt) as e:
            self._done = True
            self._client._fail(self._conn, self._state, e)
