"""v1 ``freezer`` controller: FROZEN / THAWED.

v1 can sit in FREEZING while tasks keep forking, so :func:`freeze` retries
the write and now and then thaws and sleeps before trying again, as runc
does; if it never settles it thaws and fails.
"""
from __future__ import annotations

import time

from .. import _files
from .._errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "freezer"
_STATE = "freezer.state"


def apply(path: str, resources: dict[str, Any]) -> None:
    """Nothing in ``linux.resources`` maps to the freezer."""


def stats(path: str, out: dict[str, Any]) -> None:
    """The freezer has no stats."""


def freeze(path: str, attempts: int = 1000) -> None:
    """Freeze ``path`` and wait for FROZEN.

    Raises:
        CgroupError: still FREEZING after ``attempts`` tries (it is thawed first).
    """
    try:
        for i in range(attempts):
            if i % 50 == 49:
                _files.write(NAME, path, _STATE, "THAWED")
                time.sleep(0.01)
            _files.write(NAME, path, _STATE, "FROZEN")
            if i % 25 == 24:
                time.sleep(0.00001)
            state = _files.read(path, _STATE)
            if state == "FROZEN":
                return
            if state != "FREEZING":
                raise CgroupError(f"cgroup freezer: unexpected state {state!r} in {path} while freezing")
        raise CgroupError(f"cgroup freezer: {path} stayed FREEZING; processes keep forking? try again")
    except BaseException:
        try:
            _files.write(NAME, path, _STATE, "THAWED")
        except CgroupError:
            pass
        raise


def thaw(path: str) -> None:
    """Thaw ``path``; THAWED takes effect at once on v1."""
    _files.write(NAME, path, _STATE, "THAWED")


def state(path: str) -> str:
    """``frozen`` if ``freezer.state`` reads FROZEN, else ``thawed``."""
    return "frozen" if _files.read(path, _STATE) == "FROZEN" else "thawed"
