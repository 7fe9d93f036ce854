"""Root filesystem set-up, run by the container init inside its mount namespace.

Every destination is resolved *inside* the rootfs, one component at a time,
with symlinks interpreted relative to the rootfs (as filepath-securejoin does
for runc), then opened ``O_PATH|O_NOFOLLOW`` and checked through
``/proc/self/fd`` before anything is mounted on it; the mount goes to the
``/proc/self/fd/N`` magic link, so a symlink swapped in between cannot
redirect it to the host (runc's ``utils.WithProcfd``).
"""
from __future__ import annotations

import os
import stat

from . import _sys as S
from .config import Config, Mount
from .errors import RuncError

__all__ = ["secure_join", "prepare_root", "mount_all", "create_devices", "pivot", "finalize",
           "apply_root_propagation", "detach_mounts_below", "mask_paths", "readonly_paths"]

_PROC_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                 "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                 "/proc/net/dev", "/proc/sys/kernel/ns_last_pid"}


def secure_join(root: str, unsafe: str) -> str:
    """Resolve ``unsafe`` under ``root`` following symlinks without leaving ``root``.

    Absolute symlink targets restart at ``root``; ``..`` never climbs above
    it. Missing components are appended lexically. Returns a host path
    starting with ``root``.
    """
    root = root.rstrip("/") or "/"
    parts = unsafe.split("/")
    parts.reverse()
    resolved: list[str] = []
    links = 0
    while parts:
        c = parts.pop()
        if c in ("", "."):
            continue
        if c == "..":
            if resolved:
                resolved.pop()
            continue
        full = root + "/" + "/".join(resolved + [c])
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(c)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > 255:
                raise RuncError(f"too many levels of symbolic links resolving {unsafe} in {root}")
            target = os.readlink(full)
            if target.startswith("/"):
                resolved = []
            tp = target.split("/")
            tp.reverse()
            parts.extend(tp)
            continue
        resolved.append(c)
    return root + "/" + "/".join(resolved) if resolved else root


def _mkdir_all(root: str, path: str, mode: int = 0o755) -> None:
    """Create the missing directories of an already secure-joined ``path``."""
    rel = path[len(root):].strip("/")
    cur = root
    for c in rel.split("/") if rel else []:
        cur = cur + "/" + c
        try:
            os.mkdir(cur, mode)
        except FileExistsError:
            st = os.lstat(cur)
            if stat.S_ISLNK(st.st_mode):
                raise RuncError(f"{cur}: is a symlink appearing during mount set-up; refusing") from None
            if not stat.S_ISDIR(st.st_mode):
                raise RuncError(f"{cur}: not a directory") from None


def _open_in_root(root: str, path: str) -> int:
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    real = os.readlink(f"/proc/self/fd/{fd}")
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        os.close(fd)
        raise RuncError(f"mount target {path} resolved to {real}, outside the rootfs {root}; refusing")
    return fd


def _ensure_target(root: str, dest: str, is_dir: bool) -> str:
    path = secure_join(root, dest)
    try:
        st = os.lstat(path)
        if is_dir and not stat.S_ISDIR(st.st_mode):
            raise RuncError(f"mount destination {dest} exists in the rootfs and is not a directory")
        return path
    except FileNotFoundError:
        pass
    if is_dir:
        _mkdir_all(root, path)
    else:
        _mkdir_all(root, os.path.dirname(path))
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
        os.close(fd)
    return path


def _do_mount(root: str, target: str, source: str | None, fstype: str | None, flags: int,
              data: str | None = None) -> None:
    fd = _open_in_root(root, target)
    try:
        S.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    finally:
        os.close(fd)


def prepare_root(cfg: Config) -> None:
    """Make the host's mounts slave (or rootfsPropagation) and bind the rootfs on itself.

    As runc: the mount holding the rootfs (and ``/``) is made private when it
    is shared, since pivot_root(2) refuses a shared parent or old root
    (EINVAL) and the bind would propagate back to the host. An unbindable
    propagation is applied only after pivot_root (:func:`apply_root_propagation`):
    before that it would make the bind of the rootfs itself fail (EINVAL).
    """
    flag = cfg.rootfs_propagation or (S.MS_SLAVE | S.MS_REC)
    if flag & S.MS_UNBINDABLE:
        flag = S.MS_SLAVE | S.MS_REC
    S.mount(None, "/", None, flag)
    for mnt in {_containing_mount(cfg.rootfs), "/"}:
        if _mount_propagation(mnt) & {"shared", "unbindable"}:
            S.mount(None, mnt, None, S.MS_PRIVATE)
    S.mount(cfg.rootfs, cfg.rootfs, "bind", S.MS_BIND | S.MS_REC)


def apply_root_propagation(cfg: Config) -> None:
    """After pivot_root: give the container's ``/`` the configured rootfsPropagation."""
    if cfg.rootfs_propagation:
        try:
            S.mount(None, "/", None, cfg.rootfs_propagation)
        except OSError as e:
            raise RuncError(f"linux.rootfsPropagation: {e.strerror or e}") from None


def _mountinfo() -> list[tuple[str, list[str]]]:
    """(mount point, optional fields) of each mount of this mount namespace."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre = line.partition(" - ")[0].split()
            mp = pre[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            out.append((mp.replace("\\134", "\\"), pre[6:]))
    return out


def detach_mounts_below(root: str) -> None:
    """Lazily unmount every mount strictly below ``root``, deepest first.

    For a container without a mount namespace, whose mounts were made in the
    runtime's own namespace (under its rootfs), once it is deleted.
    """
    root = os.path.realpath(root).rstrip("/")
    below = [mp for mp, _opt in _mountinfo() if mp.startswith(root + "/")]
    for mp in sorted(set(below), key=lambda p: (p.count("/"), p), reverse=True):
        for _ in range(below.count(mp)):  # stacked mounts on one point
            try:
                S.umount2(mp, S.MNT_DETACH)
            except OSError:
                break


def _containing_mount(path: str) -> str:
    """The mount point of the mount ``path`` is on (``path`` itself if it is one)."""
    path = os.path.realpath(path)
    best = "/"
    for mp, _opt in _mountinfo():
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best = mp
    return best


def _mount_propagation(mp: str) -> set[str]:
    """Propagation kinds (shared/master/unbindable) of the topmost mount at ``mp``."""
    kinds: set[str] = set()
    for point, opt in _mountinfo():
        if point == mp:
            kinds = {o.split(":")[0] for o in opt}
    return kinds


def _check_proc(m: Mount, i: int, root: str) -> None:
    dest = m.destination
    if m.type in ("proc", "sysfs"):
        parent = secure_join(root, os.path.dirname(dest))
        full = parent.rstrip("/") + "/" + os.path.basename(dest)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            raise RuncError(f"mounts[{i}]: cannot mount {m.type} on {dest}: the destination in the rootfs is {kind}; "
                            f"{m.type} must be mounted on an ordinary directory")
        return
    if dest == "/proc" or dest.startswith("/proc/"):
        if m.type == "bind" and dest in _PROC_ALLOWED:
            return
        if dest == "/proc":
            raise RuncError(f"mounts[{i}]: /proc cannot be mounted from {m.type} {m.source or ''}: it must be of type proc".replace("  ", " "))
        raise RuncError(f"mounts[{i}]: {dest} cannot be mounted because it is inside /proc")


def _bind(root: str, m: Mount, i: int) -> None:
    src = m.source
    try:
        sst = os.stat(src)
    except OSError as e:
        raise RuncError(f"mounts[{i}]: bind source {src}: {e.strerror}") from None
    target = _ensure_target(root, m.destination, stat.S_ISDIR(sst.st_mode))
    _do_mount(root, target, src, None, S.MS_BIND | (m.flags & S.MS_REC))
    extra = m.flags & ~(S.MS_BIND | S.MS_REC | S.MS_REMOUNT)
    if extra:
        flags = S.MS_BIND | S.MS_REMOUNT | extra
        try:
            _do_mount(root, target, None, None, flags)
        except PermissionError:
            # In a user namespace the locked flags of the source must be kept.
            locked = _statvfs_flags(target)
            _do_mount(root, target, None, None, flags | locked)


def _statvfs_flags(path: str) -> int:
    v = os.statvfs(path)
    table = ((os.ST_RDONLY, S.MS_RDONLY), (os.ST_NOSUID, S.MS_NOSUID), (os.ST_NODEV, S.MS_NODEV),
             (os.ST_NOEXEC, S.MS_NOEXEC), (os.ST_NOATIME, S.MS_NOATIME),
             (os.ST_NODIRATIME, S.MS_NODIRATIME), (os.ST_RELATIME, S.MS_RELATIME))
    return sum(ms for st_, ms in table if v.f_flag & st_)


def _cgroup(root: str, m: Mount, i: int, cfg: Config) -> None:
    """Mount cgroupfs: v2 as cgroup2; v1 (hybrid) as a tmpfs with one dir per hierarchy."""
    target = _ensure_target(root, m.destination, True)
    ro = m.flags & S.MS_RDONLY
    base = (m.flags & ~S.MS_RDONLY) | S.MS_NOSUID | S.MS_NODEV | S.MS_NOEXEC
    hier = _host_cgroup_mounts()
    if not any(t == "cgroup" for t, _, _ in hier):
        _do_mount(root, target, "cgroup2", "cgroup2", base | ro)
        return
    _do_mount(root, target, "tmpfs", "tmpfs", base, "mode=755")
    own = _own_cgroups()
    for typ, mpoint, opts in hier:
        name = os.path.basename(mpoint)
        sub = _ensure_target(root, m.destination + "/" + name, True)
        if typ == "cgroup2":
            if cfg.new_ns("cgroup"):
                _do_mount(root, sub, "cgroup2", "cgroup2", base | ro)
            else:
                _do_mount(root, sub, mpoint + own.get("", "/"), None, S.MS_BIND | S.MS_REC)
            continue
        if cfg.new_ns("cgroup"):
            _do_mount(root, sub, "cgroup", "cgroup", base | ro, opts)
        else:
            cg = own.get(opts) or own.get(name) or "/"
            _do_mount(root, sub, mpoint + cg, None, S.MS_BIND | S.MS_REC)
            if ro:
                _do_mount(root, sub, None, None, S.MS_BIND | S.MS_REMOUNT | S.MS_RDONLY | base)
    if ro:
        _do_mount(root, target, None, None, S.MS_REMOUNT | S.MS_RDONLY | base, "mode=755")


def _host_cgroup_mounts() -> list[tuple[str, str, str]]:
    """(fstype, mountpoint, controllers) of each cgroup hierarchy under /sys/fs/cgroup."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields = pre.split()
            typ, _src, sopts = post.split()[:3]
            if typ not in ("cgroup", "cgroup2") or not fields[4].startswith("/sys/fs/cgroup"):
                continue
            if fields[4] == "/sys/fs/cgroup":
                continue
            ctl = ",".join(o for o in sopts.split(",")
                           if o not in ("rw", "ro", "nosuid", "nodev", "noexec", "relatime",
                                        "xattr", "nsdelegate", "memory_recursiveprot")
                           and not o.startswith("release_agent"))
            out.append((typ, fields[4], ctl))
    return out


def _own_cgroups() -> dict[str, str]:
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _h, ctl, path = line.rstrip("\n").split(":", 2)
            out[ctl] = path
    return out


def mount_all(cfg: Config) -> None:
    root = cfg.rootfs
    for i, m in enumerate(cfg.mounts):
        _check_proc(m, i, root)
        try:
            if m.type == "bind":
                _bind(root, m, i)
            elif m.type == "cgroup":
                _cgroup(root, m, i, cfg)
            else:
                target = _ensure_target(root, m.destination, True)
                flags = m.flags & ~S.MS_REMOUNT
                data = m.data or None
                try:
                    _do_mount(root, target, m.source or m.type, m.type, flags, data)
                except PermissionError:
                    if m.type == "sysfs":  # no netns of our own in a userns: bind the host's
                        _do_mount(root, target, "/sys", None, S.MS_BIND | S.MS_REC)
                        _do_mount(root, target, None, None, S.MS_BIND | S.MS_REMOUNT | flags)
                    elif m.type == "mqueue":
                        _do_mount(root, target, "/dev/mqueue", None, S.MS_BIND | S.MS_REC)
                    else:
                        raise
            if m.propagation:
                target = secure_join(root, m.destination)
                for bit in (S.MS_PRIVATE, S.MS_SLAVE, S.MS_SHARED, S.MS_UNBINDABLE):
                    if m.propagation & bit:
                        _do_mount(root, target, None, None, bit | (m.propagation & S.MS_REC))
            if m.rec_attr_set or m.rec_attr_clr:
                target = secure_join(root, m.destination)
                fd = _open_in_root(root, target)
                try:
                    S.mount_setattr(f"/proc/self/fd/{fd}", m.rec_attr_set, m.rec_attr_clr)
                finally:
                    os.close(fd)
        except RuncError:
            raise
        except OSError as e:
            raise RuncError(f"mounts[{i}]: mount {m.source or m.type} on {m.destination} ({m.type}): "
                            f"{e.strerror or e}") from None


def create_devices(cfg: Config, bind: bool) -> None:
    """mknod each device (or bind the host's node when in a user namespace)."""
    root = cfg.rootfs
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    old = os.umask(0)
    try:
        for i, d in enumerate(cfg.devices):
            path = secure_join(root, d.path)
            _mkdir_all(root, os.path.dirname(path))
            try:
                if os.path.lexists(path):
                    os.unlink(path)
                if bind:
                    raise PermissionError
                os.mknod(path, kinds[d.type] | (d.mode & 0o7777), os.makedev(d.major, d.minor))
                os.chown(path, d.uid, d.gid)
            except PermissionError:
                if not os.path.exists(d.path):
                    continue
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
                os.close(fd)
                _do_mount(root, path, d.path, None, S.MS_BIND)
            except OSError as e:
                raise RuncError(f"linux.devices[{i}]: create {d.path}: {e.strerror}") from None
    finally:
        os.umask(old)
    dev = secure_join(root, "/dev")
    links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
             ("/proc/self/fd/2", "stderr")]
    if os.path.exists("/proc/kcore"):  # as runc: only where the kernel has one
        links.append(("/proc/kcore", "core"))
    for src, name in links:
        try:
            os.symlink(src, dev + "/" + name)
        except FileExistsError:
            pass
    ptmx = dev + "/ptmx"
    if os.path.isdir(dev + "/pts"):
        try:
            if os.path.lexists(ptmx):
                os.unlink(ptmx)
            os.symlink("pts/ptmx", ptmx)
        except OSError:
            pass


def pivot(cfg: Config, no_pivot: bool) -> None:
    """Enter the rootfs: pivot_root(".", ".") then detach the old root, or MS_MOVE+chroot."""
    if no_pivot:
        os.chdir(cfg.rootfs)
        S.mount(cfg.rootfs, "/", None, S.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        return
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(cfg.rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new)
        S.pivot_root(".", ".")
        os.fchdir(old)
        S.mount(None, ".", None, S.MS_SLAVE | S.MS_REC)
        S.umount2(".", S.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def finalize(cfg: Config) -> None:
    """After pivot: read-only bits (ro /dev mount, readonly root)."""
    for m in cfg.mounts:
        if m.destination == "/dev" and m.flags & S.MS_RDONLY and m.type != "bind":
            S.mount(None, "/dev", None, S.MS_REMOUNT | S.MS_RDONLY | (m.flags & ~S.MS_REMOUNT))
    if cfg.readonly_root:
        flags = S.MS_BIND | S.MS_REMOUNT | S.MS_RDONLY
        try:
            S.mount(None, "/", None, flags)
        except PermissionError:
            S.mount(None, "/", None, flags | _statvfs_flags("/"))


def readonly_paths(paths: list[str]) -> None:
    for p in paths:
        try:
            S.mount(p, p, None, S.MS_BIND | S.MS_REC)
        except FileNotFoundError:
            continue
        flags = S.MS_BIND | S.MS_REMOUNT | S.MS_RDONLY | S.MS_REC
        try:
            S.mount(p, p, None, flags)
        except PermissionError:
            S.mount(p, p, None, flags | _statvfs_flags(p))


def mask_paths(paths: list[str]) -> None:
    for p in paths:
        try:
            st = os.stat(p)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISDIR(st.st_mode):
            S.mount("tmpfs", p, "tmpfs", S.MS_RDONLY)
        else:
            S.mount("/dev/null", p, None, S.MS_BIND)
