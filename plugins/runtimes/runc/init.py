"""The processes berth-runc forks: stage A (namespaces) and stage B (the container process).

runc does this in C (``nsexec``) before the Go runtime starts threads; we do
it in Python right after ``os.fork()`` in a process that has no threads.

Parent (the CLI) and children talk over two pipes with one JSON object per
line (:class:`Channel`)::

    parent                      stage A                      stage B (init / exec)
    fork A, cgroup add(A) --go-->
                                setns(joined), unshare(user)
                   <--userns--  (parent writes uid/gid maps)
                   --ok------->
                                unshare(rest), fork B -----> setsid, [user: setresuid 0]
                   <--pid B---  exit
                                                             mounts, devices
                   <--hooks----------------------------------  (parent: prestart, createRuntime)
                   --ok------------------------------------>
                                                             createContainer hooks, pivot_root,
                                                             console, sysctl, masks, rlimits,
                                                             caps, user, cwd
                   <--ready----------------------------------
    state.json, pid file, exit                               open exec.fifo (blocks until start),
                                                             startContainer hooks, execve

Any exception in a child is sent as ``{"type": "error", "msg": ...}`` and the
child exits 1; a child never returns into the CLI's code.
"""
from __future__ import annotations

import os

from . import _sys as S
from .config import NS_FLAGS, Config, Process
from .errors import RuncError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Channel", "Ctx", "spawn"]


class Channel:
    """Line-delimited JSON over a pair of pipe fds."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.buf = b""

    def send(self, **msg: Any) -> None:
        import json

        os.write(self.wfd, json.dumps(msg).encode() + b"\n")

    def recv(self) -> dict[str, Any]:
        import json

        while b"\n" not in self.buf:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise EOFError("sync pipe closed")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)  # type: ignore[no-any-return]

    def expect(self, kind: str) -> dict[str, Any]:
        m = self.recv()
        if m.get("type") == "error":
            raise RuncError(m.get("msg", "unknown error"))
        if m.get("type") != kind:
            raise RuncError(f"sync: expected {kind!r}, got {m!r}")
        return m

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        # -1 so a late send fails instead of writing into whatever reuses the number
        self.rfd = self.wfd = -1


class Ctx:
    """Everything a child needs, handed over by fork (no serialisation)."""

    def __init__(self, *, cid: str, cfg: Config, process: Process, mode: str,
                 fifo_fd: int = -1, console_fd: int = -1, preserve_fds: int = 0,
                 no_pivot: bool = False, no_new_keyring: bool = False,
                 init_pid: int = 0, close_fds: tuple[int, ...] = ()) -> None:
        self.cid, self.cfg, self.process, self.mode = cid, cfg, process, mode
        self.fifo_fd, self.console_fd, self.preserve_fds = fifo_fd, console_fd, preserve_fds
        self.no_pivot, self.no_new_keyring, self.init_pid = no_pivot, no_new_keyring, init_pid
        #: the parent's fds a child must not keep (the state dir flock above all)
        self.close_fds = close_fds


def spawn(ctx: Ctx) -> tuple[int, Channel]:
    """Fork stage A; returns its pid and the parent's end of the channel."""
    p2c_r, p2c_w = os.pipe()
    c2p_r, c2p_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        chan = Channel(p2c_r, c2p_w)
        os.close(p2c_w)
        os.close(c2p_r)
        for fd in ctx.close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        _child_main(_stage_a, ctx, chan)
    os.close(p2c_r)
    os.close(c2p_w)
    return pid, Channel(c2p_r, p2c_w)


def _child_main(fn: Any, ctx: Ctx, chan: Channel) -> None:
    code = 1
    try:
        fn(ctx, chan)
        code = 0
    except BaseException as e:  # noqa: BLE001 - report anything, never unwind into the CLI
        msg = str(e) if isinstance(e, RuncError) else _describe(e)
        try:
            chan.send(type="error", msg=msg)
        except OSError:  # after "ready" the parent is gone: the container's stderr is all we have
            try:
                os.write(2, f"berth-runc init: {msg}\n".encode())
            except OSError:
                pass
    finally:
        os._exit(code)


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror if not e.filename else f"{e.filename}: {e.strerror}"
    return f"{type(e).__name__}: {e}"


# --------------------------------------------------------------------------- stage A

def _ns_fds(ctx: Ctx) -> list[tuple[str, int]]:
    """Open every namespace to join before joining any (paths may vanish after setns mnt)."""
    out = []
    cfg = ctx.cfg
    for n in cfg.namespaces:
        if ctx.mode == "exec":
            path = f"/proc/{ctx.init_pid}/ns/{NS_FLAGS[n.type][1]}"
        elif n.path:
            path = n.path
        else:
            continue
        try:
            out.append((n.type, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        except OSError as e:
            raise RuncError(f"linux.namespaces: open {n.type} namespace {path}: {e.strerror}") from None
    return out


def _stage_a(ctx: Ctx, chan: Channel) -> None:
    _preload(ctx)  # before setns(mnt): the container's root has no site-packages
    chan.expect("go")
    cfg = ctx.cfg
    fds = _ns_fds(ctx)
    joined = {t for t, _ in fds}
    order = sorted(fds, key=lambda x: (x[0] != "user", x[0] == "mount"))
    for t, fd in order:
        try:
            S.setns(fd, NS_FLAGS[t][0])
        except OSError as e:
            raise RuncError(f"failed to join {t} namespace: {e.strerror}") from None
        os.close(fd)
    if ctx.mode == "exec":
        if "user" in joined:
            _become_root_in_userns(cfg)
    else:
        if cfg.new_ns("user"):
            S.unshare(S.CLONE_NEWUSER)
            chan.send(type="userns")
            chan.expect("ok")
            _become_root_in_userns(cfg)
        elif "user" in joined:
            _become_root_in_userns(cfg)
        flags = 0
        for n in cfg.namespaces:
            if not n.path and n.type != "user":
                flags |= NS_FLAGS[n.type][0]
        if flags:
            try:
                S.unshare(flags)
            except OSError as e:
                raise RuncError(f"unshare namespaces ({', '.join(n.type for n in cfg.namespaces if not n.path)}): {e.strerror}") from None
    # B waits until its pid has been reported: otherwise, with A descheduled
    # after fork, B's "ready" could reach the parent before A's "pid".
    order_r, order_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(order_w)
        got = os.read(order_r, 1)
        os.close(order_r)
        if not got:
            os._exit(1)  # A died before reporting us; the parent cleans up
        _child_main(_stage_b, ctx, chan)
    os.close(order_r)
    chan.send(type="pid", pid=pid)
    os.write(order_w, b"1")
    os.close(order_w)


def _become_root_in_userns(cfg: Config) -> None:
    uid0 = any(m.container_id == 0 for m in cfg.uid_mappings) or not cfg.uid_mappings
    gid0 = any(m.container_id == 0 for m in cfg.gid_mappings) or not cfg.gid_mappings
    if gid0:
        os.setresgid(0, 0, 0)
    if uid0:
        os.setresuid(0, 0, 0)


# --------------------------------------------------------------------------- stage B

def _preload(ctx: Ctx) -> None:
    """Import now what runs after pivot_root, when the host's site-packages are gone."""
    import _prctl  # noqa: F401
    import fcntl  # noqa: F401
    import json  # noqa: F401
    import struct  # noqa: F401

    cfg, proc = ctx.cfg, ctx.process
    if cfg.new_ns("network") and ctx.mode == "init":
        import _socket  # noqa: F401
    if proc.terminal:
        import socket  # noqa: F401
    if proc.rlimits:
        import resource  # noqa: F401
    if cfg.hooks.get("startContainer") or cfg.hooks.get("createContainer"):
        from . import hooks  # noqa: F401
        import time  # noqa: F401
    if cfg.seccomp is not None:
        try:
            import logging  # noqa: F401 - seccomp warns through it
            import pyseccomp  # noqa: F401 - loads libseccomp.so while the host fs is visible

            from . import seccomp  # noqa: F401
        except ImportError:
            pass
    if ctx.mode == "init":
        from . import rootfs  # noqa: F401


def _stage_b(ctx: Ctx, chan: Channel) -> None:
    cfg, proc = ctx.cfg, ctx.process
    os.setsid()
    _inherit_fds(ctx)
    if ctx.mode == "init":
        _setup_container(ctx, chan)
    elif proc.terminal:
        _console(ctx, proc, mount_console=False)
    _rlimits(proc)
    if ctx.mode == "init" and proc.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(proc.oom_score_adj))
    if not ctx.no_new_keyring and ctx.mode == "init":
        try:
            S.keyctl_join_session(ctx.cid)
        except OSError as e:
            if e.errno not in (38, 13, 1):  # ENOSYS, EACCES (no keyctl in this env), EPERM
                raise RuncError(f"unable to join session keyring: {e.strerror}") from None
    env = _env(proc)
    path = _lookpath(proc.args[0], env)
    if proc.no_new_privileges:
        S.set_no_new_privs()
    if cfg.seccomp is not None and not proc.no_new_privileges:
        _seccomp(cfg)
    _finalize_process(cfg, proc, env)
    fifo = -1
    if ctx.mode == "init":
        # The fifo is reopened through our O_PATH fd; /proc is the container's now.
        try:
            chan.send(type="ready")
        except OSError as e:
            raise RuncError(f"sync ready: {e.strerror}") from None
        chan.close()
        try:
            fifo = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
            os.write(fifo, b"0")
            os.close(fifo)
        except OSError as e:
            raise RuncError(f"exec.fifo: {e.strerror}") from None
        os.close(ctx.fifo_fd)
        if cfg.hooks.get("startContainer"):
            from .hooks import run_hooks

            run_hooks("startContainer", cfg.hooks, _hook_state(ctx, "created", os.getpid()))
    else:
        chan.send(type="ready")
        chan.close()
    if cfg.seccomp is not None and proc.no_new_privileges:
        _seccomp(cfg)
    try:
        os.execve(path, proc.args, _env_dict(env))
    except OSError as e:
        raise RuncError(f"exec {proc.args[0]}: {e.strerror}") from None


def _hook_state(ctx: Ctx, status: str, pid: int) -> dict[str, Any]:
    return {"ociVersion": ctx.cfg.oci_version, "id": ctx.cid, "status": status, "pid": pid,
            "bundle": ctx.cfg.bundle, "annotations": ctx.cfg.annotations or {}}


def _inherit_fds(ctx: Ctx) -> None:
    """Only stdio, LISTEN_FDS and --preserve-fds reach the container (others are CLOEXEC)."""
    keep = 3 + ctx.preserve_fds
    listen = os.environ.get("LISTEN_FDS")
    if listen and listen.isdigit():
        keep += int(listen)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            os.set_inheritable(fd, fd < keep)
        except OSError:
            pass


def _setup_container(ctx: Ctx, chan: Channel) -> None:
    from . import rootfs

    cfg, proc = ctx.cfg, ctx.process
    in_userns = cfg.ns("user") is not None
    if cfg.ns("mount") is not None:
        rootfs.prepare_root(cfg)
    if cfg.ns("mount") is not None or cfg.mounts:
        # without a mount namespace (as runc) the mounts go to the runtime's
        # own, below the rootfs; destroy() detaches them
        rootfs.mount_all(cfg)
        rootfs.create_devices(cfg, bind=in_userns)
        cwd = rootfs.secure_join(cfg.rootfs, proc.cwd)
        if not os.path.exists(cwd):
            rootfs._mkdir_all(cfg.rootfs, cwd)
    if cfg.hooks.get("prestart") or cfg.hooks.get("createRuntime"):
        chan.send(type="hooks")
        chan.expect("ok")
    if cfg.hooks.get("createContainer"):
        from .hooks import run_hooks

        run_hooks("createContainer", cfg.hooks, _hook_state(ctx, "creating", os.getpid()))
    if cfg.ns("mount") is not None:
        try:
            rootfs.pivot(cfg, ctx.no_pivot)
        except OSError as e:
            raise RuncError(f"pivot_root {cfg.rootfs}: {e.strerror}") from None
    else:
        os.chroot(cfg.rootfs)
        os.chdir("/")
    if proc.terminal:
        _console(ctx, proc, mount_console=True)
    if cfg.ns("mount") is not None:
        rootfs.finalize(cfg)
    if cfg.hostname is not None and cfg.ns("uts") is not None:
        S.sethostname(cfg.hostname)
    if cfg.domainname is not None and cfg.ns("uts") is not None:
        S.setdomainname(cfg.domainname)
    if cfg.new_ns("network"):
        _loopback_up()
    for k, v in cfg.sysctl.items():
        try:
            with open("/proc/sys/" + k.replace(".", "/"), "w") as f:
                f.write(v)
        except OSError as e:
            raise RuncError(f"linux.sysctl.{k}: write {v!r}: {e.strerror}") from None
    try:
        rootfs.readonly_paths(cfg.readonly_paths)
        rootfs.mask_paths(cfg.masked_paths)
    except OSError as e:
        raise RuncError(f"masked/readonly paths: {e.strerror}: {e.filename or ''}") from None
    if cfg.ns("mount") is not None:
        # last: an unbindable / would make the binds above (console,
        # readonly paths) fail with EINVAL
        rootfs.apply_root_propagation(cfg)


def _loopback_up() -> None:
    import _socket
    import fcntl
    import struct

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM, 0)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS IFF_UP
    finally:
        s.close()


def _console(ctx: Ctx, proc: Process, mount_console: bool) -> None:
    """Make a pty from the container's devpts, pass the master over --console-socket."""
    import fcntl
    import socket
    import struct

    if ctx.console_fd < 0:
        raise RuncError("cannot allocate tty if berth-runc will detach without setting console socket")
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
    n = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
    slave_path = f"/dev/pts/{n}"
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        os.fchown(slave, proc.uid, -1)
    except OSError:
        pass
    if proc.console_size and any(proc.console_size):
        h, w = proc.console_size
        fcntl.ioctl(slave, 0x5414, struct.pack("HHHH", h, w, 0, 0))  # TIOCSWINSZ
    if mount_console:
        try:
            if not os.path.exists("/dev/console"):
                os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            S.mount(slave_path, "/dev/console", None, S.MS_BIND)
        except OSError:
            pass
    sock = socket.socket(fileno=ctx.console_fd)
    try:
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        sock.close()
        os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    fcntl.ioctl(0, 0x540E, 0)  # TIOCSCTTY


def _rlimits(proc: Process) -> None:
    if not proc.rlimits:
        return
    import resource

    inf = 2**64 - 1
    for r in proc.rlimits:
        soft = resource.RLIM_INFINITY if r.soft == inf else r.soft
        hard = resource.RLIM_INFINITY if r.hard == inf else r.hard
        try:
            resource.setrlimit(r.resource, (soft, hard))
        except (ValueError, OSError) as e:
            cur = resource.getrlimit(r.resource)[1]
            raise RuncError(f"process.rlimits: {r.type}: cannot set soft {r.soft} hard {r.hard} "
                            f"(current hard limit {'unlimited' if cur == resource.RLIM_INFINITY else cur}): {e}") from None


def _env(proc: Process) -> list[str]:
    return list(proc.env or [])


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _lookpath(name: str, env: list[str]) -> str:
    if "/" in name:
        if not os.path.exists(name):
            raise RuncError(f"unable to start container process: exec: {name!r}: stat {name}: no such file or directory".replace("'", '"'))
        return name
    path = _env_dict(env).get("PATH", "")
    for d in path.split(":"):
        cand = (d or ".") + "/" + name
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise RuncError(f'unable to start container process: exec: "{name}": executable file not found in $PATH')


def _seccomp(cfg: Config) -> None:
    try:
        from . import seccomp  # type: ignore[attr-defined]
    except ImportError:
        raise RuncError("linux.seccomp: seccomp support is not available (berth.plugins.runtimes.runc.seccomp is missing)") from None
    try:
        seccomp.load(cfg.seccomp)
    except RuncError:
        raise
    except Exception as e:  # noqa: BLE001 - the loader's own errors, reported by name
        raise RuncError(f"linux.seccomp: {e}") from None


def _passwd_lookup(uid: int) -> tuple[str, str] | None:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[0], parts[5]
    except OSError:
        pass
    return None


def _finalize_process(cfg: Config, proc: Process, env: list[str]) -> None:
    """Capabilities, groups, uid/gid, umask, cwd (runc's finalizeNamespace)."""
    import _prctl

    caps = proc.caps
    last = 40
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        pass
    held = set()
    if caps is not None:
        for c in range(last + 1):
            try:
                if S.prctl(23, c):  # PR_CAPBSET_READ: what this runtime may grant
                    held.add(c)
            except OSError:
                pass
        keep = set(caps["bounding"])
        for c in range(last + 1):
            if c not in keep:
                _prctl.prctl(_prctl.PR_CAPBSET_DROP, c)
    pw = _passwd_lookup(proc.uid)
    # As runc and crun for a numeric user: exactly additionalGids, no /etc/group lookup.
    groups = list(proc.additional_gids or [])
    if not any(e.startswith("HOME=") for e in env):
        env.append("HOME=" + (pw[1] if pw else "/"))
    S.prctl(S.PR_SET_KEEPCAPS, 1)
    setgroups_ok = True
    if cfg.ns("user") is not None:
        try:
            with open("/proc/self/setgroups") as f:
                setgroups_ok = f.read().strip() == "allow"
        except OSError:
            pass
    if setgroups_ok:
        os.setgroups(sorted(set(groups)))
    try:
        os.setresgid(proc.gid, proc.gid, proc.gid)
        os.setresuid(proc.uid, proc.uid, proc.uid)
    except OSError as e:
        raise RuncError(f"process.user: cannot switch to uid {proc.uid} gid {proc.gid}: {e.strerror}") from None
    S.prctl(S.PR_SET_KEEPCAPS, 0)
    if caps is not None:
        top = min(last, _prctl.CAP_LAST_CAP)
        allc = range(top + 1)
        eff = [c for c in caps["effective"] if c <= top]
        perm = [c for c in caps["permitted"] if c <= top]
        inh = [c for c in caps["inheritable"] if c <= top]
        try:
            _prctl.set_caps(eff, perm, inh, [c for c in allc if c not in eff],
                            [c for c in allc if c not in perm], [c for c in allc if c not in inh])
        except OSError as e:
            from .specconv import CAPS

            names = {v: k for k, v in CAPS.items()}
            missing = sorted(names.get(c, str(c)) for c in set(eff) | set(perm) | set(inh) if c not in held)
            why = f" ({', '.join(missing)} not in berth-runc's own bounding set)" if missing else ""
            raise RuncError(f"process.capabilities: unable to apply caps: {e.strerror or e}{why}") from None
        # As runc: a cap can only be ambient if permitted and inheritable; others are skipped.
        S.cap_ambient_clear()
        for c in caps["ambient"]:
            if c in perm and c in inh:
                try:
                    S.cap_ambient_raise(c)
                except OSError:
                    pass
    os.umask(proc.umask if proc.umask is not None else 0o022)
    try:
        os.chdir(proc.cwd)
    except OSError as e:
        raise RuncError(f'chdir to cwd ("{proc.cwd}") set in config.json failed: {e.strerror}') from None
