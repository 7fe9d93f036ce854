"""Thin ctypes wrappers for the Linux syscalls Python 3.11's ``os`` lacks.

Each wrapper raises :class:`OSError` carrying errno and a short description
of the call (``mount /proc (proc): Permission denied``) so callers can add
the container-level context. Only this module touches ctypes; libc is
loaded on first use.
"""
from __future__ import annotations

import os

__all__ = [
    "CLONE_NEWCGROUP", "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS",
    "CLONE_NEWPID", "CLONE_NEWUSER", "CLONE_NEWUTS", "CLONE_NEWTIME",
    "unshare", "setns", "mount", "umount2", "pivot_root", "sethostname",
    "setdomainname", "prctl", "keyctl_join_session", "set_child_subreaper",
    "set_no_new_privs", "cap_ambient_raise", "cap_ambient_clear",
]

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_FORCE = 1
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_NR = {  # x86_64 / aarch64 syscall numbers for calls libc may not wrap
    "x86_64": {"pivot_root": 155, "keyctl": 250},
    "aarch64": {"pivot_root": 41, "keyctl": 219},
}

_libc = None


def _lib():  # noqa: ANN202 - ctypes CDLL
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(ret: int, what: str) -> int:
    if ret < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(_lib().unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_lib().setns(fd, nstype), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    import ctypes

    ret = _lib().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags),
                       _b(data) if data else None)
    _check(ret, f"mount {source or 'none'} on {target} ({fstype or 'flags 0x%x' % flags})")


def umount2(target: str, flags: int = 0) -> None:
    _check(_lib().umount2(_b(target), flags), f"umount {target}")


def _syscall(name: str, *args: object) -> int:
    import ctypes

    nr = _NR.get(os.uname().machine, _NR["x86_64"])[name]
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return int(_lib().syscall(ctypes.c_long(nr), *conv))


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall("pivot_root", _b(new_root), _b(put_old)), f"pivot_root {new_root}")


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_lib().sethostname(b, len(b)), "sethostname")


def setdomainname(name: str) -> None:
    b = name.encode()
    _check(_lib().setdomainname(b, len(b)), "setdomainname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    import ctypes

    c = ctypes.c_ulong
    return _check(_lib().prctl(option, c(arg2), c(arg3), c(arg4), c(arg5)), f"prctl({option})")


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def cap_ambient_raise(cap: int) -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)


def cap_ambient_clear() -> None:
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def keyctl_join_session(name: str) -> None:
    """Join (creating it) a new named session keyring, as runc does per container."""
    KEYCTL_JOIN_SESSION_KEYRING = 1
    _check(_syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, _b(name)), "keyctl join session keyring")


AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000


def mount_setattr(path: str, attr_set: int, attr_clr: int, recursive: bool = True) -> None:
    """mount_setattr(2) (Linux 5.12+): the recursive options rro, rnosuid..."""
    import ctypes

    class MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]

    attr = MountAttr(attr_set, attr_clr, 0, 0)
    nr = {"x86_64": 442, "aarch64": 442}.get(os.uname().machine, 442)
    ret = _lib().syscall(ctypes.c_long(nr), ctypes.c_long(AT_FDCWD), _b(path),
                         ctypes.c_uint(AT_RECURSIVE if recursive else 0), ctypes.byref(attr),
                         ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(ret, f"mount_setattr {path}")
