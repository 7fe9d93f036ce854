"""cgroup v2 driver: one module per controller, composed by :class:`UnifiedManager`.

Each controller module exposes ``CONTROLLER`` (the name in
``cgroup.controllers``), ``wanted(resources)``, ``apply(path, resources)`` and
``stats(path, out)``.
"""
from __future__ import annotations

from .manager import UnifiedManager

__all__ = ["UnifiedManager"]
