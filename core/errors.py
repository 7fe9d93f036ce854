"""One error taxonomy for all of berth, after containerd's errdefs.

Every plugin raises these; every transport maps them once through the class
attributes: ``grpc_code`` (the gRPC status code number) and ``exit_code`` (the
``berth`` CLI's exit status). A message names the object, says what is wrong
and says what to do.
"""
from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing is the cost avoided

if TYPE_CHECKING:  # typing costs ~5 ms to import; berth-runc imports this module
    from typing import ClassVar

__all__ = [
    "BerthError",
    "InvalidArgument",
    "NotFound",
    "AlreadyExists",
    "FailedPrecondition",
    "Conflict",
    "Unavailable",
    "NotImplemented_",
    "PermissionDenied",
    "ResourceExhausted",
    "Internal",
    "Canceled",
    "DeadlineExceeded",
    "Unknown",
    "from_grpc_code",
    "to_grpc_code",
    "ERROR_CLASSES",
]


class BerthError(Exception):
    """Base of every error berth raises on purpose.

    Raise a subclass, never this class, so transports can map it.
    """

    grpc_code: ClassVar[int] = 2  # UNKNOWN
    exit_code: ClassVar[int] = 13
    label: ClassVar[str] = "unknown"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Unknown(BerthError):
    """An error whose kind could not be told (a foreign gRPC status, say)."""


class InvalidArgument(BerthError):
    """The caller passed a malformed value; fix the request and retry."""

    grpc_code = 3
    exit_code = 3
    label = "invalid argument"


class NotFound(BerthError):
    """The named object does not exist (in this namespace)."""

    grpc_code = 5
    exit_code = 4
    label = "not found"


class AlreadyExists(BerthError):
    """An object with that name/key/digest exists already."""

    grpc_code = 6
    exit_code = 5
    label = "already exists"


class PermissionDenied(BerthError):
    """The caller may not do this."""

    grpc_code = 7
    exit_code = 10
    label = "permission denied"


class ResourceExhausted(BerthError):
    """A size or space limit was hit (message too large, disk or map full)."""

    grpc_code = 8
    exit_code = 11
    label = "resource exhausted"


class FailedPrecondition(BerthError):
    """The object is not in a state that allows this (e.g. non-empty namespace)."""

    grpc_code = 9
    exit_code = 6
    label = "failed precondition"


class Conflict(BerthError):
    """A concurrent change won; re-read and retry."""

    grpc_code = 10  # ABORTED
    exit_code = 7
    label = "conflict"


class NotImplemented_(BerthError):
    """The operation is not implemented by this plugin or server."""

    grpc_code = 12
    exit_code = 9
    label = "not implemented"


class Internal(BerthError):
    """A bug or an unexpected failure inside berth; the log has details."""

    grpc_code = 13
    exit_code = 12
    label = "internal"


class Unavailable(BerthError):
    """The resource is busy or the service is not reachable; retry later."""

    grpc_code = 14
    exit_code = 8
    label = "unavailable"


class Canceled(BerthError):
    """The call was cancelled by its caller."""

    grpc_code = 1
    exit_code = 14
    label = "canceled"


class DeadlineExceeded(BerthError):
    """The call's deadline passed before it finished."""

    grpc_code = 4
    exit_code = 15
    label = "deadline exceeded"


ERROR_CLASSES: tuple[type[BerthError], ...] = (
    InvalidArgument,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Conflict,
    NotImplemented_,
    Internal,
    Unavailable,
    Canceled,
    DeadlineExceeded,
    Unknown,
)

_BY_GRPC = {cls.grpc_code: cls for cls in ERROR_CLASSES}


def from_grpc_code(code: int, message: str) -> BerthError:
    """Build the berth error for a gRPC status code (UNKNOWN when unmapped)."""
    return _BY_GRPC.get(code, Unknown)(message)


def to_grpc_code(exc: BaseException) -> int:
    """The gRPC status code for any exception (INTERNAL for foreign ones)."""
    if isinstance(exc, BerthError):
        return exc.grpc_code
    return Internal.grpc_code
