"""Convert an OCI runtime spec (``config.json``) into a :class:`~.config.Config`.

Pure: takes the decoded JSON and the bundle path, returns data, raises
:class:`~.errors.ConfigError` naming the key path of the first thing that is
malformed (``process.args: must be a non-empty list of strings``). It never
touches the file system; :mod:`.validate` then checks combinations.

Follows runtime-spec 1.0-1.1 (Linux) and runc's ``libcontainer/specconv``:
mount option strings split into flags / clear flags / propagation /
recursive attributes / data, default devices appended, relative mount
destinations made absolute, capabilities and rlimits resolved by name.
"""
from __future__ import annotations

from . import _sys as S
from .config import NS_FLAGS, Config, Device, Hook, IdMap, Mount, Namespace, Process, Rlimit
from .errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["convert", "load_spec", "convert_process", "CAPS", "RLIMITS", "MOUNT_FLAGS"]

CAPS = {f"CAP_{n}": i for i, n in enumerate((
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE").split())}

RLIMITS = {f"RLIMIT_{n}": i for i, n in enumerate(
    "CPU FSIZE DATA STACK CORE RSS NPROC NOFILE MEMLOCK AS LOCKS SIGPENDING MSGQUEUE NICE "
    "RTPRIO RTTIME".split())}

#: option -> (clear?, flag)
MOUNT_FLAGS = {
    "acl": (False, 1 << 16), "noacl": (True, 1 << 16),  # MS_POSIXACL
    "async": (True, S.MS_SYNCHRONOUS), "atime": (True, S.MS_NOATIME), "bind": (False, S.MS_BIND),
    "defaults": (False, 0), "dev": (True, S.MS_NODEV), "diratime": (True, S.MS_NODIRATIME),
    "dirsync": (False, S.MS_DIRSYNC), "exec": (True, S.MS_NOEXEC),
    "iversion": (False, S.MS_I_VERSION), "lazytime": (False, S.MS_LAZYTIME),
    "loud": (True, S.MS_SILENT), "mand": (False, S.MS_MANDLOCK), "noatime": (False, S.MS_NOATIME),
    "nodev": (False, S.MS_NODEV), "nodiratime": (False, S.MS_NODIRATIME),
    "noexec": (False, S.MS_NOEXEC), "noiversion": (True, S.MS_I_VERSION),
    "nolazytime": (True, S.MS_LAZYTIME), "nomand": (True, S.MS_MANDLOCK),
    "norelatime": (True, S.MS_RELATIME), "nostrictatime": (True, S.MS_STRICTATIME),
    "nosuid": (False, S.MS_NOSUID), "nosymfollow": (False, S.MS_NOSYMFOLLOW),
    "rbind": (False, S.MS_BIND | S.MS_REC), "relatime": (False, S.MS_RELATIME),
    "remount": (False, S.MS_REMOUNT), "ro": (False, S.MS_RDONLY), "rw": (True, S.MS_RDONLY),
    "silent": (False, S.MS_SILENT), "strictatime": (False, S.MS_STRICTATIME),
    "suid": (True, S.MS_NOSUID), "symfollow": (True, S.MS_NOSYMFOLLOW),
    "sync": (False, S.MS_SYNCHRONOUS),
}

PROPAGATION = {
    "private": S.MS_PRIVATE, "rprivate": S.MS_PRIVATE | S.MS_REC,
    "shared": S.MS_SHARED, "rshared": S.MS_SHARED | S.MS_REC,
    "slave": S.MS_SLAVE, "rslave": S.MS_SLAVE | S.MS_REC,
    "unbindable": S.MS_UNBINDABLE, "runbindable": S.MS_UNBINDABLE | S.MS_REC,
}

# mount_setattr(2) attributes for the recursive options (rro, rnosuid...).
MOUNT_ATTR = {"ro": 0x1, "nosuid": 0x2, "nodev": 0x4, "noexec": 0x8, "atime": 0x70,
              "relatime": 0x0, "noatime": 0x10, "strictatime": 0x20, "nodiratime": 0x80,
              "nosymfollow": 0x200000}
#: recursive option -> (set, clear)
REC_ATTRS = {
    "rro": (0x1, 0), "rrw": (0, 0x1), "rnosuid": (0x2, 0), "rsuid": (0, 0x2),
    "rnodev": (0x4, 0), "rdev": (0, 0x4), "rnoexec": (0x8, 0), "rexec": (0, 0x8),
    "rnodiratime": (0x80, 0), "rdiratime": (0, 0x80), "rrelatime": (0, 0x70),
    "rnorelatime": (0, 0), "rnoatime": (0x10, 0x70), "ratime": (0, 0x70),
    "rstrictatime": (0x20, 0x70), "rnostrictatime": (0, 0), "rnosymfollow": (0x200000, 0),
    "rsymfollow": (0, 0x200000),
}

#: accepted and ignored (runc handles ``tmpcopyup`` only for tmpfs; we copy nothing)
IGNORED_OPTIONS = {"tmpcopyup"}

ROOTFS_PROPAGATION = {"private": S.MS_PRIVATE | S.MS_REC, "rprivate": S.MS_PRIVATE | S.MS_REC,
                      "slave": S.MS_SLAVE | S.MS_REC, "rslave": S.MS_SLAVE | S.MS_REC,
                      "shared": S.MS_SHARED | S.MS_REC, "rshared": S.MS_SHARED | S.MS_REC,
                      "unbindable": S.MS_UNBINDABLE | S.MS_REC,
                      "runbindable": S.MS_UNBINDABLE | S.MS_REC}

DEFAULT_DEVICES = [
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
]

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
              "poststop")


def _tname(v: object) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), type(v).__name__)


def _bad(field: str, expected: str, got: object) -> ConfigError:
    shown = repr(got) if not isinstance(got, (dict, list)) or len(repr(got)) < 40 else _tname(got)
    t = _tname(got)
    return ConfigError(field, f"must be {expected} (got {shown}, {'an' if t[0] in 'aeiou' else 'a'} {t})")


def _obj(d: Any, field: str, required: bool = False) -> dict[str, Any]:
    if d is None:
        if required:
            raise ConfigError(field, "is required")
        return {}
    if not isinstance(d, dict):
        raise _bad(field, "an object", d)
    return d


def _str(d: dict[str, Any], key: str, field: str, required: bool = False, default: str = "") -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise ConfigError(field, "is required")
        return default
    if not isinstance(v, str):
        raise _bad(field, "a string", v)
    return v


def _bool(d: dict[str, Any], key: str, field: str) -> bool:
    v = d.get(key)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise _bad(field, "a boolean", v)
    return v


def _int(d: dict[str, Any], key: str, field: str, lo: int | None = None, hi: int | None = None,
         default: int | None = None) -> int | None:
    v = d.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool):
        raise _bad(field, "an integer", v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(field, f"must be between {lo} and {hi} (got {v})")
    return v


def _strlist(d: dict[str, Any], key: str, field: str, nonempty: bool = False) -> list[str]:
    v = d.get(key)
    if v is None:
        if nonempty:
            raise ConfigError(field, "must be a non-empty list of strings")
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or (nonempty and not v):
        raise ConfigError(field, "must be a non-empty list of strings" if nonempty
                          else f"must be a list of strings (got {_tname(v)})")
    return v


def _list(d: dict[str, Any], key: str, field: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _bad(field, "an array", v)
    return v


def _abs(path: str) -> str:
    import posixpath

    return posixpath.normpath("/" + path) if not path.startswith("/") else posixpath.normpath(path)


def parse_mount_options(opts: list[str], field: str) -> dict[str, Any]:
    """Split OCI mount option strings the way runc's ``parseMountOptions`` does."""
    flags = clear = prop = aset = aclr = 0
    data: list[str] = []
    for o in opts:
        if o in MOUNT_FLAGS:
            is_clear, f = MOUNT_FLAGS[o]
            if is_clear:
                flags &= ~f
                clear |= f
            else:
                flags |= f
                clear &= ~f
        elif o in PROPAGATION:
            prop |= PROPAGATION[o]
        elif o in REC_ATTRS:
            s, c = REC_ATTRS[o]
            aset |= s
            aclr |= c
        elif o in IGNORED_OPTIONS:
            continue
        elif o in ("idmap", "ridmap"):
            raise ConfigError(field, f"mount option {o!r} is not supported by berth-runc")
        else:
            data.append(o)
    return {"flags": flags, "clear": clear, "propagation": prop, "data": ",".join(data),
            "rec_attr_set": aset, "rec_attr_clr": aclr}


def _mount(m: Any, i: int) -> Mount:
    f = f"mounts[{i}]"
    m = _obj(m, f)
    dest = _str(m, "destination", f + ".destination", required=True)
    if not dest:
        raise ConfigError(f + ".destination", "must not be empty")
    opts = _strlist(m, "options", f + ".options")
    typ = _str(m, "type", f + ".type")
    src = _str(m, "source", f + ".source")
    parsed = parse_mount_options(opts, f + ".options")
    if not typ and parsed["flags"] & S.MS_BIND:
        typ = "bind"
    if typ == "bind" and not parsed["flags"] & S.MS_BIND:
        parsed["flags"] |= S.MS_BIND
    if not typ:
        raise ConfigError(f + ".type", "is required unless options contain bind or rbind")
    return Mount(destination=_abs(dest), source=src, type=typ, options=opts, **parsed)


def _idmaps(lin: dict[str, Any], key: str) -> list[IdMap]:
    out = []
    for i, m in enumerate(_list(lin, key, f"linux.{key}")):
        f = f"linux.{key}[{i}]"
        m = _obj(m, f)
        for k in ("containerID", "hostID", "size"):
            if m.get(k) is None:
                raise ConfigError(f"{f}.{k}", "is required")
        out.append(IdMap(container_id=_int(m, "containerID", f + ".containerID", 0, 2**32 - 1),
                         host_id=_int(m, "hostID", f + ".hostID", 0, 2**32 - 1),
                         size=_int(m, "size", f + ".size", 1, 2**32)))
    return out


def _caps(p: dict[str, Any]) -> dict[str, list[int]]:
    c = _obj(p.get("capabilities"), "process.capabilities")
    out: dict[str, list[int]] = {}
    for kind in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        names = _strlist(c, kind, f"process.capabilities.{kind}")
        nums = []
        for n in names:
            key = n.upper() if n.upper().startswith("CAP_") else "CAP_" + n.upper()
            if key not in CAPS:
                raise ConfigError(f"process.capabilities.{kind}", f"unknown capability {n!r}")
            nums.append(CAPS[key])
        out[kind] = sorted(set(nums))
    return out


def convert_process(p: Any, field: str = "process") -> Process:
    """Convert an OCI ``process`` object (also used for ``exec --process``)."""
    p = _obj(p, field, required=True)
    args = _strlist(p, "args", f"{field}.args", nonempty=True)
    user = _obj(p.get("user"), f"{field}.user")
    cs = _obj(p.get("consoleSize"), f"{field}.consoleSize")
    rlimits = []
    seen = set()
    for i, r in enumerate(_list(p, "rlimits", f"{field}.rlimits")):
        f = f"{field}.rlimits[{i}]"
        r = _obj(r, f)
        t = _str(r, "type", f + ".type", required=True)
        if t not in RLIMITS:
            raise ConfigError(f + ".type", f"unknown rlimit type {t!r} (expected one of RLIMIT_NOFILE, RLIMIT_NPROC, ...)")
        if t in seen:
            raise ConfigError(f + ".type", f"duplicate rlimit {t}")
        seen.add(t)
        soft = _int(r, "soft", f + ".soft", 0, 2**64 - 1)
        hard = _int(r, "hard", f + ".hard", 0, 2**64 - 1)
        if soft is None or hard is None:
            raise ConfigError(f, "soft and hard are required")
        if soft > hard:
            raise ConfigError(f, f"soft limit {soft} is greater than hard limit {hard}")
        rlimits.append(Rlimit(type=t, resource=RLIMITS[t], soft=soft, hard=hard))
    env = _strlist(p, "env", f"{field}.env")
    for i, e in enumerate(env):
        if "=" not in e:
            raise ConfigError(f"{field}.env[{i}]", f"must be KEY=value (got {e!r})")
    cwd = _str(p, "cwd", f"{field}.cwd", default="/") or "/"
    if not cwd.startswith("/"):
        raise ConfigError(f"{field}.cwd", f"must be an absolute path (got {cwd!r})")
    agids = user.get("additionalGids")
    if agids is not None and (not isinstance(agids, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) and 0 <= g < 2**32 for g in agids)):
        raise _bad(f"{field}.user.additionalGids", "a list of integer gids", agids)
    return Process(
        terminal=_bool(p, "terminal", f"{field}.terminal"),
        console_size=[_int(cs, "height", f"{field}.consoleSize.height", 0, 65535, 0),
                      _int(cs, "width", f"{field}.consoleSize.width", 0, 65535, 0)] if cs else None,
        args=args, env=env, cwd=cwd,
        uid=_int(user, "uid", f"{field}.user.uid", 0, 2**32 - 1, 0),
        gid=_int(user, "gid", f"{field}.user.gid", 0, 2**32 - 1, 0),
        umask=_int(user, "umask", f"{field}.user.umask", 0, 0o7777),
        additional_gids=list(agids or []),
        caps=_caps(p) if p.get("capabilities") is not None else None,
        rlimits=rlimits,
        no_new_privileges=_bool(p, "noNewPrivileges", f"{field}.noNewPrivileges"),
        oom_score_adj=_int(p, "oomScoreAdj", f"{field}.oomScoreAdj", -1000, 1000),
        apparmor=_str(p, "apparmorProfile", f"{field}.apparmorProfile"),
        selinux_label=_str(p, "selinuxLabel", f"{field}.selinuxLabel"),
    )


def _hooks(spec: dict[str, Any]) -> dict[str, list[Hook]]:
    hk = _obj(spec.get("hooks"), "hooks")
    out: dict[str, list[Hook]] = {}
    for kind, items in hk.items():
        if kind not in HOOK_KINDS:
            raise ConfigError(f"hooks.{kind}", f"unknown hook kind (expected one of {', '.join(HOOK_KINDS)})")
        if not isinstance(items, list):
            raise _bad(f"hooks.{kind}", "an array", items)
        lst = []
        for i, h in enumerate(items):
            f = f"hooks.{kind}[{i}]"
            h = _obj(h, f)
            path = _str(h, "path", f + ".path", required=True)
            if not path.startswith("/"):
                raise ConfigError(f + ".path", f"must be an absolute path (got {path!r})")
            lst.append(Hook(path=path, args=_strlist(h, "args", f + ".args") or [path],
                            env=_strlist(h, "env", f + ".env"),
                            timeout=_int(h, "timeout", f + ".timeout", 1, 2**31)))
        out[kind] = lst
    return out


def convert(spec: Any, bundle: str) -> Config:
    """Turn a decoded ``config.json`` into a :class:`Config`.

    Args:
      spec: the decoded JSON document.
      bundle: absolute path of the bundle directory (relative ``root.path``
        and bind sources are resolved against it).

    Raises:
      ConfigError: naming the first malformed key.
    """
    import posixpath

    if not isinstance(spec, dict):
        raise ConfigError("", f"must be a JSON object (got {_tname(spec)})")
    oci = _str(spec, "ociVersion", "ociVersion", required=True)
    root = _obj(spec.get("root"), "root", required=True)
    rpath = _str(root, "path", "root.path", required=True)
    if not rpath:
        raise ConfigError("root.path", "must not be empty")
    rootfs = posixpath.normpath(posixpath.join(bundle, rpath))
    proc = convert_process(spec.get("process"))
    lin = _obj(spec.get("linux"), "linux")

    namespaces = []
    seen: set[str] = set()
    for i, n in enumerate(_list(lin, "namespaces", "linux.namespaces")):
        f = f"linux.namespaces[{i}]"
        n = _obj(n, f)
        t = _str(n, "type", f + ".type", required=True)
        if t not in NS_FLAGS:
            raise ConfigError(f + ".type", f"unknown namespace type {t!r} (expected one of {', '.join(NS_FLAGS)})")
        if t in seen:
            raise ConfigError(f + ".type", f"duplicate namespace {t!r}")
        seen.add(t)
        path = _str(n, "path", f + ".path")
        if path and not path.startswith("/"):
            raise ConfigError(f + ".path", f"must be an absolute path (got {path!r})")
        namespaces.append(Namespace(type=t, path=path))

    devices = []
    for i, d in enumerate(_list(lin, "devices", "linux.devices")):
        f = f"linux.devices[{i}]"
        d = _obj(d, f)
        path = _str(d, "path", f + ".path", required=True)
        if not path.startswith("/dev/") and not path.startswith("/"):
            raise ConfigError(f + ".path", f"must be an absolute path (got {path!r})")
        t = _str(d, "type", f + ".type", required=True)
        if t not in ("c", "b", "u", "p"):
            raise ConfigError(f + ".type", f"must be one of c, b, u, p (got {t!r})")
        major = _int(d, "major", f + ".major", 0, 2**32 - 1)
        minor = _int(d, "minor", f + ".minor", 0, 2**32 - 1)
        if t != "p" and (major is None or minor is None):
            raise ConfigError(f, "major and minor are required for type " + t)
        devices.append(Device(path=_abs(path), type=t, major=major or 0, minor=minor or 0,
                              mode=_int(d, "fileMode", f + ".fileMode", 0, 0o7777, 0o666),
                              uid=_int(d, "uid", f + ".uid", 0, 2**32 - 1, 0),
                              gid=_int(d, "gid", f + ".gid", 0, 2**32 - 1, 0)))
    have = {d.path for d in devices}
    for path, ma, mi in DEFAULT_DEVICES:
        if path not in have:
            devices.append(Device(path=path, type="c", major=ma, minor=mi, mode=0o666, uid=0, gid=0))

    sysctl = _obj(lin.get("sysctl"), "linux.sysctl")
    for k, v in sysctl.items():
        if not isinstance(v, str):
            raise _bad(f"linux.sysctl.{k}", "a string", v)
    annotations = _obj(spec.get("annotations"), "annotations")
    for k, v in annotations.items():
        if not isinstance(v, str):
            raise _bad(f"annotations.{k}", "a string", v)
    rp = _str(lin, "rootfsPropagation", "linux.rootfsPropagation")
    if rp and rp not in ROOTFS_PROPAGATION:
        raise ConfigError("linux.rootfsPropagation", f"unknown propagation {rp!r} (expected one of {', '.join(ROOTFS_PROPAGATION)})")
    mounts = []
    for i, m in enumerate(_list(spec, "mounts", "mounts")):
        mt = _mount(m, i)
        if mt.type == "bind" and mt.source and not mt.source.startswith("/"):
            mt.source = posixpath.normpath(posixpath.join(bundle, mt.source))
        mounts.append(mt)
    seccomp = lin.get("seccomp")
    if seccomp is not None:
        _obj(seccomp, "linux.seccomp")
    resources = dict(_obj(lin.get("resources"), "linux.resources"))
    rules = resources.get("devices")
    if rules is not None and not isinstance(rules, list):
        raise _bad("linux.resources.devices", "an array", rules)
    # As runc: the spec's rules, then the configured nodes, then the defaults
    # every container needs (/dev/null, ptys...), so "deny all" keeps them usable.
    from .defaults import default_device_rules

    resources["devices"] = list(rules or []) + [
        {"allow": True, "type": d.type if d.type != "u" else "c", "major": d.major, "minor": d.minor,
         "access": "rwm"} for d in devices if d.type != "p"] + default_device_rules()
    for path_key in ("maskedPaths", "readonlyPaths"):
        for i, pth in enumerate(_strlist(lin, path_key, f"linux.{path_key}")):
            if not pth.startswith("/"):
                raise ConfigError(f"linux.{path_key}[{i}]", f"must be an absolute path (got {pth!r})")
    hostname = _str(spec, "hostname", "hostname")
    return Config(
        oci_version=oci, bundle=bundle, rootfs=rootfs,
        readonly_root=_bool(root, "readonly", "root.readonly"),
        hostname=hostname if "hostname" in spec else None,
        domainname=_str(spec, "domainname", "domainname") if "domainname" in spec else None,
        annotations=annotations, namespaces=namespaces,
        uid_mappings=_idmaps(lin, "uidMappings"), gid_mappings=_idmaps(lin, "gidMappings"),
        mounts=mounts, rootfs_propagation=ROOTFS_PROPAGATION.get(rp, 0),
        devices=devices,
        masked_paths=_strlist(lin, "maskedPaths", "linux.maskedPaths"),
        readonly_paths=_strlist(lin, "readonlyPaths", "linux.readonlyPaths"),
        sysctl=sysctl, seccomp=seccomp,
        cgroups_path=_str(lin, "cgroupsPath", "linux.cgroupsPath"),
        resources=resources, hooks=_hooks(spec), process=proc,
    )


def load_spec(bundle: str) -> Any:
    """Read and decode ``<bundle>/config.json`` (the only I/O here)."""
    import json

    path = bundle.rstrip("/") + "/config.json"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        from .errors import RuncError

        raise RuncError(f"JSON specification file config.json not found in bundle {bundle}") from None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise ConfigError("", f"invalid JSON: {e}") from None
