"""``berth-runc``: the runc-compatible command line.

Same commands, flags, output and exit codes as runc 1.1 for what clients use
(containerd-shim-runc-v2, conmon/podman, runtime-tools, ctr --runc-binary).
Flags follow Go's ``flag`` package as urfave/cli uses it: ``-x``, ``--x``,
``--x=v``, ``--x v``; booleans take ``=true|false``.

Errors: with ``--log FILE`` a log line goes to FILE (``--log-format json``
gives ``{"level":"error","msg":...,"time":...}``, which the containerd shim
reads back) and the bare message to stderr; without ``--log`` the log line
goes to stderr. Exit status 1, as runc.

Start-up cost matters (``berth-runc run`` should match runc's ~36 ms): this
module imports only ``os`` and ``sys`` at top level and everything else where
it is needed.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["main", "log"]

VERSION = "0.1.0"
SPEC_VERSION = "1.1.0"

_log_file: str = ""
_log_format: str = "text"
_debug = False


class UsageError(Exception):
    pass


def _now() -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _line(level: str, msg: str) -> str:
    if _log_format == "json":
        import json

        return json.dumps({"level": level, "msg": msg, "time": _now()}) + "\n"
    return f'time="{_now()}" level={level} msg="{_quote(msg)}"\n'


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def log(level: str, msg: str) -> None:
    """Write one log line to ``--log`` (or stderr), runc/logrus style."""
    if level == "debug" and not _debug:
        return
    text = _line(level, msg)
    if _log_file:
        try:
            fd = os.open(_log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
            return
        except OSError:
            pass
    sys.stderr.write(text)
    sys.stderr.flush()


def fatal(msg: str, code: int = 1) -> int:
    log("error", msg)
    if _log_file:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    return code


# --------------------------------------------------------------------------- flag parsing

B, S, I, L = "bool", "str", "int", "list"

GLOBAL = {
    "root": S, "log": S, "log-format": S, "debug": B, "systemd-cgroup": B, "rootless": S,
    "criu": S, "help": B, "h": B, "version": B, "v": B,
}
CREATE = {"bundle": S, "b": S, "pid-file": S, "console-socket": S, "no-pivot": B,
          "no-new-keyring": B, "preserve-fds": I}
COMMANDS: dict[str, tuple[dict[str, str], int, int]] = {
    # name: (flags, min args, max args; -1 = any)
    "create": (CREATE, 1, 1),
    "run": ({**CREATE, "detach": B, "d": B, "keep": B, "no-subreaper": B}, 1, 1),
    "start": ({}, 1, 1),
    "state": ({}, 1, 1),
    "kill": ({"all": B, "a": B}, 1, 2),
    "delete": ({"force": B, "f": B}, 1, 1),
    "list": ({"format": S, "f": S, "quiet": B, "q": B}, 0, 0),
    "exec": ({"console-socket": S, "pid-file": S, "process": S, "p": S, "tty": B, "t": B,
              "detach": B, "d": B, "env": L, "e": L, "cwd": S, "user": S, "u": S,
              "additional-gids": L, "g": L, "cap": L, "c": L, "no-new-privs": B,
              "apparmor": S, "process-label": S, "preserve-fds": I, "ignore-paused": B,
              "cgroup": L}, 1, -1),
    "ps": ({"format": S, "f": S}, 1, -1),
    "pause": ({}, 1, 1),
    "resume": ({}, 1, 1),
    "update": ({"resources": S, "r": S, "blkio-weight": I, "cpu-period": I, "cpu-quota": I,
                "cpu-share": I, "cpu-rt-period": I, "cpu-rt-runtime": I, "cpuset-cpus": S,
                "cpuset-mems": S, "kernel-memory": S, "kernel-memory-tcp": S, "memory": S,
                "memory-reservation": S, "memory-swap": S, "pids-limit": I,
                "l3-cache-schema": S, "mem-bw-schema": S}, 1, 1),
    "events": ({"stats": B, "interval": S}, 1, 1),
    "spec": ({"bundle": S, "b": S, "rootless": B}, 0, 0),
    "features": ({}, 0, 0),
    "checkpoint": ({}, 1, -1),
    "restore": ({}, 1, -1),
}
ALIASES = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "q": "quiet", "p": "process",
           "t": "tty", "e": "env", "u": "user", "g": "additional-gids", "c": "cap",
           "r": "resources", "h": "help", "v": "version"}


def _parse(argv: list[str], spec: dict[str, str], stop_at_positional: bool,
           cmd: str = "") -> tuple[dict[str, Any], list[str]]:
    opts: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos.extend(argv[i:])
            break
        if len(a) < 2 or not a.startswith("-") or (pos and stop_at_positional):
            pos.append(a)
            if stop_at_positional:
                pos.extend(argv[i:])
                break
            continue
        name = a.lstrip("-")
        val: str | None = None
        if "=" in name:
            name, val = name.split("=", 1)
        kind = spec.get(name)
        if kind is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        key = name
        if len(name) == 1:
            key = "format" if name == "f" and "format" in spec else ALIASES.get(name, name)
        if kind == B:
            if val is None:
                opts[key] = True
            elif val.lower() in ("true", "1", "t"):
                opts[key] = True
            elif val.lower() in ("false", "0", "f"):
                opts[key] = False
            else:
                raise UsageError(f'invalid boolean value "{val}" for -{name}')
            continue
        if val is None:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            val = argv[i]
            i += 1
        if kind == I:
            try:
                opts[key] = int(val)
            except ValueError:
                raise UsageError(f'invalid value "{val}" for flag -{name}: parse error') from None
        elif kind == L:
            opts.setdefault(key, []).append(val)
        else:
            opts[key] = val
    return opts, pos


def _nargs_error(cmd: str, lo: int, hi: int) -> UsageError:
    if lo == hi:
        return UsageError(f'berth-runc: "{cmd}" requires exactly {lo} argument(s)')
    if hi == -1:
        return UsageError(f'berth-runc: "{cmd}" requires a minimum of {lo} argument(s)')
    return UsageError(f'berth-runc: "{cmd}" requires a maximum of {hi} argument(s)')


# --------------------------------------------------------------------------- commands

def _root(g: dict[str, Any]) -> str:
    return os.path.abspath(g.get("root") or "/run/berth-runc")


def _create_opts(g: dict[str, Any], o: dict[str, Any], cid: str, detach: bool) -> Any:
    from .container import CreateOpts

    return CreateOpts(root=_root(g), cid=cid, bundle=o.get("bundle", ""),
                      pid_file=o.get("pid-file", ""), console_socket=o.get("console-socket", ""),
                      no_pivot=o.get("no-pivot", False), no_new_keyring=o.get("no-new-keyring", False),
                      preserve_fds=o.get("preserve-fds", 0), detach=detach, keep=o.get("keep", False))


def cmd_create(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import create

    st, _pid = create(_create_opts(g, o, args[0], True))
    st.release()
    return 0


def cmd_run(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import run

    return run(_create_opts(g, o, args[0], o.get("detach", False)))


def cmd_start(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import start
    from .state import State

    st = State.load(_root(g), args[0])
    start(st)
    st.release()
    return 0


def _state_json(st: Any) -> dict[str, Any]:
    s = st.oci_state()
    out = {"ociVersion": s["ociVersion"], "id": s["id"], "pid": s["pid"], "status": s["status"],
           "bundle": s["bundle"], "rootfs": s["rootfs"], "created": s["created"]}
    if s["annotations"]:
        out["annotations"] = s["annotations"]
    out["owner"] = s["owner"]
    return out


def cmd_state(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .state import State

    st = State.load(_root(g), args[0], lock=False)
    sys.stdout.write(json.dumps(_state_json(st), indent=2) + "\n")
    return 0


def parse_signal(s: str) -> int:
    import signal

    if s.isdigit():
        return int(s)
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal, name, None)
    if not isinstance(sig, int):
        from .errors import RuncError

        raise RuncError(f"unknown signal {s!r}".replace("'", '"'))
    return int(sig)


def cmd_kill(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import kill
    from .state import State

    sig = parse_signal(args[1] if len(args) > 1 else "SIGTERM")
    st = State.load(_root(g), args[0])
    kill(st, sig, o.get("all", False))
    return 0


def cmd_delete(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import delete

    delete(_root(g), args[0], o.get("force", False))
    return 0


def cmd_list(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .errors import RuncError
    from .state import State

    root = _root(g)
    rows = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        names = []
    for n in names:
        try:
            st = State.load(root, n, lock=False)
        except RuncError:
            continue
        rows.append(_state_json(st))
    if o.get("quiet"):
        for r in rows:
            print(r["id"])
        return 0
    fmt = o.get("format", "table")
    if fmt == "json":
        print(json.dumps(rows or None, separators=(",", ":")))
        return 0
    if fmt != "table":
        raise RuncError(f"invalid format option {fmt!r}".replace("'", '"'))
    table = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for r in rows:
        table.append([r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"]])
    widths = [max(len(row[c]) for row in table) for c in range(6)]
    for row in table:
        print("".join(v.ljust(max(widths[c] + 4, 12)) for c, v in enumerate(row[:-1])) + row[-1])
    return 0


def cmd_exec(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .config import config_from_json
    from .container import exec_process, exec_process_from_args
    from .errors import ConfigError, RuncError
    from .specconv import convert_process
    from .state import State

    st = State.load(_root(g), args[0], shared=True)
    if o.get("process"):
        path = o["process"]
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except OSError as e:
            raise RuncError(f"open {path}: {e.strerror}") from None
        except ValueError as e:
            raise ConfigError("", f"invalid JSON: {e}", file=path) from None
        try:
            proc = convert_process(doc, field="process")
        except ConfigError as e:
            raise ConfigError(e.field, e.problem, file=path) from None
        if o.get("tty"):
            proc.terminal = True
    else:
        if len(args) < 2:
            raise UsageError("exec: process args cannot be empty")
        cfg = config_from_json(st.data["config"])
        proc = exec_process_from_args(cfg, args[1:], o.get("env", []), o.get("cwd", ""),
                                      o.get("user", ""), o.get("cap", []), o.get("tty", False),
                                      True if o.get("no-new-privs") else None)
        for gid in o.get("additional-gids", []):
            proc.additional_gids.append(int(gid))
    return exec_process(st, proc, detach=o.get("detach", False), pid_file=o.get("pid-file", ""),
                        console_socket=o.get("console-socket", ""),
                        preserve_fds=o.get("preserve-fds", 0))


def cmd_ps(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .container import manager_for
    from .errors import RuncError
    from .state import State

    st = State.load(_root(g), args[0], lock=False)
    pids = manager_for(st).pids()
    fmt = o.get("format", "table")
    if fmt == "json":
        print(json.dumps(pids, separators=(",", ":")))
        return 0
    if fmt != "table":
        raise RuncError(f'invalid format option "{fmt}"')
    psargs = args[1:] or ["-ef"]
    r, w = os.pipe()
    try:
        pid = os.posix_spawnp("ps", ["ps", *psargs], os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
    except OSError as e:
        raise RuncError(f"exec ps: {e.strerror}") from None
    os.close(w)
    chunks = []
    while True:
        c = os.read(r, 65536)
        if not c:
            break
        chunks.append(c)
    os.close(r)
    os.waitpid(pid, 0)
    lines = b"".join(chunks).decode(errors="replace").splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise RuncError("couldn't find PID field in ps output")
    col = header.index("PID")
    print(lines[0])
    want = set(pids)
    for line in lines[1:]:
        f = line.split()
        if len(f) > col and f[col].isdigit() and int(f[col]) in want:
            print(line)
    return 0


def cmd_pause(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import manager_for
    from .errors import BadState
    from .state import State

    st = State.load(_root(g), args[0])
    status = st.status()
    if status not in ("running", "created"):
        raise BadState("container not running")
    manager_for(st).freeze()
    st.data["paused"] = True
    st.save()
    return 0


def cmd_resume(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .container import manager_for
    from .errors import BadState
    from .state import State

    st = State.load(_root(g), args[0])
    if st.status() != "paused":
        raise BadState("container not paused")
    manager_for(st).thaw()
    st.data["paused"] = False
    st.save()
    return 0


def _bytes(v: str, flag: str) -> int:
    from .errors import RuncError

    s = v.strip().lower()
    if s == "-1":
        return -1
    mult = 1
    for suf, m in (("kib", 1024), ("mib", 1024**2), ("gib", 1024**3), ("kb", 1024), ("mb", 1024**2),
                   ("gb", 1024**3), ("k", 1024), ("m", 1024**2), ("g", 1024**3), ("b", 1)):
        if s.endswith(suf):
            s, mult = s[: -len(suf)], m
            break
    try:
        return int(float(s) * mult)
    except ValueError:
        raise RuncError(f"invalid value for --{flag}: {v}") from None


def cmd_update(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .container import manager_for
    from .errors import RuncError
    from .state import State

    st = State.load(_root(g), args[0])
    res: dict[str, Any] = {}
    if "resources" in o:
        src = o["resources"]
        try:
            raw = sys.stdin.buffer.read() if src == "-" else open(src, "rb").read()
            res = json.loads(raw)
        except OSError as e:
            raise RuncError(f"open {src}: {e.strerror}") from None
        except ValueError as e:
            raise RuncError(f"decode resources JSON: {e}") from None
        if not isinstance(res, dict):
            raise RuncError("resources: must be a JSON object (OCI linux.resources)")
    mem = res.setdefault("memory", {})
    cpu = res.setdefault("cpu", {})
    for flag, key in (("memory", "limit"), ("memory-reservation", "reservation"),
                      ("memory-swap", "swap"), ("kernel-memory", "kernel"),
                      ("kernel-memory-tcp", "kernelTCP")):
        if flag in o:
            mem[key] = _bytes(o[flag], flag)
    for flag, key in (("cpu-period", "period"), ("cpu-quota", "quota"), ("cpu-share", "shares"),
                      ("cpu-rt-period", "realtimePeriod"), ("cpu-rt-runtime", "realtimeRuntime"),
                      ("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if flag in o:
            cpu[key] = o[flag]
    if "pids-limit" in o:
        res["pids"] = {"limit": o["pids-limit"]}
    if "blkio-weight" in o:
        res["blockIO"] = {"weight": o["blkio-weight"]}
    res = {k: v for k, v in res.items() if v != {}}
    manager_for(st).update(res)
    cfg = st.data["config"]
    merged = cfg.get("resources") or {}
    for k, v in res.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k].update(v)
        else:
            merged[k] = v
    cfg["resources"] = merged
    st.save()
    return 0


def _duration(s: str) -> float:
    from .errors import RuncError

    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for u in ("ms", "s", "m", "h"):
        if s.endswith(u):
            try:
                return float(s[: -len(u)]) * units[u]
            except ValueError:
                break
    raise RuncError(f'invalid duration "{s}"')


def cmd_events(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json
    import time

    from .container import events_stats, manager_for
    from .errors import RuncError
    from .state import State

    root = _root(g)
    st = State.load(root, args[0], lock=False)
    if st.status() == "stopped":
        raise RuncError(f"container with id {args[0]} is not running")
    if o.get("stats"):
        print(json.dumps(events_stats(st)))
        return 0
    interval = _duration(o.get("interval", "5s"))
    mgr = manager_for(st)
    ooms = mgr.oom_kill_count() or 0
    while st.status() != "stopped":
        print(json.dumps(events_stats(st)), flush=True)
        n = mgr.oom_kill_count() or 0
        if n > ooms:
            print(json.dumps({"type": "oom", "id": st.id}), flush=True)
            ooms = n
        time.sleep(interval)
        try:
            st = State.load(root, args[0], lock=False)
        except RuncError:
            break
    return 0


def cmd_spec(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .errors import RuncError

    try:
        from . import defaults  # type: ignore[attr-defined]
    except ImportError:
        raise RuncError("spec: default spec is not available (berth.plugins.runtimes.runc.defaults is missing)") from None
    fn = getattr(defaults, "default_spec", None) or getattr(defaults, "spec", None)
    if fn is None:
        raise RuncError("spec: berth.plugins.runtimes.runc.defaults has no default_spec()")
    spec = fn(rootless=o.get("rootless", False))
    bundle = o.get("bundle", "")
    if bundle:
        try:
            os.chdir(bundle)
        except OSError as e:
            raise RuncError(f"failed to chdir to bundle dir {bundle}: {e.strerror}") from None
    if os.path.exists("config.json"):
        raise RuncError("File config.json exists. Remove it first")
    with open("config.json", "w") as f:
        f.write(json.dumps(spec, indent="\t"))
    return 0


def cmd_features(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    import json

    from .config import NS_FLAGS
    from .specconv import CAPS, MOUNT_FLAGS, PROPAGATION, REC_ATTRS

    seccomp_ok = True
    try:
        import importlib.util

        seccomp_ok = importlib.util.find_spec("pyseccomp") is not None
    except Exception:  # noqa: BLE001
        seccomp_ok = False
    feats = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted(set(MOUNT_FLAGS) | set(PROPAGATION) | set(REC_ATTRS) | {"tmpcopyup"}),
        "linux": {
            "namespaces": [k for k in NS_FLAGS],
            "capabilities": sorted(CAPS, key=CAPS.__getitem__),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": seccomp_ok,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_X32", "SCMP_ARCH_X86",
                          "SCMP_ARCH_X86_64"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"io.github.berth.runc.version": VERSION},
    }
    print(json.dumps(feats, indent="    "))
    return 0


def cmd_unsupported(g: dict[str, Any], o: dict[str, Any], args: list[str]) -> int:
    from .errors import RuncError

    raise RuncError("checkpoint/restore is not supported by berth-runc")


HANDLERS = {
    "create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state,
    "kill": cmd_kill, "delete": cmd_delete, "list": cmd_list, "exec": cmd_exec, "ps": cmd_ps,
    "pause": cmd_pause, "resume": cmd_resume, "update": cmd_update, "events": cmd_events,
    "spec": cmd_spec, "features": cmd_features, "checkpoint": cmd_unsupported,
    "restore": cmd_unsupported,
}

USAGE = """NAME:
   berth-runc - Open Container Initiative runtime (berth, in Python)

USAGE:
   berth-runc [global options] command [command options] [arguments...]

COMMANDS:
   create, start, run, state, kill, delete, list, exec, ps, pause, resume,
   update, events, spec, features

GLOBAL OPTIONS:
   --debug             enable debug logging
   --log value         set the log file to write logs to (default is '/dev/stderr')
   --log-format value  set the log format ('text' (default), or 'json')
   --root value        root directory for storage of container state (default: "/run/berth-runc")
   --systemd-cgroup    accepted for runc compatibility
   --rootless value    accepted for runc compatibility
"""


def main(argv: list[str] | None = None) -> int:
    global _log_file, _log_format, _debug

    argv = sys.argv[1:] if argv is None else argv
    try:
        g, rest = _parse(argv, GLOBAL, stop_at_positional=True)
    except UsageError as e:
        sys.stderr.write(f"Incorrect Usage. {e}\n\n")
        return fatal(str(e))
    _log_file = g.get("log", "")
    _log_format = g.get("log-format", "text")
    _debug = bool(g.get("debug"))
    if _log_format not in ("text", "json"):
        _log_format = "text"
        return fatal(f"unknown log-format {g.get('log-format')!r}".replace("'", '"'))
    if g.get("version"):
        print(f"berth-runc version {VERSION}\nspec: {SPEC_VERSION}")
        return 0
    if not rest or g.get("help") or rest[0] in ("help", "h"):
        sys.stdout.write(USAGE)
        return 0
    cmd, cargs = rest[0], rest[1:]
    if cmd not in COMMANDS:
        return fatal(f"No help topic for '{cmd}'", 3)
    spec, lo, hi = COMMANDS[cmd]
    try:
        o, args = _parse(cargs, spec, stop_at_positional=cmd in ("exec", "ps"), cmd=cmd)
        if len(args) < lo or (hi != -1 and len(args) > hi):
            raise _nargs_error(cmd, lo, hi)
    except UsageError as e:
        sys.stderr.write(f"Incorrect Usage. {e}\n\n")
        return fatal(str(e))
    from .errors import RuncError

    try:
        return HANDLERS[cmd](g, o, args)
    except RuncError as e:
        return fatal(str(e), e.exit_code)
    except UsageError as e:
        return fatal(str(e))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        return fatal(f"{cmd}: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
    except Exception as e:  # noqa: BLE001 - cgroup errors and the like: report, exit 1
        if _debug:
            import traceback

            traceback.print_exc()
        return fatal(f"{type(e).__name__}: {e}" if not str(e) else str(e))


if __name__ == "__main__":
    sys.exit(main())
