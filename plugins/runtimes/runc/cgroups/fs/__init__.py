"""cgroup v1 driver: one module per controller, composed by :class:`FsManager`.

Each controller module exposes ``NAME``, ``set(path, resources)`` and
``stats(path, out)``; the manager calls the ones whose hierarchy is mounted.
"""
from __future__ import annotations

from .manager import FsManager

__all__ = ["FsManager"]
