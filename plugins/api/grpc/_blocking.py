"""A blocking HTTP/2 client connection for gRPC (stdlib ``socket`` + h2, no trio).

One thread drives it. Calls wait by *pumping*: reading from the socket and
feeding h2 until what they wait for has arrived, so several open streams
interleave on one connection without threads. h2 is imported when the first
connection is made, keeping ``import berth.plugins.api.grpc.client`` cheap.

Flow control mirrors the server's (see ``_connection.py``): the connection
window is returned on receipt, a stream's once the application has taken
its buffered messages.
"""
from __future__ import annotations

import collections
import dataclasses
import socket
import time
from typing import TYPE_CHECKING, Any, final

from berth.core.errors import (
    BerthError,
    Canceled,
    DeadlineExceeded,
    Internal,
    PermissionDenied,
    Unavailable,
    from_grpc_code,
)
from berth.plugins.api.grpc._framing import MessageDecoder, encode_message
from berth.plugins.api.grpc._headers import code_for_http_status, percent_decode

if TYPE_CHECKING:
    import h2.connection

__all__ = ["ConnectError", "Connection", "CallState"]

_STREAM_WINDOW = 4 << 20
_CONN_WINDOW = 32 << 20
_ACK_THRESHOLD = 32 << 10
_INBOX_HIGH = 4 << 20
_FLUSH_AT = 256 << 10
_CANCEL = 8
_REFUSED_STREAM = 7


class ConnectError(Unavailable):
    """The daemon's socket is missing or refuses connections.

    Raised when a client cannot reach berthd: start it, or point the client
    at the right socket (``--address``).
    """

    def __init__(self, address: str, reason: str = "") -> None:
        super().__init__(f"cannot connect to berthd at {address} (is it running?)")
        self.address = address
        self.reason = reason


def socket_path(address: str) -> str:
    return address[len("unix://"):] if address.startswith("unix://") else address


@final
@dataclasses.dataclass(eq=False, slots=True)
class CallState:
    """What has arrived on one stream."""

    id: int
    path: str
    decoder: MessageDecoder
    deadline: float | None
    messages: collections.deque[bytes] = dataclasses.field(default_factory=collections.deque)
    inbox_bytes: int = 0
    unacked: int = 0
    headers: list[tuple[bytes, bytes]] | None = None
    trailers: list[tuple[bytes, bytes]] | None = None
    ended: bool = False
    local_closed: bool = False
    error: BerthError | None = None

    def status_error(self) -> BerthError | None:
        """The error the finished call ended with, or None for OK."""
        if self.error is not None:
            return self.error
        fields = dict(self.trailers if self.trailers is not None else self.headers or [])
        raw_code = fields.get(b"grpc-status")
        if raw_code is None:
            http = dict(self.headers or []).get(b":status", b"")
            if http != b"200":
                code = code_for_http_status(int(http) if http.isdigit() else 0)
                return from_grpc_code(code, f"{self.path}: unexpected HTTP status {http.decode('ascii', 'replace')}")
            return Internal(f"{self.path}: server sent no grpc-status")
        try:
            code = int(raw_code)
        except ValueError:
            return Internal(f"{self.path}: malformed grpc-status {raw_code!r}")
        if code == 0:
            return None
        return from_grpc_code(code, percent_decode(fields.get(b"grpc-message", b"")))


@final
class Connection:
    """One HTTP/2 connection to a gRPC server over a unix socket."""

    def __init__(self, address: str, *, connect_timeout: float | None, max_recv: int, max_send: int) -> None:
        import h2.config
        import h2.connection
        import h2.settings

        self.address = address
        self.max_recv = max_recv
        self.max_send = max_send
        self.calls: dict[int, CallState] = {}
        self.dead: BerthError | None = None
        self.goaway = False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect(socket_path(address))
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as e:
            sock.close()
            raise ConnectError(address, e.strerror or str(e)) from e
        except PermissionError as e:
            sock.close()
            raise PermissionDenied(f"cannot connect to berthd at {address}: permission denied (run as root?)") from e
        except OSError as e:
            sock.close()
            raise ConnectError(address, str(e)) from e
        self.sock = sock
        self.h2: h2.connection.H2Connection = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.h2.update_settings({
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _STREAM_WINDOW,
            h2.settings.SettingCodes.ENABLE_PUSH: 0,
        })
        self.h2.increment_flow_control_window(_CONN_WINDOW - 65535)
        self._conn_unacked = 0
        self.flush(None)

    # -- I/O ------------------------------------------------------------

    def _timeout(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        return remaining

    def flush(self, deadline: float | None) -> None:
        """Write what h2 has queued.

        Raises:
            Unavailable: the connection broke (it is closed).
            socket.timeout: the deadline passed (the connection is closed, a
                frame may be cut).
        """
        data = self.h2.data_to_send()
        if not data:
            return
        try:
            self.sock.settimeout(self._timeout(deadline))
            self.sock.sendall(data)
        except socket.timeout:
            self._fail(Unavailable(f"connection to berthd at {self.address} closed: write timed out"))
            raise
        except OSError as e:
            self._fail(Unavailable(f"connection to berthd at {self.address} lost: {e.strerror or e}"))
            raise self.dead from e  # type: ignore[misc]

    def pump(self, deadline: float | None) -> None:
        """Read once (waiting until ``deadline``) and dispatch what arrived.

        Raises:
            socket.timeout: nothing arrived before the deadline.
            Unavailable: the connection is gone.
        """
        if self.dead is not None:
            raise self.dead
        self.flush(deadline)
        try:
            self.sock.settimeout(self._timeout(deadline))
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            raise
        except OSError as e:
            self._fail(Unavailable(f"connection to berthd at {self.address} lost: {e.strerror or e}"))
            raise self.dead from e  # type: ignore[misc]
        if not data:
            self._fail(Unavailable(f"connection to berthd at {self.address} closed by the server"))
            raise self.dead  # type: ignore[misc]
        self._feed(data)
        self.flush(deadline)

    def poll(self) -> None:
        """Process whatever already arrived without waiting (GOAWAY, EOF)."""
        if self.dead is not None:
            return
        try:
            self.sock.setblocking(False)
            data = self.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(Unavailable(f"connection to berthd at {self.address} lost: {e.strerror or e}"))
            return
        finally:
            if self.dead is None:
                self.sock.setblocking(True)
        if not data:
            self._fail(Unavailable(f"connection to berthd at {self.address} closed by the server"))
            return
        self._feed(data)

    def _fail(self, error: BerthError) -> None:
        if self.dead is None:
            self.dead = error
        for state in self.calls.values():
            if not state.ended:
                state.error = state.error or error
                state.ended = True
        self.sock.close()

    def close(self) -> None:
        if self.dead is None:
            try:
                self.h2.close_connection()
                self.sock.settimeout(1)
                self.sock.sendall(self.h2.data_to_send())
            except Exception:  # closing anyway; nothing to report
                pass
        self._fail(Unavailable(f"connection to berthd at {self.address} closed by the client"))

    # -- events ---------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self._fail(Unavailable(f"connection to berthd at {self.address}: protocol error: {e}"))
            return
        for event in events:
            state = self.calls.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, h2.events.DataReceived):
                self._on_data(event, state)
            elif state is None:
                if isinstance(event, h2.events.ConnectionTerminated):
                    self._on_goaway(event.last_stream_id or 0, event.error_code)
            elif isinstance(event, h2.events.ResponseReceived):
                state.headers = list(event.headers or [])
            elif isinstance(event, h2.events.TrailersReceived):
                state.trailers = list(event.headers or [])
            elif isinstance(event, h2.events.StreamEnded):
                state.ended = True
            elif isinstance(event, h2.events.StreamReset):
                if not state.ended:
                    state.ended = True
                    code = event.error_code
                    if code == _CANCEL:
                        state.error = Canceled(f"{state.path}: stream cancelled by the server")
                    elif code == _REFUSED_STREAM:
                        state.error = Unavailable(f"{state.path}: stream refused by the server; retry")
                    else:
                        state.error = Internal(f"{state.path}: stream reset by the server (HTTP/2 error {int(code or 0)})")

    def _on_goaway(self, last_stream_id: int, error_code: Any) -> None:
        self.goaway = True
        for stream_id, state in self.calls.items():
            if stream_id > last_stream_id and not state.ended:
                state.ended = True
                state.error = Unavailable(f"{state.path}: the server is going away; retry")

    def _on_data(self, event: Any, state: CallState | None) -> None:
        length = event.flow_controlled_length or 0
        self._conn_unacked += length
        if self._conn_unacked >= _ACK_THRESHOLD * 8:
            amount, self._conn_unacked = self._conn_unacked, 0
            self.h2.increment_flow_control_window(amount)
        if state is None or state.ended:
            return
        state.unacked += length
        try:
            for message in state.decoder.feed(event.data or b""):
                state.messages.append(message)
                state.inbox_bytes += len(message)
        except BerthError as e:
            state.error = e
            self.reset(state)
            return
        self.maybe_ack(state)

    # -- streams --------------------------------------------------------

    def maybe_ack(self, state: CallState) -> None:
        if state.unacked >= _ACK_THRESHOLD and state.inbox_bytes <= _INBOX_HIGH and not state.ended:
            amount, state.unacked = state.unacked, 0
            try:
                self.h2.increment_flow_control_window(amount, stream_id=state.id)
            except Exception:  # the stream closed meanwhile: nothing to return
                pass

    def open(self, path: str, headers: list[tuple[bytes, bytes]], deadline: float | None) -> CallState:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, headers)
        state = CallState(id=stream_id, path=path, decoder=MessageDecoder(self.max_recv), deadline=deadline)
        self.calls[stream_id] = state
        return state

    def send(self, state: CallState, payload: bytes | None, *, end: bool) -> None:
        """Send one message (or none) on ``state``, optionally half-closing.

        Raises:
            BerthError: the call ended meanwhile (its status), or the
                connection broke.
            socket.timeout: the call's deadline passed.
        """
        if state.local_closed:
            raise Internal(f"{state.path}: send after the request stream was closed")
        data = memoryview(encode_message(payload, max_size=self.max_send) if payload is not None else b"")
        sent = 0
        while sent < len(data):
            if state.ended:
                # The server answered early (an error, typically); report that.
                raise state.status_error() or Internal(f"{state.path}: server ended the call before reading the request")
            window = min(self.h2.local_flow_control_window(state.id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.pump(state.deadline)
                continue
            chunk = data[sent : sent + window]
            sent += len(chunk)
            self.h2.send_data(state.id, chunk.tobytes(), end_stream=end and sent == len(data))
            if len(chunk) >= _FLUSH_AT or sent == len(data):
                self.flush(state.deadline)
        if end:
            if not data and not state.ended:
                self.h2.end_stream(state.id)
            state.local_closed = True
        self.flush(state.deadline)

    def next_message(self, state: CallState) -> bytes | None:
        """The next response message, or None once the call ended."""
        while not state.messages:
            if state.ended:
                return None
            self.pump(state.deadline)
        message = state.messages.popleft()
        state.inbox_bytes -= len(message)
        self.maybe_ack(state)
        return message

    def wait_end(self, state: CallState) -> None:
        while not state.ended:
            self.pump(state.deadline)

    def reset(self, state: CallState) -> None:
        """Cancel the stream (RST_STREAM CANCEL) unless it already ended."""
        if not state.ended:
            state.ended = True
            state.error = state.error or Canceled(f"{state.path}: cancelled by the client")
            try:
                self.h2.reset_stream(state.id, _CANCEL)
                self.flush(None)
            except Exception:  # already closed, or the connection is gone
                pass
        self.forget(state)

    def forget(self, state: CallState) -> None:
        self.calls.pop(state.id, None)


def deadline_error(path: str) -> DeadlineExceeded:
    return DeadlineExceeded(f"{path}: context deadline exceeded")
