"""Container state on disk, its lock, and the status table.

Layout under ``--root`` (default ``/run/berth-runc``, mode 0700)::

    <root>/
      <id>/                  state dir, mode 0711; flock(LOCK_EX) on it serialises commands
        state.json           written to state.json.tmp then renamed; see State.to_json
        exec.fifo            0622 FIFO, exists from create until start opened it

Status (runc's ``refreshState``), computed, never stored:

=====================================  ===========
init process gone, zombie or reused    ``stopped``
freezer reports frozen (paused flag)   ``paused``
``exec.fifo`` present                  ``created``
otherwise                              ``running``
=====================================  ===========
"""
from __future__ import annotations

import os

from .errors import Exists, NotExist, RuncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["State", "Lock", "valid_id", "pid_start_time", "rfc3339_now"]

DEFAULT_ROOT = "/run/berth-runc"


def valid_id(cid: str) -> None:
    """runc's id rule: ``^[\\w+-\\.]+$`` and not ``.``/``..``."""
    import re

    if not cid or cid in (".", "..") or not re.fullmatch(r"[\w+.\-]+", cid):
        raise RuncError(f"invalid container id format: {cid}")


def rfc3339_now() -> str:
    import time

    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return f"{base}.{frac:09d}Z"


def pid_start_time(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return int(rest[19]), rest[0].decode()


def remove_dir(path: str) -> None:
    """rm -r of a state dir without importing shutil (it drags in zlib, bz2, lzma)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    for n in names:
        p = f"{path}/{n}"
        if os.path.isdir(p) and not os.path.islink(p):
            remove_dir(p)
        else:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


class Lock:
    """flock on a directory fd: one berth-runc command at a time per container."""

    def __init__(self, path: str, shared: bool = False) -> None:
        import fcntl

        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


class State:
    """What ``create`` records about a container (state.json)."""

    def __init__(self, root: str, cid: str) -> None:
        self.root = root
        self.id = cid
        self.dir = f"{root}/{cid}"
        self.data: dict[str, Any] = {}
        self.lock: Lock | None = None

    # -- lifecycle of the directory -------------------------------------------------
    @classmethod
    def create_dir(cls, root: str, cid: str) -> "State":
        valid_id(cid)
        os.makedirs(root, mode=0o700, exist_ok=True)
        st = cls(root, cid)
        try:
            os.mkdir(st.dir, 0o711)
        except FileExistsError:
            raise Exists(f"container with id exists: {cid}") from None
        st.lock = Lock(st.dir)
        return st

    @classmethod
    def load(cls, root: str, cid: str, lock: bool = True, shared: bool = False) -> "State":
        import json

        valid_id(cid)
        st = cls(root, cid)
        try:
            if lock:
                st.lock = Lock(st.dir, shared=shared)
            with open(st.dir + "/state.json", "rb") as f:
                st.data = json.loads(f.read())
        except (FileNotFoundError, NotADirectoryError):
            if st.lock:
                st.lock.release()
            raise NotExist("container does not exist") from None
        except ValueError as e:
            raise RuncError(f"container {cid}: state.json is corrupt: {e}") from None
        return st

    def save(self) -> None:
        import json

        tmp = self.dir + "/state.json.tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(self.data))
        os.rename(tmp, self.dir + "/state.json")

    def remove(self) -> None:
        """Remove the state dir (flat: state.json, exec.fifo, temp files)."""
        remove_dir(self.dir)

    def release(self) -> None:
        if self.lock:
            self.lock.release()
            self.lock = None

    # -- derived --------------------------------------------------------------------
    @property
    def fifo(self) -> str:
        return self.dir + "/exec.fifo"

    @property
    def pid(self) -> int:
        return int(self.data.get("init_pid", 0))

    def alive(self) -> bool:
        pid = self.pid
        if pid <= 0:
            return False
        st = pid_start_time(pid)
        if st is None or st[1] in ("Z", "X", "x"):
            return False
        return st[0] == self.data.get("init_start_time")

    def status(self) -> str:
        if not self.alive():
            return "stopped"
        if self.data.get("paused"):
            return "paused"
        if os.path.exists(self.fifo):
            return "created"
        return "running"

    def oci_state(self, status: str | None = None) -> dict[str, Any]:
        """The OCI state object (what hooks get on stdin, ``runc state`` prints)."""
        status = status or self.status()
        d = self.data
        return {
            "ociVersion": d.get("oci_version", "1.0.2"),
            "id": self.id,
            "status": status,
            "pid": self.pid if status != "stopped" else 0,
            "bundle": d.get("bundle", ""),
            "rootfs": d.get("rootfs", ""),
            "created": d.get("created", ""),
            "annotations": d.get("annotations") or {},
            "owner": "",
        }
