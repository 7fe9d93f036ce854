"""The act stage: container operations as the CLI's commands perform them.

Each function is one runc command's effect (create, start, run, kill,
delete, exec, ps, pause, resume, update, stats). They take already parsed
options, raise :class:`~.errors.RuncError` with runc's wording, and clean up
what they made when they fail: a failed ``create`` leaves no state dir, no
cgroup, no process.
"""
from __future__ import annotations

import os

from .config import Config, Process, config_from_json
from .errors import BadState, ConfigError, NotExist, RuncError
from .state import State, rfc3339_now

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .cgroups import Manager

__all__ = ["CreateOpts", "create", "start", "run", "kill", "delete", "exec_process",
           "wait_forward", "load_config"]


class CreateOpts:
    def __init__(self, *, root: str, cid: str, bundle: str = "", pid_file: str = "",
                 console_socket: str = "", no_pivot: bool = False, no_new_keyring: bool = False,
                 preserve_fds: int = 0, detach: bool = True, keep: bool = False) -> None:
        self.root, self.cid, self.bundle, self.pid_file = root, cid, bundle, pid_file
        self.console_socket, self.no_pivot, self.no_new_keyring = console_socket, no_pivot, no_new_keyring
        self.preserve_fds, self.detach, self.keep = preserve_fds, detach, keep
        #: set by ``run`` in the foreground with a terminal: our end of an internal console socket
        self.console_fd = -1


def load_config(bundle: str) -> Config:
    """Convert then validate ``<bundle>/config.json`` (pure stages, plus reading the file)."""
    from .specconv import convert, load_spec
    from .validate import validate

    return validate(convert(load_spec(bundle), bundle))


def _manager(cfg_path: str, cid: str) -> Manager:
    try:
        from .cgroups import new_manager
    except ImportError as e:
        raise RuncError(f"cgroup support is not available ({e})") from None
    return new_manager(cfg_path or "", container_id=cid)


def manager_for(st: State) -> Manager:
    cg = st.data.get("cgroup") or {}
    return _manager(cg.get("path", ""), st.id)


def _host_checks(cfg: Config, opts: CreateOpts) -> None:
    """Checks needing the host, still before anything is created."""
    if not os.path.isdir(cfg.rootfs):
        raise ConfigError("root.path", f"rootfs {cfg.rootfs} does not exist or is not a directory")
    real = os.path.realpath(cfg.rootfs)
    if real != cfg.rootfs:
        # as runc: mount targets are checked against this path, so it must be the real one
        raise ConfigError("root.path", f"rootfs {cfg.rootfs} goes through a symlink (real path {real}); use the real path")
    p = cfg.process
    if p.terminal and opts.detach and not opts.console_socket:
        raise RuncError("cannot allocate tty if berth-runc will detach without setting console socket")
    if not p.terminal and opts.console_socket:
        raise RuncError("cannot use console socket if berth-runc will not detach or allocate tty")
    if p.rlimits and cfg.ns("user") is None:
        import resource

        can_raise = _has_cap(24)  # CAP_SYS_RESOURCE
        for r in p.rlimits:
            cur = resource.getrlimit(r.resource)[1]
            if cur == resource.RLIM_INFINITY or can_raise:
                continue
            if r.hard == 2**64 - 1 or r.hard > cur:
                want = "unlimited" if r.hard == 2**64 - 1 else str(r.hard)
                raise ConfigError("process.rlimits", f"{r.type}: hard limit {want} is above the current "
                                  f"hard limit {cur} and CAP_SYS_RESOURCE is not available to raise it")


def _has_cap(cap: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def _write_pid_file(path: str, pid: int) -> None:
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def _connect(path: str) -> int:
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise RuncError(f"failed to connect to console socket {path}: {e.strerror}") from None
    return s.detach()


def _write_id_maps(pid: int, cfg: Config) -> None:
    for name, maps in (("uid_map", cfg.uid_mappings), ("gid_map", cfg.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise RuncError(f"linux.{'uidMappings' if name == 'uid_map' else 'gidMappings'}: write {name}: {e.strerror}") from None


def _wait_gone(pid: int, start_time: int | None, timeout: float = 5.0, reap: bool = False) -> None:
    import time

    from .state import pid_start_time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if reap:
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                reap = False
        st = pid_start_time(pid)
        if st is None or (start_time is not None and st[0] != start_time) or st[1] in ("Z", "X"):
            if st is not None and st[1] == "Z" and reap:
                continue
            return
        time.sleep(0.002)


def _warm_cgroup_lock() -> int:
    """Fork a helper that rewrites its own cgroup membership, then exits.

    The first write to any ``cgroup.procs`` takes the kernel's global
    ``cgroup_threadgroup_rwsem`` for writing, which waits for an RCU grace
    period (~15 ms on this host); writes soon after are fast. The helper pays
    that wait while we read the config and make the cgroup, so moving the init
    later is quick. The write is a no-op move (into the cgroup it is already
    in). Returns the helper's pid (reap it), or 0.
    """
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return 0
    target = ""
    for line in lines:
        _h, ctl, path = line.split(":", 2)
        if ctl:
            name = ctl[5:] if ctl.startswith("name=") else ctl.split(",")[0]
            target = f"/sys/fs/cgroup/{name}{path.rstrip('/')}/cgroup.procs"
            break
        target = f"/sys/fs/cgroup{path.rstrip('/')}/cgroup.procs"
    if not target or not os.path.exists(target):
        return 0
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(target, os.O_WRONLY)
            os.write(fd, b"0")
        except OSError:
            pass
        os._exit(0)
    return pid


def create(opts: CreateOpts, cfg: Config | None = None) -> tuple[State, int]:
    """``runc create``: the init process is left blocked on exec.fifo.

    Returns:
      The (still locked) state and the init's pid.
    """
    from .hooks import run_hooks
    from .init import Ctx, spawn
    from .state import pid_start_time

    bundle = os.path.abspath(opts.bundle or ".")
    warm = _warm_cgroup_lock()
    try:
        if cfg is None:
            cfg = load_config(bundle)
        _host_checks(cfg, opts)
        st = State.create_dir(opts.root, opts.cid)
    except BaseException:
        if warm:
            os.waitpid(warm, 0)
        raise
    try:
        return _create(opts, cfg, st, bundle)
    finally:
        if warm:
            os.waitpid(warm, 0)


def _create(opts: CreateOpts, cfg: Config, st: State, bundle: str) -> tuple[State, int]:
    from .hooks import run_hooks
    from .init import Ctx, spawn
    from .state import pid_start_time

    mgr = None
    a_pid = b_pid = 0
    fifo_fd = console_fd = -1
    chan = None
    try:
        os.mkfifo(st.fifo, 0o622)
        os.chmod(st.fifo, 0o622)
        fifo_fd = os.open(st.fifo, os.O_PATH | os.O_CLOEXEC)
        if opts.console_socket:
            console_fd = _connect(opts.console_socket)
        elif opts.console_fd >= 0:
            console_fd = os.dup(opts.console_fd)
        ctx = Ctx(cid=opts.cid, cfg=cfg, process=cfg.process, mode="init", fifo_fd=fifo_fd,
                  console_fd=console_fd, preserve_fds=opts.preserve_fds, no_pivot=opts.no_pivot,
                  no_new_keyring=opts.no_new_keyring,
                  close_fds=(st.lock.fd,) if st.lock else ())
        # Moving the first process into a v1 cgroup waits for an RCU grace period
        # (~15 ms here), the longest step of a create. Unless a cgroup namespace
        # must be rooted at the container's cgroup (unshare after joining), the
        # init (B) is moved while it sets up its mounts, and the cgroup is made
        # while stage A starts; the move is done before create returns, so
        # before the init can exec.
        early = cfg.new_ns("cgroup")
        a_pid, chan = spawn(ctx)
        if console_fd >= 0:
            os.close(console_fd)
            console_fd = -1
        if not early:
            chan.send(type="go")
        mgr = _manager(cfg.cgroups_path, opts.cid)
        mgr.create()
        if cfg.resources:
            mgr.apply(cfg.resources)
        if early:
            mgr.add(a_pid)
            chan.send(type="go")
        while True:
            try:
                m = chan.recv()
            except EOFError:
                raise RuncError("container init exited unexpectedly") from None
            t = m.get("type")
            if t == "userns":
                _write_id_maps(a_pid, cfg)
                chan.send(type="ok")
            elif t == "pid":
                b_pid = int(m["pid"])
                if not early:
                    mgr.add(b_pid)
                os.waitpid(a_pid, 0)
                a_pid = 0
            elif t == "hooks":
                state = {"ociVersion": cfg.oci_version, "id": opts.cid, "status": "creating",
                         "pid": b_pid, "bundle": bundle, "annotations": cfg.annotations or {}}
                # prestart predates the "creating" status: it used to run at
                # `start`, and the spec's validation expects "created" on its
                # stdin (crun does so too); createRuntime gets "creating".
                run_hooks("prestart", cfg.hooks, dict(state, status="created"))
                run_hooks("createRuntime", cfg.hooks, state)
                chan.send(type="ok")
            elif t == "ready":
                if not b_pid:
                    raise RuncError("internal error: container init ready before its pid was reported")
                break
            elif t == "error":
                raise RuncError(m.get("msg") or "container init failed")
        chan.close()
        chan = None
        pst = pid_start_time(b_pid)
        st.data = {
            "id": opts.cid, "init_pid": b_pid, "init_start_time": pst[0] if pst else 0,
            "created": rfc3339_now(), "bundle": bundle, "rootfs": cfg.rootfs,
            "oci_version": cfg.oci_version, "annotations": cfg.annotations,
            "cgroup": {"path": cfg.cgroups_path, "paths": mgr.paths()},
            "config": cfg.to_json(), "no_new_keyring": opts.no_new_keyring,
        }
        st.save()
        if opts.pid_file:
            _write_pid_file(opts.pid_file, b_pid)
        os.close(fifo_fd)
        return st, b_pid
    except BaseException:
        if chan is not None:
            chan.close()
        for pid in (b_pid, a_pid):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if a_pid:
            try:
                os.waitpid(a_pid, 0)
            except ChildProcessError:
                pass
        if b_pid:
            _wait_gone(b_pid, None, reap=True)
        for fd in (fifo_fd, console_fd):
            if fd >= 0:
                os.close(fd)
        if mgr is not None:
            _kill_cgroup(mgr)
            try:
                mgr.destroy()
            except Exception:  # noqa: BLE001 - the original error matters more
                pass
        _detach_host_mounts(cfg)
        st.remove()
        st.release()
        raise


def _detach_host_mounts(cfg: Config) -> None:
    """Without a mount namespace the init mounted into ours, below the rootfs: undo that."""
    if cfg.ns("mount") is None and cfg.mounts:
        from .rootfs import detach_mounts_below

        try:
            detach_mounts_below(cfg.rootfs)
        except OSError:
            pass


def _kill_cgroup(mgr: Manager, sig: int = 9) -> None:
    try:
        pids = mgr.pids()
    except Exception:  # noqa: BLE001
        return
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def start(st: State) -> None:
    """``runc start``: open exec.fifo so the init execs the user process."""
    import select

    status = st.status()
    if status == "stopped":
        raise BadState("cannot start a container that has stopped")
    if status != "created":
        raise BadState("cannot start an already running container")
    fd = os.open(st.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLHUP)
        data = b""
        while True:
            if p.poll(100):
                data = os.read(fd, 1)
                break
            if not st.alive():
                break
    finally:
        os.close(fd)
    if data != b"0":
        raise RuncError("cannot start a container that has stopped")
    os.unlink(st.fifo)
    cfg = config_from_json(st.data["config"])
    if cfg.hooks.get("poststart"):
        from .hooks import run_hooks

        try:
            run_hooks("poststart", cfg.hooks, st.oci_state("running"))
        except RuncError as e:
            from .cli import log

            log("warning", str(e))


def _signal_forwarder(pid: int) -> None:
    import signal

    def fwd(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for s in range(1, signal.NSIG):
        if s in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGURG, signal.SIGWINCH,
                 signal.SIGTTIN, signal.SIGTTOU, signal.SIGTSTP, signal.SIGPIPE):
            continue
        try:
            signal.signal(s, fwd)
        except (OSError, ValueError):
            pass


def console_pair() -> tuple[int, int]:
    """(ours, theirs): a socketpair standing in for --console-socket in the foreground."""
    import socket

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def recv_master(sock_fd: int) -> int:
    import socket

    s = socket.socket(fileno=sock_fd)
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(s, 1024, 1)
    finally:
        s.close()
    if not fds:
        raise RuncError("console: no pty master received from the container")
    return fds[0]


def _relay(pid: int, master: int) -> int:
    """Copy stdin -> pty master -> stdout until ``pid`` exits (runc run -t in the foreground)."""
    import fcntl
    import select
    import signal
    import termios

    old = None
    if os.isatty(0):
        import tty

        old = termios.tcgetattr(0)
        tty.setraw(0)

        def winch(_s: int, _f: object) -> None:
            try:
                fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
            except OSError:
                pass

        winch(0, None)
        signal.signal(signal.SIGWINCH, winch)
    srcs = [0, master]
    code = None
    try:
        while True:
            if code is None:
                try:
                    wpid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    wpid, status = pid, 255 << 8
                if wpid == pid:
                    code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            try:
                ready, _, _ = select.select(srcs, [], [], 0.05 if code is None else 0)
            except InterruptedError:
                continue
            if not ready and code is not None:
                return code
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    srcs.remove(fd)
                    if fd == master:
                        if code is not None:
                            return code
                        srcs = [s for s in srcs if s != 0]
                    continue
                if fd == 0:
                    os.write(master, data)
                else:
                    os.write(1, data)
            if not srcs and code is not None:
                return code
    finally:
        if old is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, old)
        os.close(master)


def wait_forward(pid: int, master: int = -1) -> int:
    """Wait for ``pid`` (our child or reparented to us as subreaper), forwarding signals.

    With ``master`` (a pty master), relay our stdio through it meanwhile.
    Returns its exit code, 128+signal when it was killed.
    """
    _signal_forwarder(pid)
    if master >= 0:
        return _relay(pid, master)
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if wpid == pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def run(opts: CreateOpts) -> int:
    """``runc run``: create + start (+ wait and delete unless detached)."""
    from . import _sys as S

    if not opts.detach:
        S.set_child_subreaper()
    ours = -1
    if not opts.detach and not opts.console_socket:
        cfg = load_config(os.path.abspath(opts.bundle or "."))
        if cfg.process.terminal:
            ours, opts.console_fd = console_pair()
    else:
        cfg = None
    try:
        st, pid = create(opts, cfg)
    finally:
        if opts.console_fd >= 0:
            os.close(opts.console_fd)
    master = recv_master(ours) if ours >= 0 else -1
    try:
        start(st)
    except BaseException:
        destroy(st, kill_first=True)
        raise
    st.release()
    if opts.detach:
        return 0
    code = wait_forward(pid, master)
    if not opts.keep:
        st = State.load(opts.root, opts.cid)
        destroy(st, kill_first=True)
    return code


def kill(st: State, sig: int, all_: bool = False) -> None:
    status = st.status()
    if status == "stopped" and not all_:
        raise BadState("container not running")
    if all_:
        mgr = manager_for(st)
        paused = status == "paused"
        if sig == 9 and not paused:
            try:
                mgr.freeze()
                paused = True
            except Exception:  # noqa: BLE001 - signalling still works without a freezer
                pass
        _kill_cgroup(mgr, sig)
        if paused and sig == 9:
            mgr.thaw()
        return
    try:
        os.kill(st.pid, sig)
    except ProcessLookupError:
        raise BadState("container not running") from None


def destroy(st: State, kill_first: bool = False) -> None:
    """Kill what is left, remove the cgroup and state dir, run poststop hooks."""
    mgr = manager_for(st)
    if kill_first or st.status() != "stopped":
        if st.alive():
            try:
                os.kill(st.pid, 9)
            except ProcessLookupError:
                pass
    if st.data.get("paused"):
        try:
            mgr.thaw()
        except Exception:  # noqa: BLE001
            pass
    import time

    end = time.monotonic() + 5
    while True:
        try:
            pids = mgr.pids()
        except Exception:  # noqa: BLE001
            pids = []
        if st.alive():
            pids = pids or [st.pid]
        if not pids:
            break
        _kill_cgroup(mgr)
        if st.alive():
            try:
                os.kill(st.pid, 9)
            except ProcessLookupError:
                pass
        try:  # reap if we are the subreaper (run)
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        if time.monotonic() > end:
            break
        time.sleep(0.002)
    err = None
    try:
        mgr.destroy()
    except Exception as e:  # noqa: BLE001
        err = e
    cfg = config_from_json(st.data["config"])
    _detach_host_mounts(cfg)
    st.remove()
    st.release()
    if cfg.hooks.get("poststop"):
        from .hooks import run_hooks

        try:
            run_hooks("poststop", cfg.hooks, st.oci_state("stopped"))
        except RuncError as e:
            from .cli import log

            log("warning", str(e))
    if err is not None:
        raise RuncError(f"unable to remove cgroup: {err}")


def delete(root: str, cid: str, force: bool) -> None:
    try:
        st = State.load(root, cid)
    except NotExist:
        if force:
            from .state import remove_dir, valid_id

            valid_id(cid)
            remove_dir(f"{root}/{cid}")
            return
        raise
    status = st.status()
    if status in ("stopped", "created"):
        destroy(st, kill_first=True)
        return
    if not force:
        raise BadState(f"cannot delete container {cid} that is not stopped: {status}")
    destroy(st, kill_first=True)


def exec_process(st: State, process: Process, *, detach: bool, pid_file: str,
                 console_socket: str, preserve_fds: int) -> int:
    """``runc exec``: a new process in the container's namespaces and cgroup."""
    from . import _sys as S
    from .init import Ctx, spawn

    status = st.status()
    if status == "stopped":
        raise BadState("cannot exec in a stopped container")
    if status == "paused":
        raise BadState("cannot exec in a paused container")
    if process.terminal and detach and not console_socket:
        raise RuncError("cannot allocate tty if berth-runc will detach without setting console socket")
    cfg = config_from_json(st.data["config"])
    warm = _warm_cgroup_lock()
    try:
        return _exec(st, cfg, process, detach=detach, pid_file=pid_file,
                     console_socket=console_socket, preserve_fds=preserve_fds, warm=warm)
    finally:
        if warm:
            try:
                os.waitpid(warm, 0)
            except ChildProcessError:
                pass


def _exec(st: State, cfg: Config, process: Process, *, detach: bool, pid_file: str,
          console_socket: str, preserve_fds: int, warm: int) -> int:
    from . import _sys as S
    from .init import Ctx, spawn

    console_fd = _connect(console_socket) if console_socket else -1
    ours = -1
    if process.terminal and not detach and not console_socket:
        ours, console_fd = console_pair()
    if not detach:
        S.set_child_subreaper()
    ctx = Ctx(cid=st.id, cfg=cfg, process=process, mode="exec", console_fd=console_fd,
              preserve_fds=preserve_fds, init_pid=st.pid,
              close_fds=(st.lock.fd,) if st.lock else ())
    a_pid, chan = spawn(ctx)
    if console_fd >= 0:
        os.close(console_fd)
    b_pid = 0
    try:
        # Stage A joins the cgroup before it forks the process, so the pids limit
        # applies to that fork (a move into a full pids cgroup is not refused).
        mgr = manager_for(st)
        mgr.add(a_pid)
        chan.send(type="go")
        while True:
            try:
                m = chan.recv()
            except EOFError:
                raise RuncError("exec process exited unexpectedly") from None
            t = m.get("type")
            if t == "pid":
                b_pid = int(m["pid"])
                os.waitpid(a_pid, 0)
                a_pid = 0
            elif t == "ready":
                break
            elif t == "error":
                raise RuncError(m.get("msg") or "exec failed")
    except BaseException:
        for pid in (b_pid, a_pid):
            if pid:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if a_pid:
            os.waitpid(a_pid, 0)
        if b_pid:
            _wait_gone(b_pid, None, reap=True)
        raise
    finally:
        chan.close()
    st.release()
    if pid_file:
        _write_pid_file(pid_file, b_pid)
    if warm:
        os.waitpid(warm, 0)
    if detach:
        return 0
    return wait_forward(b_pid, recv_master(ours) if ours >= 0 else -1)


def exec_process_from_args(cfg: Config, args: list[str], env: list[str], cwd: str, user: str,
                           caps: list[str], tty: bool, nnp: bool | None,
                           apparmor: str = "") -> Process:
    """The flag form of ``runc exec``: the container's process as a template."""
    from .specconv import CAPS

    base = cfg.process
    p = Process(**{k: getattr(base, k) for k in Process.__slots__})
    p.args = args
    p.terminal = tty
    p.console_size = None
    envd = {e.partition("=")[0]: e for e in (base.env or [])}
    for e in env:
        envd[e.partition("=")[0]] = e
    p.env = list(envd.values())
    if cwd:
        p.cwd = cwd
    if user:
        u, _, g = user.partition(":")
        try:
            p.uid = int(u)
            p.gid = int(g) if g else 0
        except ValueError:
            raise RuncError(f"invalid --user {user!r}: use uid[:gid] numbers") from None
        p.additional_gids = []
    if nnp is not None:
        p.no_new_privileges = nnp
    if caps:
        nums = []
        for c in caps:
            key = c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
            if key not in CAPS:
                raise RuncError(f"unknown capability {c!r}")
            nums.append(CAPS[key])
        cur = {k: list(v) for k, v in (p.caps or {k: [] for k in
               ("bounding", "effective", "inheritable", "permitted", "ambient")}).items()}
        for k in ("bounding", "effective", "permitted", "ambient"):
            cur[k] = sorted(set(cur[k]) | set(nums))
        p.caps = cur
    return p


def events_stats(st: State) -> dict[str, Any]:
    return {"type": "stats", "id": st.id, "data": manager_for(st).stats()}
