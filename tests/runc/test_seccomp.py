"""seccomp: validation messages, filters loaded for real in forked children, the default profile."""
from __future__ import annotations

import ctypes
import errno
import os
import signal
import sys
from collections.abc import Callable

import pytest

from berth.plugins.runtimes.runc import seccomp
from berth.plugins.runtimes.runc.seccomp import SeccompError

_libc = ctypes.CDLL(None, use_errno=True)

# Exit codes the children use to report back.
OK, DENIED, WRONG_ERRNO, CRASHED = 0, 10, 11, 99


def run_in_child(spec: dict | None, body: Callable[[], int]) -> int:
    """Fork; the child loads ``spec`` (unless None) then runs ``body``; return its exit code, or -signal.

    The parent reaps the child by pid (and kills it if the wait is interrupted).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = CRASHED
        try:
            if spec is not None:
                seccomp.load(spec)
            code = body()
        except BaseException:  # noqa: BLE001 - report anything as CRASHED
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def _syscall_nr(name: str) -> int:
    import pyseccomp

    nr = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    assert nr >= 0, f"{name} is not a syscall on this architecture"
    return nr


def _raw_syscall(nr: int, *args: int) -> int:
    """syscall(2) with full-width unsigned arguments; return 0 on success, else errno.

    Raw syscalls, not libc wrappers: wrappers differ in return conventions and
    may pass 32-bit ints with undefined upper register bits, which seccomp sees.
    """
    ctypes.set_errno(0)
    rc = _libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args))
    return ctypes.get_errno() if rc == -1 else 0


def _expect_errno(name: str, want: int, *args: int) -> Callable[[], int]:
    nr = _syscall_nr(name)  # resolved in the parent, before any filter

    def body() -> int:
        got = _raw_syscall(nr, *args)
        if got == 0:
            return OK
        return DENIED if got == want else WRONG_ERRNO

    return body


# --- validation (pure) -------------------------------------------------------------------


def test_validate_accepts_the_default_profile() -> None:
    assert seccomp.validate(seccomp.default_profile()) == []


def test_validate_messages_exact() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_NOPE",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"],
        "flags": ["SECCOMP_FILTER_FLAG_BOGUS"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": [], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5},
            {"names": ["getpid"], "action": "SCMP_ACT_FOO"},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    {"index": 7, "value": 1, "op": "SCMP_CMP_EQ"},
                    {"index": 0, "value": -1, "op": "SCMP_CMP_BETWEEN"},
                ],
            },
            {"names": ["write"], "action": "SCMP_ACT_NOTIFY"},
        ],
    }
    assert seccomp.validate(spec) == [
        'linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE"',
        'linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"',
        'linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_BOGUS"',
        "linux.seccomp.syscalls[1].names: must be a non-empty list of syscall names",
        "linux.seccomp.syscalls[2].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE (action is SCMP_ACT_ALLOW)",
        'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"',
        "linux.seccomp.syscalls[4].args[0].index: must be 0-5 (got 7)",
        "linux.seccomp.syscalls[4].args[1].value: must be an unsigned 64-bit integer (got -1)",
        'linux.seccomp.syscalls[4].args[1].op: unknown operator "SCMP_CMP_BETWEEN"',
        'linux.seccomp.syscalls[5]: SCMP_ACT_NOTIFY cannot be used for "write"',
        "linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY",
    ]


def test_validate_default_action_rules() -> None:
    assert seccomp.validate({}) == ["linux.seccomp.defaultAction: required"]
    assert seccomp.validate({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}) == [
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    ]
    assert seccomp.validate({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}) == [
        "linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE "
        "(defaultAction is SCMP_ACT_ALLOW)"
    ]


def test_load_raises_the_validation_errors_before_touching_the_process() -> None:
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getpid"], "action": "SCMP_ACT_FOO"},
    ]}
    with pytest.raises(SeccompError) as info:
        seccomp.load(spec)  # in the test process: it must fail before loading anything
    assert str(info.value) == 'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"'


# --- real filters in forked children ---------------------------------------------------


def test_errno_action_denies_with_eperm_and_custom_errno() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["chdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOTSUP},
            {"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"},  # skipped, like runc
        ],
    }
    buf = ctypes.create_string_buffer(4096)
    assert run_in_child(spec, _expect_errno("getcwd", errno.EPERM, ctypes.addressof(buf), 4096)) == DENIED
    root = ctypes.create_string_buffer(b"/")
    assert run_in_child(spec, _expect_errno("chdir", errno.ENOTSUP, ctypes.addressof(root))) == DENIED
    # An unrelated syscall still works.
    assert run_in_child(spec, _expect_errno("getpid", errno.EPERM)) == OK


def test_default_errno_action_with_default_errno_ret() -> None:
    # An allow-list: just what the child needs to report and exit; getcwd is not on it.
    allowed = ["exit", "exit_group", "rt_sigreturn", "rt_sigprocmask", "write", "brk", "mmap", "munmap"]
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EACCES,
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
    }
    buf = ctypes.create_string_buffer(4096)
    assert run_in_child(spec, _expect_errno("getcwd", errno.EACCES, ctypes.addressof(buf), 4096)) == DENIED


def test_argument_conditioned_rule() -> None:
    # personality(0xffffffff) only queries; deny every other argument.
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_NE"}],
        }],
    }
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0xFFFFFFFF)) == OK
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0x0040000)) == DENIED


def test_repeated_argument_index_means_or() -> None:
    # Same index twice -> two rules: arg0 == 8 OR arg0 == 0x20000 is denied.
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "args": [
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"},
            ],
        }],
    }
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 8)) == DENIED
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0x20000)) == DENIED
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0xFFFFFFFF)) == OK


def test_masked_eq_operator() -> None:
    # Deny personality when bit 0x0008 is set (value = mask, valueTwo = wanted bits).
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["personality"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 0x0008, "valueTwo": 0x0008, "op": "SCMP_CMP_MASKED_EQ"}],
        }],
    }
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0x0008)) == DENIED
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0xFFFFFFFF)) == DENIED
    assert run_in_child(spec, _expect_errno("personality", errno.EPERM, 0x0)) == OK


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_kill_actions_end_the_child_with_sigsys(action: str) -> None:
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": action}]}
    assert run_in_child(spec, lambda: os.getppid() and OK) == -signal.SIGSYS


def test_unknown_architecture_is_skipped_and_flags_apply() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_LOONGARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["getcwd", "socketcall"], "action": "SCMP_ACT_ERRNO"}],
    }
    buf = ctypes.create_string_buffer(4096)
    assert run_in_child(spec, _expect_errno("getcwd", errno.EPERM, ctypes.addressof(buf), 4096)) == DENIED


def test_unsupported_flag_is_a_clear_error() -> None:
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}
    with pytest.raises(SeccompError, match=r"^linux\.seccomp\.flags\[0\]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported"):
        seccomp.load(spec)


def test_notify_returns_a_listener_fd_that_receives_the_syscall() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/berth-test-listener.sock",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
    }

    def body() -> int:
        fd = seccomp.load(spec)
        if not isinstance(fd, int) or fd < 0:
            return CRASHED
        # The fd is a real seccomp listener: it polls readable once a
        # thread of ours is stopped in a notified syscall. Nothing does
        # that here, so it must not be readable yet.
        import select

        readable, _, _ = select.select([fd], [], [], 0)
        os.close(fd)
        return OK if not readable else WRONG_ERRNO

    assert run_in_child(None, body) == OK


# --- the default profile --------------------------------------------------------------


def test_default_profile_shape() -> None:
    p = seccomp.default_profile(arch="amd64", kernel="6.1.0")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO"
    assert p["defaultErrnoRet"] == 1
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = {n for r in p["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for n in r["names"]}
    for name in ("read", "write", "execve", "fork", "arch_prctl", "ptrace"):
        assert name in allowed
    for name in ("mount", "unshare", "keyctl", "bpf", "reboot", "setns", "init_module"):
        assert name not in allowed
    # clone without CAP_SYS_ADMIN: only without namespace flags; clone3 gets ENOSYS.
    clone = [r for r in p["syscalls"] if r["names"] == ["clone"]]
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}]
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in p["syscalls"]


def test_default_profile_capabilities_and_kernel() -> None:
    def allowed(p: dict) -> set[str]:
        return {n for r in p["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}

    admin = seccomp.default_profile(["CAP_SYS_ADMIN"], arch="amd64", kernel="6.1")
    assert {"mount", "unshare", "setns", "clone3"} <= allowed(admin)
    assert not any(r["names"] == ["clone3"] and r["action"] == "SCMP_ACT_ERRNO" for r in admin["syscalls"])
    assert "ptrace" not in allowed(seccomp.default_profile([], arch="amd64", kernel="4.4"))
    assert "ptrace" in allowed(seccomp.default_profile([], arch="amd64", kernel="4.8"))
    assert "arch_prctl" not in allowed(seccomp.default_profile([], arch="arm64", kernel="6.1"))
    assert seccomp.default_profile([], arch="arm64")["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


def test_default_profile_runs_a_normal_program() -> None:
    profile = seccomp.default_profile()

    def body() -> int:
        os.execv("/bin/sh", ["sh", "-c", "echo hello >/dev/null && ls / >/dev/null && /bin/true"])

    assert run_in_child(profile, body) == 0


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("unshare", (0x04000000,)),  # CLONE_NEWUTS
        ("mount", (0, 0, 0, 0, 0)),
        ("keyctl", (0, 0, 0, 0, 0)),  # KEYCTL_GET_KEYRING_ID
    ],
)
def test_default_profile_denies(name: str, args: tuple[int, ...]) -> None:
    profile = seccomp.default_profile()  # default capabilities: no CAP_SYS_ADMIN
    assert run_in_child(profile, _expect_errno(name, errno.EPERM, *args)) == DENIED


def test_default_profile_with_cap_sys_admin_allows_unshare() -> None:
    profile = seccomp.default_profile(["CAP_SYS_ADMIN"])
    assert run_in_child(profile, _expect_errno("unshare", errno.EPERM, 0x04000000)) == OK


def test_module_import_is_light() -> None:
    import subprocess

    code = (
        "import sys; import berth.plugins.runtimes.runc.seccomp; "
        "bad = [m for m in ('pyseccomp', 'json', 'trio', 'pluggy', 'google.protobuf', 'prctl', 'logging') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
