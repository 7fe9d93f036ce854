"""Errors berth-runc raises on purpose; the CLI prints their message and exits 1.

Kept free of :mod:`berth.core` so the CLI starts fast; the classes mirror the
core taxonomy by name (a shim translating them maps by ``kind``).
"""
from __future__ import annotations

__all__ = ["RuncError", "ConfigError", "NotExist", "Exists", "BadState"]


class RuncError(Exception):
    """A failure to report to the user as is (runc's ``fatal(err)``)."""

    kind = "unknown"
    exit_code = 1


class ConfigError(RuncError):
    """config.json is malformed or asks for something invalid.

    The message names the file, the key path, what was expected and what was
    found: ``config.json: process.args: must be a non-empty list of strings``.
    Fix the bundle and retry; nothing was created.
    """

    kind = "invalid-argument"

    def __init__(self, field: str, problem: str, file: str = "config.json") -> None:
        super().__init__(f"{file}: {field}: {problem}" if field else f"{file}: {problem}")
        self.field = field
        self.problem = problem


class NotExist(RuncError):
    """No container with that id under ``--root``."""

    kind = "not-found"


class Exists(RuncError):
    """A container with that id already exists under ``--root``."""

    kind = "already-exists"


class BadState(RuncError):
    """The operation is not allowed in the container's current status."""

    kind = "failed-precondition"
