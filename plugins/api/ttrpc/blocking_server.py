"""A blocking ttrpc server for the shim: one thread, ``selectors``, plain ``def`` handlers.

No trio and no threads are required: one loop multiplexes listeners and
connections and calls each handler inline. Handlers are those of
:class:`~berth.core.rpc.Method` with ``kind=UNARY``, but plain functions::

    def state(request: StateRequest, call: BlockingCall) -> StateResponse: ...

A handler that must wait (``Wait`` until the process exits) must not block
the loop: it calls ``reply = call.defer()`` and returns; later, from the loop
(a callback registered with :meth:`BlockingTtrpcServer.add_reader`, e.g. on a
signalfd or pidfd) or from any thread, it calls ``reply.send(response)`` or
``reply.fail(error)``. A deferred call whose deadline passes is answered
DEADLINE_EXCEEDED.

Example::

    server = BlockingTtrpcServer([TaskService()])
    server.listen("/run/berth/s/abc.sock")
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    server.serve_forever()
    server.close()
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import inspect
import logging
import os
import selectors
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

from google.protobuf.message import Message

from berth.core.errors import BerthError, DeadlineExceeded, FailedPrecondition, NotImplemented_, ResourceExhausted
from berth.core.rpc import Kind, RpcService
from berth.plugins.api.grpc._dispatch import decode_request, encode_response
from berth.plugins.api.grpc._routing import Router, call_namespace, status_of
from berth.plugins.api.ttrpc import _messages
from berth.plugins.api.ttrpc._framing import MAX_PAYLOAD, TYPE_REQUEST, TYPE_RESPONSE, Frame, FrameDecoder, encode_frame

__all__ = ["BlockingTtrpcServer", "BlockingCall", "Reply"]

logger = logging.getLogger(__name__)

_OUT_HIGH = 8 << 20  # stop reading from a peer that does not read its answers


@final
class _Conn:
    __slots__ = ("sock", "decoder", "out", "closed", "paused")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = FrameDecoder()
        self.out = bytearray()
        self.closed = False
        self.paused = False


@final
class Reply:
    """The answer to a deferred call; send it once, from any thread."""

    def __init__(self, server: BlockingTtrpcServer, conn: _Conn, stream_id: int, method: Any, deadline: float | None) -> None:
        self._server = server
        self._conn = conn
        self._stream_id = stream_id
        self._method = method
        self.deadline = deadline
        self._done = False
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        """True once answered (or expired, or its connection closed)."""
        return self._done or self._conn.closed

    def send(self, response: Message) -> None:
        """Answer with ``response``; a second answer is ignored."""
        try:
            body = _messages.encode_response(payload=encode_response(self._method, response))
        except Exception as exc:
            self.fail(exc)
            return
        self._finish(body)

    def fail(self, error: BaseException) -> None:
        """Answer with the status for ``error``."""
        code, message, expected = status_of(error)
        if not expected:
            logger.error("ttrpc: deferred %s failed", self._method.name, exc_info=error)
        self._finish(_messages.encode_response(code, message))

    def _finish(self, body: bytes) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._server._deliver(self._conn, self._stream_id, body)


@dataclasses.dataclass(slots=True, kw_only=True)
class BlockingCall:
    """Per-call information (satisfies :class:`berth.core.rpc.Call`)."""

    method: str
    metadata: Mapping[str, str]
    deadline: float | None
    _defer: Callable[[], Reply]
    _reply: Reply | None = None

    def defer(self) -> Reply:
        """Answer later through the returned :class:`Reply`; the handler's return value is ignored."""
        if self._reply is None:
            self._reply = self._defer()
        return self._reply


@final
class BlockingTtrpcServer:
    """Serves the unary methods of ``services`` on one thread."""

    def __init__(self, services: Sequence[RpcService]) -> None:
        self._router = Router(services)
        self._selector = selectors.DefaultSelector()
        self._listeners: list[tuple[socket.socket, str | None, int]] = []
        self._conns: set[_Conn] = set()
        self._deferred: list[Reply] = []
        self._inbox: collections.deque[tuple[_Conn, int, bytes]] = collections.deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._stopping = False
        self._loop_thread: int | None = None

    # -- setup ----------------------------------------------------------

    def listen(self, address: str, *, mode: int = 0o600) -> str:
        """Bind and listen on a unix socket (``/path``, ``unix:///path`` or ``@abstract``).

        Returns the path (filesystem sockets are removed by :meth:`close`).

        Raises:
            FailedPrecondition: something that is not a socket is in the way.
            OSError: bind failed.
        """
        path = address[len("unix://"):] if address.startswith("unix://") else address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if path.startswith("@"):
                sock.bind("\0" + path[1:])
                ino = 0
            else:
                with contextlib.suppress(FileNotFoundError):
                    if not stat.S_ISSOCK(os.lstat(path).st_mode):
                        raise FailedPrecondition(f"socket path {path} exists and is not a socket")
                    os.unlink(path)
                sock.bind(path)
                os.chmod(path, mode)
                ino = os.stat(path).st_ino
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        self._add_listener(sock, None if path.startswith("@") else path, ino)
        return path

    def add_listener(self, sock: socket.socket) -> None:
        """Serve on an already listening socket (e.g. one inherited as an fd)."""
        self._add_listener(sock, None, 0)

    def _add_listener(self, sock: socket.socket, path: str | None, ino: int) -> None:
        sock.setblocking(False)
        self._listeners.append((sock, path, ino))
        self._selector.register(sock, selectors.EVENT_READ, ("listener", sock))

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the loop whenever ``fd`` is readable."""
        self._selector.register(fd, selectors.EVENT_READ, ("reader", callback))

    def remove_reader(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    # -- loop -----------------------------------------------------------

    def serve_forever(self) -> None:
        """Run until :meth:`shutdown` is called."""
        self._stopping = False
        while not self._stopping:
            self.run_once(None)

    def shutdown(self) -> None:
        """Make :meth:`serve_forever` return; safe from signal handlers and threads."""
        self._stopping = True
        self._wake()

    def run_once(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds for activity and handle it."""
        self._loop_thread = threading.get_ident()
        wait = self._next_expiry(timeout)
        for key, mask in self._selector.select(wait):
            kind, obj = key.data
            try:
                if kind == "listener":
                    self._accept(obj)
                elif kind == "conn":
                    if mask & selectors.EVENT_WRITE:
                        self._write(obj)
                    if mask & selectors.EVENT_READ and not obj.closed:
                        self._read(obj)
                elif kind == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif kind == "reader":
                    obj()
            except Exception:
                logger.exception("ttrpc: event handling failed")
        self._drain_inbox()
        self._expire()

    def _next_expiry(self, timeout: float | None) -> float | None:
        self._deferred = [r for r in self._deferred if not r.done]
        deadlines = [r.deadline for r in self._deferred if r.deadline is not None]
        if not deadlines:
            return timeout
        wait = max(0.0, min(deadlines) - time.monotonic())
        return wait if timeout is None else min(wait, timeout)

    def _expire(self) -> None:
        now = time.monotonic()
        for reply in self._deferred:
            if reply.deadline is not None and reply.deadline <= now and not reply.done:
                reply.fail(DeadlineExceeded("context deadline exceeded"))

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # -- connections ----------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.error("ttrpc: accept failed: %s", e)
                    return
                raise
            sock.setblocking(False)
            conn = _Conn(sock)
            self._conns.add(conn)
            self._selector.register(sock, selectors.EVENT_READ, ("conn", conn))

    def _drop(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._conns.discard(conn)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        conn.sock.close()

    def _update_interest(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.paused = len(conn.out) > _OUT_HIGH
        events = (0 if conn.paused else selectors.EVENT_READ) | (selectors.EVENT_WRITE if conn.out else 0)
        self._selector.modify(conn.sock, events or selectors.EVENT_READ, ("conn", conn))

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        for frame in conn.decoder.feed(data):
            if frame.type == TYPE_REQUEST:
                self._handle(conn, frame)

    def _write(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        del conn.out[:sent]
        self._update_interest(conn)

    def _queue(self, conn: _Conn, stream_id: int, body: bytes) -> None:
        if conn.closed:
            return
        if len(body) > MAX_PAYLOAD:
            body = _messages.encode_response(
                ResourceExhausted.grpc_code, f"ttrpc: response of {len(body)} bytes exceeds the maximum of {MAX_PAYLOAD}")
        conn.out += encode_frame(stream_id, TYPE_RESPONSE, body)
        self._update_interest(conn)

    def _deliver(self, conn: _Conn, stream_id: int, body: bytes) -> None:
        if threading.get_ident() == self._loop_thread:
            self._queue(conn, stream_id, body)
        else:
            self._inbox.append((conn, stream_id, body))  # deque.append is thread-safe
            self._wake()

    def _drain_inbox(self) -> None:
        while self._inbox:
            self._queue(*self._inbox.popleft())

    # -- calls ----------------------------------------------------------

    def _handle(self, conn: _Conn, frame: Frame) -> None:
        try:
            if frame.oversized:
                raise ResourceExhausted(f"ttrpc: message length {frame.length} exceeds maximum message size of {MAX_PAYLOAD}")
            _messages.check_stream_id(frame.stream_id)
            req = _messages.decode_request(frame.payload)
            method = self._router.lookup(req.service, req.method)
            if method.kind is not Kind.UNARY:
                raise NotImplemented_(f"{req.service}/{req.method}: ttrpc serves unary methods only")
        except BerthError as e:
            self._queue(conn, frame.stream_id, _messages.encode_response(e.grpc_code, e.message))
            return
        metadata = _messages.request_metadata(req)
        deadline = _messages.request_deadline(req)

        def defer() -> Reply:
            reply = Reply(self, conn, frame.stream_id, method, deadline)
            self._deferred.append(reply)
            return reply

        call = BlockingCall(method=f"/{req.service}/{req.method}", metadata=metadata, deadline=deadline, _defer=defer)
        try:
            with call_namespace(metadata):
                response = method.handler(decode_request(method, req.payload), call)
            if inspect.isawaitable(response):
                if inspect.iscoroutine(response):
                    response.close()
                raise TypeError(f"handler for {method.name} is async; the blocking server needs a plain def")
            if call._reply is not None:
                return
            body = _messages.encode_response(payload=encode_response(method, response))
        except Exception as exc:
            if call._reply is not None:
                call._reply.fail(exc)
                return
            code, message, expected = status_of(exc)
            if not expected:
                logger.error("ttrpc: %s failed", call.method, exc_info=exc)
            body = _messages.encode_response(code, message)
        self._queue(conn, frame.stream_id, body)

    # -- teardown -------------------------------------------------------

    def close(self) -> None:
        """Close listeners and connections; remove socket files it created."""
        for conn in list(self._conns):
            self._drop(conn)
        for sock, path, ino in self._listeners:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
            if path is not None:
                with contextlib.suppress(OSError):
                    if os.stat(path).st_ino == ino:
                        os.unlink(path)
        self._listeners.clear()
        self._selector.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
