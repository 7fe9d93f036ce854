"""The trio ttrpc server: unary calls routed to RpcServices, as gRPC's are.

Each connection has a reader (the caller's task), a task per request, and
one writer fed through a bounded channel. Frames enter the channel whole, so a
cancelled handler can never cut one. The namespace comes from metadata
``containerd-namespace`` (or ``containerd-namespace-ttrpc``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import trio

from berth.core.errors import BerthError, DeadlineExceeded, NotImplemented_, ResourceExhausted
from berth.core.rpc import Kind, RpcService
from berth.plugins.api.grpc._dispatch import decode_request, encode_response
from berth.plugins.api.grpc._routing import Router, RpcCall, call_namespace, status_of
from berth.plugins.api.grpc._unix import open_unix_listener
from berth.plugins.api.ttrpc import _messages
from berth.plugins.api.ttrpc._framing import MAX_PAYLOAD, TYPE_REQUEST, TYPE_RESPONSE, Frame, FrameDecoder, encode_frame

__all__ = ["serve_ttrpc", "serve_ttrpc_connection"]

logger = logging.getLogger(__name__)


async def serve_ttrpc(
    address: str,
    services: Sequence[RpcService],
    *,
    uid: int | None = None,
    gid: int | None = None,
    mode: int = 0o660,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the unary methods of ``services`` over ttrpc on a unix socket.

    Args:
        address: socket path (or ``unix:///path``).
        services: what to serve; streaming methods answer UNIMPLEMENTED.
        uid, gid, mode: owner and permission bits of the socket file.
        task_status: started with the socket path once it listens.

    Raises:
        InvalidArgument, FailedPrecondition, PermissionDenied, OSError: the
            socket could not be set up.

    Cancellation: stops serving and removes the socket file.
    """
    router = Router(services)
    async with open_unix_listener(address, mode=mode, uid=uid, gid=gid) as listener, trio.open_nursery() as nursery:
        path = address[len("unix://"):] if address.startswith("unix://") else address
        logger.info("ttrpc: serving %s on %s", ", ".join(router.service_names) or "nothing", path)
        task_status.started(path)
        while True:
            try:
                stream = await listener.accept()
            except OSError as e:
                logger.error("ttrpc: accept failed (%s); retrying in 100 ms", e)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(serve_ttrpc_connection, stream, router)


async def serve_ttrpc_connection(sock: trio.abc.Stream, router: Router) -> None:
    """Serve one connection until the peer closes it; never raises."""
    send, receive = trio.open_memory_channel[bytes](64)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_writer, sock, receive, nursery.cancel_scope)
            decoder = FrameDecoder()
            while True:
                try:
                    data = await sock.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
                if not data:
                    break
                for frame in decoder.feed(data):
                    if frame.type == TYPE_REQUEST:
                        nursery.start_soon(_handle, frame, router, send)
                    else:
                        logger.debug("ttrpc: ignoring frame of type %d on stream %d", frame.type, frame.stream_id)
            nursery.cancel_scope.cancel()
    except Exception:
        logger.exception("ttrpc: connection failed")
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await sock.aclose()


async def _writer(sock: trio.abc.Stream, frames: trio.MemoryReceiveChannel[bytes], scope: trio.CancelScope) -> None:
    try:
        async for frame in frames:
            await sock.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
        logger.debug("ttrpc: connection lost while writing: %s", e)
        scope.cancel()


async def _handle(frame: Frame, router: Router, send: trio.MemorySendChannel[bytes]) -> None:
    code, message, payload = await _call(frame, router)
    body = _messages.encode_response(code, message, payload)
    if len(body) > MAX_PAYLOAD:
        body = _messages.encode_response(
            ResourceExhausted.grpc_code, f"ttrpc: response of {len(body)} bytes exceeds the maximum of {MAX_PAYLOAD}"
        )
    await send.send(encode_frame(frame.stream_id, TYPE_RESPONSE, body))


async def _call(frame: Frame, router: Router) -> tuple[int, str, bytes]:
    """Run one request; returns ``(code, message, payload)``."""
    try:
        if frame.oversized:
            raise ResourceExhausted(f"ttrpc: message length {frame.length} exceeds maximum message size of {MAX_PAYLOAD}")
        _messages.check_stream_id(frame.stream_id)
        req = _messages.decode_request(frame.payload)
        method = router.lookup(req.service, req.method)
        if method.kind is not Kind.UNARY:
            raise NotImplemented_(f"{req.service}/{req.method}: ttrpc serves unary methods only")
    except BerthError as e:
        return e.grpc_code, e.message, b""
    metadata = _messages.request_metadata(req)
    call = RpcCall(method=f"/{req.service}/{req.method}", metadata=metadata, deadline=_messages.request_deadline(req))
    scope = trio.CancelScope()
    if call.deadline is not None:
        scope.deadline = trio.current_time() + (call.deadline - time.monotonic())
    with scope:
        try:
            with call_namespace(metadata):
                response = await method.handler(decode_request(method, req.payload), call)
            return 0, "", encode_response(method, response)
        except Exception as exc:
            code, message, expected = status_of(exc)
            if not expected:
                logger.error("ttrpc: %s failed", call.method, exc_info=exc)
            return code, message, b""
    return DeadlineExceeded.grpc_code, "context deadline exceeded", b""


