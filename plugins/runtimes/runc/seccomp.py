"""seccomp for berth-runc: validate and load OCI ``linux.seccomp``, and Docker's default profile.

Three stages, as runc has them (convert, validate, then act):

* :func:`validate` is pure: it returns every problem in a spec, each as
  ``<json path>: <what is wrong>``; the runtime's config validator calls it.
* :func:`load` builds a libseccomp filter with pyseccomp and loads it into the
  **calling process** (berth-runc's container init, just before ``execve``).
* :func:`default_profile` resolves the bundled Docker profile
  (``seccomp_default.json``) for this machine's architecture, a capability
  list and the running kernel.

How a spec maps to libseccomp, following runc (``libcontainer/seccomp``):

* ``SCMP_ACT_KILL`` is ``KILL_THREAD``; ``SCMP_ACT_ERRNO`` and
  ``SCMP_ACT_TRACE`` return ``errnoRet``, default ``EPERM``.
* A rule whose action equals the default action is skipped (libseccomp
  refuses such rules, and they change nothing).
* Syscall names libseccomp does not know are skipped: profiles list
  syscalls of newer kernels and other architectures.
* Conditions on distinct argument indexes are ANDed in one rule; when an
  index repeats, each condition becomes its own rule (ORed), the only way
  to express "arg0 == A or arg0 == B" in the OCI format.
* The filter does not set ``no_new_privs`` itself (libseccomp would by
  default): ``process.noNewPrivileges`` decides that. Without it, loading
  needs ``CAP_SYS_ADMIN``, so berth-runc loads the filter before dropping
  capabilities in that case.
* ``flags``: ``SECCOMP_FILTER_FLAG_TSYNC`` -> ``CTL_TSYNC``,
  ``SECCOMP_FILTER_FLAG_LOG`` -> ``CTL_LOG``,
  ``SECCOMP_FILTER_FLAG_SPEC_ALLOW`` -> ``CTL_SSB``;
  ``SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`` is known to the spec but needs
  libseccomp 2.6, so :func:`load` refuses it here.
* Unlike runc, berth does not patch the BPF program to return ``ENOSYS`` for
  syscalls newer than the profile; they get the default action.

pyseccomp and ``json`` are imported inside the functions that need them,
so importing this module costs next to nothing.
"""
from __future__ import annotations

import errno as _errno
import os

from berth.core.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "SeccompError",
    "ACTIONS",
    "OPERATORS",
    "ARCHITECTURES",
    "FLAGS",
    "validate",
    "load",
    "default_profile",
    "native_arch",
]

#: OCI action name -> pyseccomp constant name (ERRNO/TRACE take a value).
ACTIONS = {
    "SCMP_ACT_KILL": "KILL_THREAD",
    "SCMP_ACT_KILL_THREAD": "KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS": "KILL_PROCESS",
    "SCMP_ACT_TRAP": "TRAP",
    "SCMP_ACT_ERRNO": "ERRNO",
    "SCMP_ACT_TRACE": "TRACE",
    "SCMP_ACT_ALLOW": "ALLOW",
    "SCMP_ACT_LOG": "LOG",
    "SCMP_ACT_NOTIFY": "NOTIFY",
}

#: OCI comparison operator -> libseccomp ``scmp_compare`` value.
OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

#: OCI architecture -> attribute of ``pyseccomp.Arch`` (``None``: in the spec,
#: unknown to libseccomp 2.5 here; skipped with a warning).
ARCHITECTURES = {
    "SCMP_ARCH_X86": "X86",
    "SCMP_ARCH_X86_64": "X86_64",
    "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM",
    "SCMP_ARCH_AARCH64": "AARCH64",
    "SCMP_ARCH_MIPS": "MIPS",
    "SCMP_ARCH_MIPS64": "MIPS64",
    "SCMP_ARCH_MIPS64N32": "MIPS64N32",
    "SCMP_ARCH_MIPSEL": "MIPSEL",
    "SCMP_ARCH_MIPSEL64": "MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32": "MIPSEL64N32",
    "SCMP_ARCH_PPC": "PPC",
    "SCMP_ARCH_PPC64": "PPC64",
    "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_S390": "S390",
    "SCMP_ARCH_S390X": "S390X",
    "SCMP_ARCH_PARISC": "PARISC",
    "SCMP_ARCH_PARISC64": "PARISC64",
    "SCMP_ARCH_RISCV64": "RISCV64",
    "SCMP_ARCH_LOONGARCH64": None,
    "SCMP_ARCH_M68K": None,
    "SCMP_ARCH_SH": None,
    "SCMP_ARCH_SHEB": None,
}

#: OCI filter flag -> (pyseccomp ``Attr`` name or ``None`` if unsupported here).
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": "CTL_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG": "CTL_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": "CTL_SSB",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": None,
}

_U64 = (1 << 64) - 1
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_default.json")


class SeccompError(InvalidArgument):
    """The seccomp configuration is invalid or libseccomp refused it.

    The message starts with the JSON path of the offending field, e.g.
    ``linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"``; fix
    that field in ``config.json``.
    """


def _is_uint(value: Any, top: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= top


def _check_action(where: str, action: Any, errno_ret: Any, errors: list[str]) -> None:
    if action not in ACTIONS:
        errors.append(f"{where}.action: unknown action {_q(action)}")
        return
    if errno_ret is not None:
        if action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            errors.append(f"{where}.errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE (action is {action})")
        elif not _is_uint(errno_ret, 0xFFFF):
            errors.append(f"{where}.errnoRet: must be an integer 0-65535 (got {errno_ret!r})")


def _q(value: Any) -> str:
    # Go-style %q for strings (what runc prints), repr for anything else.
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def validate(spec: dict[str, Any]) -> list[str]:
    """Return every problem in OCI ``linux.seccomp`` ``spec``; empty means valid.

    Pure: touches neither libseccomp nor the kernel, so unknown syscall
    names are not errors here (:func:`load` skips them).

    Each message is ``<path>: <problem>``, the path starting at
    ``linux.seccomp``, e.g. ``linux.seccomp.syscalls[3].action: unknown action
    "SCMP_ACT_FOO"``.
    """
    errors: list[str] = []
    root = "linux.seccomp"
    if not isinstance(spec, dict):
        return [f"{root}: must be an object"]
    default = spec.get("defaultAction")
    if default is None:
        errors.append(f"{root}.defaultAction: required")
    elif default not in ACTIONS:
        errors.append(f"{root}.defaultAction: unknown action {_q(default)}")
    elif default == "SCMP_ACT_NOTIFY":
        errors.append(f"{root}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
    errno_ret = spec.get("defaultErrnoRet")
    if errno_ret is not None and default in ACTIONS:
        if default not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            errors.append(f"{root}.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE (defaultAction is {default})")
        elif not _is_uint(errno_ret, 0xFFFF):
            errors.append(f"{root}.defaultErrnoRet: must be an integer 0-65535 (got {errno_ret!r})")
    for i, arch in enumerate(spec.get("architectures") or []):
        if arch not in ARCHITECTURES:
            errors.append(f"{root}.architectures[{i}]: unknown architecture {_q(arch)}")
    for i, flag in enumerate(spec.get("flags") or []):
        if flag not in FLAGS:
            errors.append(f"{root}.flags[{i}]: unknown flag {_q(flag)}")
    notify = False
    for i, rule in enumerate(spec.get("syscalls") or []):
        where = f"{root}.syscalls[{i}]"
        if not isinstance(rule, dict):
            errors.append(f"{where}: must be an object")
            continue
        names = rule.get("names")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            errors.append(f"{where}.names: must be a non-empty list of syscall names")
            names = []
        action = rule.get("action")
        _check_action(where, action, rule.get("errnoRet"), errors)
        if action == "SCMP_ACT_NOTIFY":
            notify = True
            if "write" in names:
                # The runtime itself writes to its log/stdio after loading
                # the filter: notifying on write would wait on a listener
                # that is not there yet.
                errors.append(f"{where}: SCMP_ACT_NOTIFY cannot be used for \"write\"")
        args = rule.get("args") or []
        if len(args) > 6:
            errors.append(f"{where}.args: at most 6 conditions (got {len(args)})")
        for j, arg in enumerate(args):
            awhere = f"{where}.args[{j}]"
            if not isinstance(arg, dict):
                errors.append(f"{awhere}: must be an object")
                continue
            if not _is_uint(arg.get("index"), 5):
                errors.append(f"{awhere}.index: must be 0-5 (got {arg.get('index')!r})")
            for key in ("value", "valueTwo"):
                if key in arg and not _is_uint(arg[key], _U64):
                    errors.append(f"{awhere}.{key}: must be an unsigned 64-bit integer (got {arg[key]!r})")
            if arg.get("op") not in OPERATORS:
                errors.append(f"{awhere}.op: unknown operator {_q(arg.get('op'))}")
    if notify and not spec.get("listenerPath"):
        errors.append(f"{root}.listenerPath: required when an action is SCMP_ACT_NOTIFY")
    return errors


def _action(sc: Any, name: str, errno_ret: int | None) -> int:
    const = ACTIONS[name]
    if const in ("ERRNO", "TRACE"):
        return int(getattr(sc, const)(_errno.EPERM if errno_ret is None else errno_ret))
    return int(getattr(sc, const))


def _warn(message: str, **fields: Any) -> None:
    import logging

    logging.getLogger(__name__).warning(message, extra=fields)


def load(spec: dict[str, Any]) -> int | None:
    """Build the filter described by ``spec`` and load it into the calling process.

    Args:
        spec: OCI ``linux.seccomp``.

    Returns:
        A new file descriptor for the seccomp user notification listener when
        any rule uses ``SCMP_ACT_NOTIFY`` (send it to ``listenerPath``; the
        caller owns and closes it), else ``None``.

    Raises:
        SeccompError: :func:`validate` found problems (all listed, ``; ``
            separated), or libseccomp/the kernel refused a rule, flag or the
            load; the message names the field.
    """
    problems = validate(spec)
    if problems:
        raise SeccompError("; ".join(problems))
    import pyseccomp as sc

    root = "linux.seccomp"
    default = _action(sc, spec["defaultAction"], spec.get("defaultErrnoRet"))
    try:
        filt = sc.SyscallFilter(default)
        filt.set_attr(sc.Attr.CTL_NNP, 0)
    except OSError as e:
        raise SeccompError(f"{root}.defaultAction: libseccomp refused {spec['defaultAction']}: {e.strerror}") from e

    notify = any(r.get("action") == "SCMP_ACT_NOTIFY" for r in spec.get("syscalls") or [])
    for i, flag in enumerate(spec.get("flags") or []):
        attr = FLAGS[flag]
        if attr is None:
            raise SeccompError(f"{root}.flags[{i}]: {flag} is not supported by this libseccomp")
        try:
            filt.set_attr(getattr(sc.Attr, attr), 1)
        except OSError as e:
            raise SeccompError(f"{root}.flags[{i}]: cannot set {flag}: {e.strerror}") from e

    for i, arch in enumerate(spec.get("architectures") or []):
        attr = ARCHITECTURES[arch]
        if attr is None or not hasattr(sc.Arch, attr):
            _warn("seccomp architecture unknown to libseccomp; skipped", arch=arch)
            continue
        try:
            filt.add_arch(getattr(sc.Arch, attr))
        except OSError as e:
            if e.errno == _errno.EEXIST:  # the native arch is always there
                continue
            _warn("seccomp architecture refused by libseccomp; skipped", arch=arch, error=e.strerror)

    for i, rule in enumerate(spec.get("syscalls") or []):
        action = _action(sc, rule["action"], rule.get("errnoRet"))
        if action == default:
            continue
        args = rule.get("args") or []
        conds = [sc.Arg(a["index"], OPERATORS[a["op"]], a.get("value", 0), a.get("valueTwo", 0)) for a in args]
        indexes = [a["index"] for a in args]
        separate = len(set(indexes)) != len(indexes)
        for name in rule["names"]:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr == -1:  # __NR_SCMP_ERROR: unknown everywhere
                continue
            try:
                if separate:
                    for cond in conds:
                        filt.add_rule(action, nr, cond)
                else:
                    filt.add_rule(action, nr, *conds)
            except OSError as e:
                raise SeccompError(
                    f"{root}.syscalls[{i}]: libseccomp refused the rule for {_q(name)}: {e.strerror}"
                ) from e
    try:
        filt.load()
    except OSError as e:
        raise SeccompError(f"{root}: loading the filter failed: {e.strerror}") from e
    if notify:
        fd = int(sc._libseccomp.seccomp_notify_fd(filt._filter))  # noqa: SLF001 - pyseccomp has no public accessor
        if fd < 0:
            raise SeccompError(f"{root}: no notification fd after loading the filter: {os.strerror(-fd)}")
        return os.dup(fd)
    return None


#: ``uname -m`` -> the architecture words the Docker profile uses (Go's, mostly).
_MACHINE_TO_NATIVE = {
    "x86_64": "amd64", "i386": "x86", "i686": "x86", "aarch64": "arm64",
    "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64",
    "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loongarch64",
    "mips64": "mips64", "mips": "mipsle",
}

#: native word -> OCI architecture name.
_NATIVE_TO_SCMP = {
    "x86": "SCMP_ARCH_X86", "amd64": "SCMP_ARCH_X86_64", "x32": "SCMP_ARCH_X32",
    "arm": "SCMP_ARCH_ARM", "arm64": "SCMP_ARCH_AARCH64", "loongarch64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64", "mips64n32": "SCMP_ARCH_MIPS64N32", "mipsel64": "SCMP_ARCH_MIPSEL64",
    "mipsel64n32": "SCMP_ARCH_MIPSEL64N32", "mipsle": "SCMP_ARCH_MIPSEL", "ppc": "SCMP_ARCH_PPC",
    "ppc64": "SCMP_ARCH_PPC64", "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64",
    "s390": "SCMP_ARCH_S390", "s390x": "SCMP_ARCH_S390X",
}


def native_arch() -> str:
    """This machine's architecture in the profile's words (``amd64``, ``arm64``...)."""
    machine = os.uname().machine
    return _MACHINE_TO_NATIVE.get(machine, machine)


def _version(text: str) -> tuple[int, ...]:
    # "6.18.44-fc-v595" -> (6, 18); "4.8" -> (4, 8)
    out: list[int] = []
    for piece in text.split(".")[:2]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _kernel_at_least(release: str, minimum: str) -> bool:
    return _version(release) >= _version(minimum)


def default_profile(
    capabilities: list[str] | None = None,
    *,
    arch: str | None = None,
    kernel: str | None = None,
) -> dict[str, Any]:
    """Docker's default profile as an OCI ``linux.seccomp`` for this machine.

    An allow-list: ``defaultAction`` ``SCMP_ACT_ERRNO`` (EPERM) and about 370
    syscalls allowed. Rules conditioned on a capability apply only when every
    capability they name is in ``capabilities`` (the container's bounding
    set, as Docker checks it); ``excludes`` rules drop out when any named
    capability is present. Arch-specific rules follow ``arch``; ``minKernel``
    rules follow ``kernel``.

    Args:
        capabilities: capability names (``CAP_SYS_ADMIN``...); ``None`` means
            ``defaults.DEFAULT_CAPABILITIES``.
        arch: the architecture word (``amd64``, ``arm64``...); default: this
            machine (:func:`native_arch`).
        kernel: a kernel release such as ``6.1.0``; default: ``uname -r``.

    Returns:
        A fresh dict: ``defaultAction``, ``defaultErrnoRet``,
        ``architectures`` (native plus its compat arches) and ``syscalls``.
    """
    import json

    if capabilities is None:
        from .defaults import DEFAULT_CAPABILITIES

        capabilities = list(DEFAULT_CAPABILITIES)
    caps = set(capabilities)
    arch = arch or native_arch()
    kernel = kernel or os.uname().release
    with open(_DATA, encoding="utf-8") as f:
        data = json.load(f)

    architectures: list[str] = []
    scmp = _NATIVE_TO_SCMP.get(arch)
    if scmp is not None and scmp in data["archMap"]:
        architectures = [scmp, *data["archMap"][scmp]]

    syscalls: list[dict[str, Any]] = []
    for rule in data["syscalls"]:
        exc = rule.get("excludes") or {}
        inc = rule.get("includes") or {}
        if arch in exc.get("arches", ()) or caps & set(exc.get("caps", ())):
            continue
        if "minKernel" in exc and _kernel_at_least(kernel, exc["minKernel"]):
            continue
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if not set(inc.get("caps", ())) <= caps:
            continue
        if "minKernel" in inc and not _kernel_at_least(kernel, inc["minKernel"]):
            continue
        out: dict[str, Any] = {"names": list(rule["names"]), "action": rule["action"]}
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            out["args"] = [
                {"index": a["index"], "value": a["value"], "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                for a in rule["args"]
            ]
        syscalls.append(out)
    profile: dict[str, Any] = {
        "defaultAction": data["defaultAction"],
        "defaultErrnoRet": data["defaultErrnoRet"],
    }
    if architectures:
        profile["architectures"] = architectures
    profile["syscalls"] = syscalls
    return profile
