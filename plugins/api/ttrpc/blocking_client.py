"""A blocking ttrpc client: stdlib ``socket`` + protobuf, no trio, no threads.

For the shim (forwarding events to the daemon) and for tests. Calls are
made one at a time; answers to abandoned calls are skipped.

Example::

    with BlockingTtrpcClient("unix:///run/berth/berth.sock.ttrpc", timeout=5) as client:
        client.call("containerd.services.events.ttrpc.v1.Events", "Forward", req, Empty)
"""
from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TypeVar, final

from google.protobuf.message import DecodeError, Message

from berth.core.errors import DeadlineExceeded, Internal, Unavailable
from berth.plugins.api.ttrpc import _messages
from berth.plugins.api.ttrpc._framing import MAX_PAYLOAD, TYPE_REQUEST, TYPE_RESPONSE, Frame, FrameDecoder, encode_frame

__all__ = ["BlockingTtrpcClient"]

M = TypeVar("M", bound=Message)
_UNSET = -1.0


@final
class BlockingTtrpcClient:
    """One ttrpc connection over a unix socket (path, ``unix:///path`` or ``@abstract``).

    Args:
        address: where the server listens.
        timeout: default deadline per call (and for connecting), in seconds.
    """

    def __init__(self, address: str, *, timeout: float | None = None) -> None:
        self.address = address
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._next_id = 1

    def __enter__(self) -> BlockingTtrpcClient:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        path = self.address[len("unix://"):] if self.address.startswith("unix://") else self.address
        if path.startswith("@"):
            path = "\0" + path[1:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise Unavailable(f"cannot connect to ttrpc server at {self.address}: {e.strerror or e}") from e
        self._sock = sock
        self._decoder = FrameDecoder()
        return sock

    def _broken(self, why: str) -> Unavailable:
        self.close()
        return Unavailable(f"ttrpc connection to {self.address} {why}")

    def call(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[M],
        *,
        timeout: float | None = _UNSET,
        metadata: Mapping[str, str] | None = None,
    ) -> M:
        """Call ``service/method``; return the response.

        Raises:
            BerthError: the server's status (by gRPC code).
            DeadlineExceeded: no answer in time (the connection stays usable).
            Unavailable: cannot connect, or the connection broke.
        """
        if timeout == _UNSET:
            timeout = self.timeout
        what = f"{service}/{method}"
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self._connect()
        stream_id = self._next_id
        self._next_id += 2
        body = _messages.encode_request(service, method, request.SerializeToString(), timeout=timeout, metadata=metadata)
        frame = encode_frame(stream_id, TYPE_REQUEST, body)
        try:
            sock.settimeout(timeout)
            sock.sendall(frame)
        except socket.timeout as e:
            raise self._broken("timed out while sending") from e
        except OSError as e:
            raise self._broken(f"lost: {e.strerror or e}") from e
        while True:
            for got in self._pending_frames(sock, deadline, what):
                if got.type != TYPE_RESPONSE or got.stream_id != stream_id:
                    continue  # a late answer to an abandoned call
                if got.oversized:
                    raise Internal(f"{what}: response of {got.length} bytes exceeds the maximum of {MAX_PAYLOAD}")
                payload = _messages.decode_response(got.payload, what)
                try:
                    return response_type.FromString(payload)
                except DecodeError as e:
                    raise Internal(f"{what}: cannot parse the response as {response_type.__name__}: {e}") from e

    def _pending_frames(self, sock: socket.socket, deadline: float | None, what: str) -> list[Frame]:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"{what}: context deadline exceeded")
        try:
            sock.settimeout(remaining)
            data = sock.recv(1 << 16)
        except socket.timeout:
            raise DeadlineExceeded(f"{what}: context deadline exceeded") from None
        except OSError as e:
            raise self._broken(f"lost: {e.strerror or e}") from e
        if not data:
            raise self._broken("closed by the server")
        return self._decoder.feed(data)
