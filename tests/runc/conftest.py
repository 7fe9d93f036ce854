"""Fixtures for berth-runc tests: a busybox bundle, a private --root, cleanup.

The rootfs is Debian's busybox-static: ``/bin/busybox`` plus one hard link per
applet (``busybox --list-full``), ``/etc/passwd`` and ``/etc/group``. It is
built once per session and hard-linked into each test's bundle, so a test can
add symlinks or files to its own copy.

Every test gets its own ``--root``; at teardown each container left there is
force-deleted (which kills its processes by pid via the cgroup), and any
cgroup directory named after a test container is removed.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

VENV = Path(sys.executable).parent
BERTH_RUNC = str(VENV / "berth-runc")
BUSYBOX = "/bin/busybox"
CGROUP_ROOT = "/sys/fs/cgroup"

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def base_spec() -> dict:
    """A config.json like ``runc spec`` writes (terminal off)."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def _ensure_busybox() -> None:
    if os.path.exists(BUSYBOX):
        return
    r = subprocess.run(["apt-get", "install", "-y", "busybox-static"], capture_output=True)
    if r.returncode != 0 or not os.path.exists(BUSYBOX):
        pytest.skip(f"busybox-static is not installed and apt-get failed: {r.stderr[-300:]!r}")


@pytest.fixture(scope="session")
def base_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("berth-runc tests need root")
    _ensure_busybox()
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        p = root / a
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            os.link(root / "bin/busybox", p)
    for d in ("etc", "proc", "sys", "dev", "tmp", "root", "home/user"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\ntty:x:5:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n")
    return root


def clone_rootfs(src: Path, dst: Path) -> None:
    """Hard-link copy: cheap, and each test may add its own files and symlinks."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst / rel
        target.mkdir(parents=True, exist_ok=True)
        shutil.copystat(dirpath, target)
        for f in filenames:
            os.link(os.path.join(dirpath, f), target / f, follow_symlinks=False)


class Bundle:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rootfs = path / "rootfs"
        self.spec = base_spec()

    @property
    def process(self) -> dict:
        return self.spec["process"]

    @property
    def linux(self) -> dict:
        return self.spec["linux"]

    def args(self, *args: str) -> "Bundle":
        self.spec["process"]["args"] = list(args)
        return self

    def sh(self, script: str) -> "Bundle":
        return self.args("/bin/sh", "-c", script)

    def write(self) -> "Bundle":
        (self.path / "config.json").write_text(json.dumps(self.spec, indent=1))
        return self


class Result:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = rc, out, err

    def __repr__(self) -> str:
        return f"Result(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


class Runtime:
    """Runs a runc-compatible binary with a private --root; outputs go to files
    (a created container keeps our stdio open, a pipe would never reach EOF)."""

    def __init__(self, binary: str, root: Path, work: Path, prefix: list[str] | None = None) -> None:
        self.binary, self.root, self.work = binary, root, work
        self.prefix = prefix or []
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = "t" + uuid.uuid4().hex[:12]
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, check: bool = False, timeout: float = 30, stdin: bytes | None = None,
                 globals_: tuple[str, ...] = (), pass_fds: tuple[int, ...] = (),
                 log: bool = True) -> Result:
        """Run one command. With ``log`` (default) errors go to a --log file, as
        containerd's shim does, and stderr carries the bare message."""
        if log and "--log" not in globals_:
            globals_ = ("--log", str(self.work / f"{os.path.basename(self.binary)}.log"), *globals_)
        with tempfile.TemporaryFile(dir=self.work) as out, tempfile.TemporaryFile(dir=self.work) as err:
            inp = subprocess.DEVNULL
            infile = None
            if stdin is not None:
                infile = tempfile.TemporaryFile(dir=self.work)
                infile.write(stdin)
                infile.seek(0)
                inp = infile
            try:
                p = subprocess.run([*self.prefix, self.binary, "--root", str(self.root), *globals_, *args],
                                   stdin=inp, stdout=out, stderr=err, timeout=timeout, pass_fds=pass_fds)
            finally:
                if infile:
                    infile.close()
            out.seek(0)
            err.seek(0)
            r = Result(p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
        if check and r.returncode != 0:
            raise AssertionError(f"{self.binary} {' '.join(args)} failed: {r}")
        return r

    def state(self, cid: str) -> dict:
        r = self("state", cid, check=True)
        return json.loads(r.stdout)

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid, timeout=20)
        for cid in self.ids:
            remove_cgroups(cid)


def remove_cgroups(cid: str) -> None:
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        for d in dirnames:
            if d == cid:
                full = os.path.join(dirpath, d)
                for sub, _, _ in sorted(os.walk(full), key=lambda x: -len(x[0])):
                    try:
                        os.rmdir(sub)
                    except OSError:
                        pass
        if dirpath.count("/") > 6:
            dirnames[:] = []


def cgroup_dirs(cid: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        if cid in dirnames:
            found.append(os.path.join(dirpath, cid))
        if dirpath.count("/") > 6:
            dirnames[:] = []
    return found


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def bundle(base_rootfs: Path, tmp_path: Path) -> Bundle:
    b = Bundle(tmp_path / "bundle")
    clone_rootfs(base_rootfs, b.rootfs)
    return b


@pytest.fixture
def runc(tmp_path: Path):
    rt = Runtime(BERTH_RUNC, tmp_path / "root", tmp_path)
    try:
        yield rt
    finally:
        rt.cleanup()


@pytest.fixture
def real_runc(tmp_path: Path):
    if not os.path.exists("/usr/sbin/runc"):
        pytest.skip("runc is not installed at /usr/sbin/runc")
    rt = Runtime("/usr/sbin/runc", tmp_path / "runc-root", tmp_path)
    try:
        yield rt
    finally:
        rt.cleanup()


CRUN_WRAP = """set -e
mount --make-rprivate /
: > {empty}
mount --bind {empty} /sys/fs/cgroup/unified/cgroup.controllers
exec "$@"
"""


@pytest.fixture
def real_crun(tmp_path: Path):
    """crun 1.8 wants no cgroup2 controllers on hybrid hosts: run it in a private
    mount namespace (``unshare -m``) with an empty file bound over
    /sys/fs/cgroup/unified/cgroup.controllers. The mount dies with the namespace."""
    if not os.path.exists("/usr/bin/crun"):
        pytest.skip("crun is not installed at /usr/bin/crun")
    empty = tmp_path / "empty-controllers"
    script = tmp_path / "crun-wrap.sh"
    script.write_text(CRUN_WRAP.format(empty=empty))
    rt = Runtime("/usr/bin/crun", tmp_path / "crun-root", tmp_path,
                 prefix=["unshare", "-m", "/bin/sh", str(script)])
    try:
        yield rt
    finally:
        rt.cleanup()


def spec_copy() -> dict:
    return copy.deepcopy(base_spec())
