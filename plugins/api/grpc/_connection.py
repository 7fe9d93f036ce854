"""One gRPC server connection: h2 state, a reader, a writer, a task per stream.

Shape (the fix for wire-compat.md pitfall #1)::

    reader task ──receive_some──> h2.receive_data ──events──> streams
    stream tasks ──h2.send_*──> (h2 buffer) ──wake──> writer task ──send_all──> socket

Only the writer writes to the socket, and no per-RPC cancel scope covers
it, so a cancelled handler can never leave half a frame on the wire. Each h2
call a handler makes is synchronous and whole, so h2's view and the bytes
sent always agree.

Flow control, inbound: the connection window is returned as soon as bytes
arrive; a stream's window only once its complete messages buffered for the
handler are under :data:`_INBOX_HIGH` (bytes of a partial message are
returned at once, so a message larger than the window cannot deadlock).
Outbound: a handler waits for window (woken by WINDOW_UPDATE and SETTINGS)
and for the writer's backlog to fall under :data:`_BACKLOG_HIGH`.
"""
from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
from typing import final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import trio

from berth.core.errors import BerthError, DeadlineExceeded, Internal
from berth.core.rpc import Kind
from berth.plugins.api.grpc._dispatch import dispatch
from berth.plugins.api.grpc._framing import FrameLengthGuard, MessageDecoder, encode_message
from berth.plugins.api.grpc._headers import decode_metadata, parse_timeout, status_headers
from berth.plugins.api.grpc._routing import Router, RpcCall, call_namespace, status_of

__all__ = ["Limits", "serve_connection"]

logger = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_STREAM_WINDOW = 1 << 20
_CONN_WINDOW = 16 << 20
_ACK_THRESHOLD = 32 << 10  # below half of the 64 KiB window in force before our SETTINGS are acked
_CONN_ACK_THRESHOLD = 1 << 20
_INBOX_HIGH = 1 << 20
_BACKLOG_HIGH = 1 << 20
_FLUSH_TIMEOUT = 5.0
_NO_ERROR = 0
_CANCEL = 8


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Per-connection limits of a gRPC server."""

    max_recv: int = 16 << 20
    max_send: int = 16 << 20
    handshake_timeout: float = 10.0
    #: Close a connection with no open stream after this long (GOAWAY first).
    idle_timeout: float | None = 300.0
    max_concurrent_streams: int = 1000


class _StreamGone(Exception):
    """The client reset the stream (or the connection is going away)."""


class _Wakeup:
    """Wake every current waiter; waiters re-check their condition."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = trio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()


@final
class _Stream:
    """One request stream: inbound messages, flags, and the handler's scope."""

    def __init__(self, conn: _Connection, stream_id: int, max_recv: int) -> None:
        self.conn = conn
        self.id = stream_id
        self.decoder = MessageDecoder(max_recv)
        self.inbox: collections.deque[bytes] = collections.deque()
        self.inbox_bytes = 0
        self.unacked = 0
        self.remote_closed = False
        self.reset = False
        self.error: BerthError | None = None
        self.headers_sent = False
        self.partial = False
        #: The handler sends one response and then the status (unary,
        #: client-streaming): no schedule point between them, so headers,
        #: message and trailers leave in one write.
        self.single_response = False
        self.scope = trio.CancelScope()
        self._readable = trio.Event()

    def wake(self) -> None:
        self._readable.set()

    async def receive(self) -> bytes | None:
        """The next request message, or None once the client half-closed."""
        if self.inbox:
            # Usually the whole request came with its headers: take it
            # without another pass through the scheduler.
            await trio.lowlevel.checkpoint_if_cancelled()
        else:
            await trio.lowlevel.checkpoint()
        while True:
            if self.error is not None:
                raise self.error
            if self.inbox:
                message = self.inbox.popleft()
                self.inbox_bytes -= len(message)
                self.conn.maybe_ack(self)
                return message
            if self.reset:
                raise _StreamGone()
            if self.remote_closed:
                if not self.decoder.at_boundary:
                    raise Internal("grpc: client ended the stream in the middle of a message")
                return None
            self._readable = trio.Event()
            await self._readable.wait()

    async def send(self, payload: bytes) -> None:
        """Send one response message, waiting for flow-control window."""
        await self.conn.send_message(
            self, encode_message(payload, max_size=self.conn.limits.max_send), last=self.single_response
        )


@final
class _Connection:
    def __init__(self, sock: trio.abc.Stream, router: Router, limits: Limits) -> None:
        self.sock = sock
        self.router = router
        self.limits = limits
        # Our outgoing headers are a few fixed, well-formed names; h2's
        # per-header validation of them costs ~15% of a unary call.
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=False,
                header_encoding=None,
                validate_outbound_headers=False,
                normalize_outbound_headers=False,
            )
        )
        self.streams: dict[int, _Stream] = {}
        self._wake_writer = trio.Event()
        self._window = _Wakeup()
        self._drained = _Wakeup()
        self._backlog = 0
        self._in_flight = 0
        self._conn_unacked = 0
        self._closing = False
        self._writer_done = trio.Event()
        self._handlers: trio.Nursery | None = None
        self._guard = FrameLengthGuard(self.h2.local_settings.max_frame_size)

    # -- writer ---------------------------------------------------------

    def wake_writer(self) -> None:
        self._wake_writer.set()

    async def _writer(self, outer: trio.CancelScope) -> None:
        try:
            while True:
                await self._wake_writer.wait()
                self._wake_writer = trio.Event()
                data = self.h2.data_to_send()
                self._backlog = 0
                if data:
                    self._in_flight = len(data)
                    await self.sock.send_all(data)
                    self._in_flight = 0
                    self._drained.fire()
                elif self._closing:
                    return
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            logger.debug("grpc: connection lost while writing: %s", e)
            outer.cancel()
        finally:
            self._writer_done.set()

    # -- outbound -------------------------------------------------------

    def _h2_call(self, stream: _Stream, fn: str, *args: object, **kwargs: object) -> None:
        try:
            getattr(self.h2, fn)(*args, **kwargs)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError) as e:
            stream.reset = True
            raise _StreamGone() from e
        self.wake_writer()

    def _send_headers(self, stream: _Stream) -> None:
        if not stream.headers_sent:
            stream.headers_sent = True
            self._h2_call(stream, "send_headers", stream.id, [(b":status", b"200"), (b"content-type", b"application/grpc")])

    def _pending(self) -> bool:
        """Whether h2 holds bytes for the writer (True if h2 hides that)."""
        return bool(getattr(self.h2, "_data_to_send", True))

    async def send_message(self, stream: _Stream, data: bytes, *, last: bool = False) -> None:
        if stream.reset:
            raise _StreamGone()
        self._send_headers(stream)
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            if stream.reset:
                raise _StreamGone()
            if self._backlog + self._in_flight > _BACKLOG_HIGH:
                await self._drained.wait()
                continue
            try:
                window = min(self.h2.local_flow_control_window(stream.id), self.h2.max_outbound_frame_size)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError) as e:
                stream.reset = True
                raise _StreamGone() from e
            if window <= 0:
                await self._window.wait()
                continue
            chunk = view[sent : sent + window]
            stream.partial = True
            self._h2_call(stream, "send_data", stream.id, chunk.tobytes())
            sent += len(chunk)
            self._backlog += len(chunk)
        stream.partial = False
        if not last:
            await trio.lowlevel.checkpoint()

    def finish(self, stream: _Stream, code: int, message: str) -> None:
        """End the stream with a status (never after the client reset it)."""
        if stream.reset:
            return
        try:
            if stream.partial:
                # Half a message is on the wire; trailers now would corrupt it.
                self._h2_call(stream, "reset_stream", stream.id, _CANCEL)
                return
            headers = status_headers(code, message, trailers_only=not stream.headers_sent)
            self._h2_call(stream, "send_headers", stream.id, headers, end_stream=True)
            if not stream.remote_closed:
                # Tell the client to stop sending, as grpc-go does.
                self._h2_call(stream, "reset_stream", stream.id, _NO_ERROR)
        except _StreamGone:
            pass

    # -- inbound --------------------------------------------------------

    def maybe_ack(self, stream: _Stream) -> None:
        if stream.unacked >= _ACK_THRESHOLD and stream.inbox_bytes <= _INBOX_HIGH and not stream.remote_closed:
            amount, stream.unacked = stream.unacked, 0
            try:
                self.h2.increment_flow_control_window(amount, stream_id=stream.id)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                return
            self.wake_writer()

    def _on_data(self, event: h2.events.DataReceived) -> None:
        length = event.flow_controlled_length or 0
        self._conn_unacked += length
        if self._conn_unacked >= _CONN_ACK_THRESHOLD:
            amount, self._conn_unacked = self._conn_unacked, 0
            self.h2.increment_flow_control_window(amount)
        stream = self.streams.get(event.stream_id or 0)
        if stream is None or stream.error is not None:
            return
        stream.unacked += length
        try:
            messages = stream.decoder.feed(event.data or b"")
        except BerthError as e:
            stream.error = e
            stream.scope.cancel()
            stream.wake()
            return
        for message in messages:
            stream.inbox.append(message)
            stream.inbox_bytes += len(message)
        self.maybe_ack(stream)
        stream.wake()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id or 0
        headers = list(event.headers or [])
        pseudo = {k: v for k, v in headers if k.startswith(b":")}
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        if pseudo.get(b":method") != b"POST" or not content_type.startswith(b"application/grpc"):
            # Not gRPC: answer in plain HTTP, as grpc-go does.
            status = b"405" if pseudo.get(b":method") != b"POST" else b"415"
            try:
                self.h2.send_headers(stream_id, [(b":status", status)], end_stream=True)
            except h2.exceptions.ProtocolError:
                pass
            return
        stream = _Stream(self, stream_id, self.limits.max_recv)
        self.streams[stream_id] = stream
        assert self._handlers is not None
        self._handlers.start_soon(self._run_stream, stream, headers)

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self._on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self._on_data(event)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.remote_closed = True
                stream.wake()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.reset = True
                stream.scope.cancel()
                stream.wake()
            self._window.fire()
        elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
            self._window.fire()

    async def _receive(self) -> bytes:
        try:
            return await self.sock.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return b""

    async def _handshake(self) -> bool:
        """Read the client preface (bounded by the handshake timeout)."""
        buffer = b""
        with trio.move_on_after(self.limits.handshake_timeout):
            while len(buffer) < len(PREFACE):
                data = await self._receive()
                if not data:
                    return False
                buffer += data
                n = min(len(buffer), len(PREFACE))
                if buffer[:n] != PREFACE[:n]:
                    logger.debug("grpc: closing a connection that is not HTTP/2 (first bytes %r)", buffer[:16])
                    return False
            return self._feed(buffer, preface=True)
        logger.debug("grpc: closing a connection that sent no preface in %ss", self.limits.handshake_timeout)
        return False

    def _feed(self, data: bytes, *, preface: bool = False) -> bool:
        try:
            self._guard.feed(data[len(PREFACE):] if preface else data)
        except ValueError as e:
            logger.debug("grpc: closing connection: %s", e)
            self.h2.close_connection(h2.errors.ErrorCodes.FRAME_SIZE_ERROR)
            self.wake_writer()
            return False
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            # h2 has queued a GOAWAY; the writer flushes it before we close.
            logger.debug("grpc: protocol error from client: %s", e)
            self.wake_writer()
            return False
        for event in events:
            self._handle(event)
        if self._pending():
            self.wake_writer()
        return True

    async def _reader(self) -> None:
        if not await self._handshake():
            return
        while True:
            idle = self.limits.idle_timeout if not self.streams and self.limits.idle_timeout else math.inf
            with trio.move_on_after(idle) as scope:
                data = await self._receive()
            if scope.cancelled_caught:
                self.h2.close_connection(_NO_ERROR)
                self.wake_writer()
                return
            if not data or not self._feed(data):
                return

    # -- streams --------------------------------------------------------

    async def _run_stream(self, stream: _Stream, headers: list[tuple[bytes, bytes]]) -> None:
        try:
            await self._serve_stream(stream, headers)
        except _StreamGone:
            pass
        except Exception:
            logger.exception("grpc: stream %d failed", stream.id)
        finally:
            self.streams.pop(stream.id, None)

    async def _serve_stream(self, stream: _Stream, headers: list[tuple[bytes, bytes]]) -> None:
        path = next((v for k, v in headers if k == b":path"), b"").decode("utf-8", "replace")
        timeout_header = next((v for k, v in headers if k == b"grpc-timeout"), None)
        try:
            method = self.router.lookup_path(path)
            timeout = None
            if timeout_header is not None:
                try:
                    timeout = parse_timeout(timeout_header)
                except ValueError as e:
                    raise Internal(f"transport: {e}") from e
        except BerthError as e:
            self.finish(stream, e.grpc_code, e.message)
            return
        stream.single_response = method.kind in (Kind.UNARY, Kind.CLIENT_STREAM)
        metadata = decode_metadata(headers)
        deadline = None
        if timeout is not None:
            deadline = time.monotonic() + timeout
            stream.scope.deadline = trio.current_time() + timeout
        call = RpcCall(method=path, metadata=metadata, deadline=deadline)
        code, message = 0, ""
        with stream.scope:
            try:
                with call_namespace(metadata):
                    await dispatch(method, stream, call)
            except _StreamGone:
                return
            except Exception as exc:
                code, message, expected = status_of(exc)
                if not expected:
                    logger.error("grpc: %s failed", path, exc_info=exc)
        if stream.scope.cancelled_caught:
            if stream.reset:
                return
            if stream.error is not None:
                code, message = stream.error.grpc_code, stream.error.message
            else:
                code, message = DeadlineExceeded.grpc_code, "context deadline exceeded"
        elif stream.error is not None:
            code, message = stream.error.grpc_code, stream.error.message
        self.finish(stream, code, message)

    # -- lifecycle ------------------------------------------------------

    async def run(self) -> None:
        self.h2.initiate_connection()
        self.h2.update_settings({
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.limits.max_concurrent_streams,
        })
        self.h2.increment_flow_control_window(_CONN_WINDOW - 65535)
        self.wake_writer()
        async with trio.open_nursery() as outer:
            outer.start_soon(self._writer, outer.cancel_scope)
            async with trio.open_nursery() as handlers:
                self._handlers = handlers
                await self._reader()
                handlers.cancel_scope.cancel()
            self._closing = True
            self.wake_writer()
            with trio.move_on_after(_FLUSH_TIMEOUT):
                await self._writer_done.wait()
            outer.cancel_scope.cancel()


async def serve_connection(sock: trio.abc.Stream, router: Router, limits: Limits) -> None:
    """Serve gRPC on one accepted connection until it closes; never raises.

    Error handling: anything unexpected is logged; the connection is closed.
    Cancellation: cancelling it drops the connection at once.
    """
    try:
        await _Connection(sock, router, limits).run()
    except Exception:
        logger.exception("grpc: connection failed")
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await sock.aclose()
