"""Run one RPC handler in its kind's shape over a message stream.

The transport hands :func:`dispatch` an object with ``receive()`` (the next
raw request message, or None at the end) and ``send(raw)``; this module
decodes and encodes protobuf messages and drives the handler as
:mod:`berth.core.rpc` describes.
"""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from google.protobuf.message import DecodeError, Message

from berth.core.errors import Internal
from berth.core.rpc import Call, Kind, Method

__all__ = ["MessageIO", "dispatch", "decode_request", "encode_response"]


class MessageIO(Protocol):
    async def receive(self) -> bytes | None: ...

    async def send(self, payload: bytes) -> None: ...


def decode_request(method: Method, raw: bytes) -> Message:
    """Parse a request message.

    Raises:
        Internal: the bytes are not a valid ``method.request`` (as grpc-go answers).
    """
    try:
        message: Message = method.request.FromString(raw)
    except DecodeError as e:
        raise Internal(f"grpc: error unmarshalling request: {e}") from e
    return message


def encode_response(method: Method, response: object) -> bytes:
    """Serialize a handler's response, checking its type first.

    Raises:
        TypeError: the handler returned something else (a bug: INTERNAL, logged).
    """
    if not isinstance(response, method.response):
        raise TypeError(
            f"handler for {method.name} returned {type(response).__name__}, "
            f"not {method.response.__name__}"
        )
    data: bytes = response.SerializeToString()  # type: ignore[attr-defined]
    return data


async def _requests(method: Method, io: MessageIO) -> AsyncIterator[Message]:
    while (raw := await io.receive()) is not None:
        yield decode_request(method, raw)


async def _single_request(method: Method, io: MessageIO) -> Message:
    raw = await io.receive()
    if raw is None:
        raise Internal(f"grpc: {method.name}: client sent no request message")
    return decode_request(method, raw)


async def dispatch(method: Method, io: MessageIO, call: Call) -> None:
    """Read requests from ``io``, run ``method.handler``, send its responses.

    Raises:
        Exception: whatever the handler raises, for the caller to map to a status.

    Cancellation: the handler is cancelled with this call; async generators
    the handler returned are closed.
    """
    handler: Any = method.handler
    if method.kind is Kind.UNARY:
        response = await handler(await _single_request(method, io), call)
        await io.send(encode_response(method, response))
    elif method.kind is Kind.CLIENT_STREAM:
        async with contextlib.aclosing(_requests(method, io)) as requests:
            response = await handler(requests, call)
        await io.send(encode_response(method, response))
    else:
        if method.kind is Kind.SERVER_STREAM:
            responses = handler(await _single_request(method, io), call)
        else:
            responses = handler(_requests(method, io), call)
        async with contextlib.aclosing(responses) as stream:
            async for response in stream:
                await io.send(encode_response(method, response))
