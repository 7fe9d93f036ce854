"""OCI runtime: `run` of /bin/true on a busybox bundle, berth-runc vs runc (and crun, unshare+chroot).

What is measured: the wall-clock time of one ``<runtime> --root R run --bundle
B ID`` (fork/exec of the runtime until it has been reaped; the container runs
``/bin/true`` and the runtime deletes it on exit), and the **peak RSS** of the
runtime process (``ru_maxrss`` from ``wait4``: the largest of the runtime and
the processes it reaped, i.e. its container init). Every subject is started
the same way (``posix_spawn`` + ``wait4``, stdio on /dev/null) and the
subjects are interleaved run by run (A B C ... | B C ... A | ...), so machine
noise lands on all of them.

Peak RSS is measured in separate (also interleaved) runs under
``/usr/bin/time -f %M``: ``ru_maxrss`` of a process includes the high-water
mark of the memory it had *before* ``exec``, so a child spawned straight from
this Python process would report this process's ~15 MiB for every subject.
GNU time's own footprint (~1 MiB, its ``/bin/true`` row) is the floor.

Subjects:

- **berth-runc**: the pip console script ``.venv/bin/berth-runc``. Bytecode is
  compiled first (``compileall`` over ``core/`` and ``plugins/``; this
  environment sets PYTHONDONTWRITEBYTECODE=1, which is removed from the
  runtime's environment so nothing is compiled at run time).
- **berth-runc (fast launcher)**: the script that ``python -m
  berth.plugins.runtimes.runc.launch PATH`` writes (``python -S`` with the
  import paths baked in; no ``site``/editable finder at start-up).
- **runc** (``/usr/sbin/runc``, Go), the peer of the target.
- **crun** (``/usr/bin/crun``, C). crun 1.8 refuses this hybrid cgroup layout
  unless an empty file is bind-mounted over
  ``/sys/fs/cgroup/unified/cgroup.controllers`` in a private mount namespace.
  That is done **once**: a helper process is started under ``unshare -m``,
  makes the mounts private, binds the empty file, and then spawns and times
  crun for every crun run with the same code as the other subjects; the
  mount dies with the namespace. So crun's rows carry no per-run wrapper
  cost. What a per-run wrapper would cost (``unshare -m`` + ``sh`` + the bind
  mount, then ``exec /bin/true``) is measured separately and shown as its
  own row.
- **unshare+chroot** (the floor): ``unshare --mount --uts --ipc --net --pid
  --fork chroot ROOTFS /bin/true``: the kernel work of new namespaces plus a
  process, none of an OCI runtime's work (no config, cgroups, mounts, state).

Target: berth-runc ``run`` p50 <= 1.0x runc.

Runs standalone too: ``python -m bench.bench_runc [--quick] [-n N]``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

try:  # as a module of the harness (python -m bench.run runc) or standalone
    from bench.harness import Context, Row, alternate, format_table, percentile
except ImportError:  # pragma: no cover - bench/ not importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.harness import Context, Row, alternate, format_table, percentile

__all__ = ["run", "main", "SUBJECTS"]

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BERTH_RUNC = VENV_BIN / "berth-runc"
RUNC = Path("/usr/sbin/runc")
CRUN = Path("/usr/bin/crun")
BUSYBOX = Path("/bin/busybox")
GNU_TIME = Path("/usr/bin/time")
UNIFIED_CONTROLLERS = "/sys/fs/cgroup/unified/cgroup.controllers"
SUBJECTS = ("berth-runc", "berth-runc fast", "runc", "crun", "unshare+chroot")

# -- the bundle ----------------------------------------------------------------


def _spec() -> dict:
    """What ``runc spec`` (1.1.5, ambient caps included) writes, terminal off, running /bin/true."""
    from berth.plugins.runtimes.runc.defaults import default_spec

    spec = default_spec()
    spec["ociVersion"] = "1.0.2"
    spec["hostname"] = "bench"
    process = spec["process"]
    process.update(terminal=False, args=["/bin/true"])
    process["capabilities"]["ambient"] = list(process["capabilities"]["bounding"])
    return spec


def _make_bundle(bundle: Path) -> None:
    """busybox-static + one hard link per applet, /etc/passwd, /etc/group."""
    root = bundle / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        p = root / a.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            os.link(root / "bin/busybox", p)
    for d in ("etc", "proc", "sys", "dev", "tmp", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\ntty:x:5:\n")
    (bundle / "config.json").write_text(json.dumps(_spec(), indent=1))


# -- timing one command ----------------------------------------------------------

# The same function runs in this process and, for crun, inside the helper's
# private mount namespace (it is sent there as source text).
SPAWN_SRC = r'''
import os, time
def spawn_once(argv, env):
    """(seconds, peak RSS KiB, exit status) of one run of argv, stdio on /dev/null."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    dt = time.perf_counter() - t0
    return dt, ru.ru_maxrss, os.waitstatus_to_exitcode(status)


def rss_once(argv, env, out):
    """Peak RSS (KiB) of one run of argv under GNU time (see the module notes)."""
    dt, _, status = spawn_once(["/usr/bin/time", "-f", "%M", "-o", out, *argv], env)
    with open(out) as f:
        return dt, int(f.read().split()[-1]), status
'''
_ns: dict = {}
exec(SPAWN_SRC, _ns)
spawn_once: Callable[[Sequence[str], dict], tuple[float, int, int]] = _ns["spawn_once"]
rss_once: Callable[[Sequence[str], dict, str], tuple[float, int, int]] = _ns["rss_once"]

# The helper that owns crun's private mount namespace: reads JSON argv lines,
# answers JSON [seconds, maxrss, status] lines.
HELPER_SRC = SPAWN_SRC + r'''
import json, subprocess, sys
empty = sys.argv[1]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
open(empty, "w").close()
subprocess.run(["mount", "--bind", empty, "%s"], check=True)
print("ready", flush=True)
for line in sys.stdin:
    argv, env, out = json.loads(line)
    print(json.dumps(rss_once(argv, env, out) if out else spawn_once(argv, env)), flush=True)
''' % UNIFIED_CONTROLLERS


class NamespaceHelper:
    """A process in a private mount namespace (``unshare -m``) with the crun workaround mounted."""

    def __init__(self, workdir: Path) -> None:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", HELPER_SRC,
             str(workdir / "empty-controllers")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        first = self.proc.stdout.readline().strip()
        if first != "ready":
            self.close()
            raise RuntimeError(f"the crun namespace helper did not start (said {first!r})")
        self.setup_seconds = time.perf_counter() - t0

    def spawn_once(self, argv: Sequence[str], env: dict, rss_out: str = "") -> tuple[float, int, int]:
        """Timed run of argv in the namespace; with ``rss_out``, under GNU time (RSS in [1])."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([list(argv), env, rss_out]) + "\n")
        self.proc.stdin.flush()
        dt, rss, status = json.loads(self.proc.stdout.readline())
        return dt, rss, status

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


# -- the benchmark ---------------------------------------------------------------


def _compile_bytecode() -> None:
    """Bytecode for berth (this env sets PYTHONDONTWRITEBYTECODE, so none may exist)."""
    dirs = [str(REPO / d) for d in ("core", "plugins") if (REPO / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True, capture_output=True)


def _missing() -> list[str]:
    return [str(p) for p in (BERTH_RUNC, RUNC, BUSYBOX, GNU_TIME) if not p.exists()] + \
        [b for b in ("unshare", "chroot", "mount") if shutil.which(b) is None]


def _summary(samples: list[tuple[float, int, int]], rss: list[tuple[float, int, int]]) -> dict[str, float]:
    times = [s[0] for s in samples]
    return {"p50": percentile(times, 50), "p90": percentile(times, 90), "mean": sum(times) / len(times),
            "min": min(times), "rss": max(s[1] for s in rss) * 1024.0, "n": len(times)}


def measure(log: Callable[[str], None], runs: int, warmup: int) -> tuple[dict[str, dict[str, float]], dict]:
    """Run every subject ``runs`` times, interleaved; returns summaries and facts for notes."""
    missing = _missing()
    if missing:
        raise RuntimeError(f"missing: {', '.join(missing)}")
    _compile_bytecode()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    work = Path(tempfile.mkdtemp(prefix="berth-bench-runc-"))
    helper: NamespaceHelper | None = None
    roots: dict[str, tuple[str, Path]] = {}  # subject -> (binary, --root) for the final cleanup
    facts: dict = {}
    try:
        bundle = work / "bundle"
        _make_bundle(bundle)
        fast = work / "berth-runc-fast"
        subprocess.run([sys.executable, "-m", "berth.plugins.runtimes.runc.launch", str(fast)], check=True,
                       env=env, capture_output=True)
        uid = f"{os.getpid()}"

        def runtime_argv(name: str, binary: Path) -> list[str]:
            root = work / f"root-{name.replace(' ', '-')}"
            cid = f"bench-{name.replace(' ', '-').replace('+', '-')}-{uid}"
            roots[name] = (str(binary), root)
            return [str(binary), "--root", str(root), "run", "--bundle", str(bundle), cid]

        argvs = {
            "berth-runc": runtime_argv("berth-runc", BERTH_RUNC),
            "berth-runc fast": runtime_argv("berth-runc fast", fast),
            "runc": runtime_argv("runc", RUNC),
        }
        floor = [shutil.which("unshare") or "unshare", "--mount", "--uts", "--ipc", "--net", "--pid", "--fork",
                 shutil.which("chroot") or "chroot", str(bundle / "rootfs"), "/bin/true"]
        argvs["unshare+chroot"] = floor
        argvs["/bin/true (GNU time floor)"] = ["/bin/true"]
        callers: dict[str, Callable[[], tuple[float, int, int]]] = {
            name: (lambda a=argv: spawn_once(a, env)) for name, argv in argvs.items() if name[0] != "/"}
        rss_out = str(work / "rss")
        rss_callers: dict[str, Callable[[], tuple[float, int, int]]] = {
            name: (lambda a=argv: rss_once(a, env, rss_out)) for name, argv in argvs.items()}

        if CRUN.exists():
            helper = NamespaceHelper(work)
            facts["crun_helper_setup"] = helper.setup_seconds
            crun_argv = runtime_argv("crun", CRUN)
            callers["crun"] = lambda: helper.spawn_once(crun_argv, env)
            rss_callers["crun"] = lambda: helper.spawn_once(crun_argv, env, rss_out)
            # what a per-run wrapper would add: unshare -m, sh, the bind mount, exec /bin/true
            wrap = work / "crun-wrap.sh"
            wrap.write_text("set -e\nmount --make-rprivate /\n: > \"$0.empty\"\n"
                            f"mount --bind \"$0.empty\" {UNIFIED_CONTROLLERS}\nexec \"$@\"\n")
            wrap_argv = [shutil.which("unshare") or "unshare", "-m", "/bin/sh", str(wrap), "/bin/true"]
            callers["per-run wrapper"] = lambda: spawn_once(wrap_argv, env)
            rss_callers["per-run wrapper"] = lambda: rss_once(wrap_argv, env, rss_out)
        else:
            facts["crun_missing"] = f"{CRUN} is not installed"
            log(f"bench: runc: skipping crun: {CRUN} is not installed")

        for name, call in callers.items():  # each must work before it is timed
            dt, rss, status = call()
            if status != 0:
                raise RuntimeError(f"{name}: exit status {status} ({' '.join(argvs.get(name, []))})")
        log(f"bench: runc: {len(callers)} subjects, {warmup} warm-up + {runs} runs each, interleaved ...")
        alternate(callers, warmup)
        raw = alternate(callers, runs)
        rss_runs = max(5, runs // 10)
        log(f"bench: runc: peak RSS, {rss_runs} runs each under {GNU_TIME} -f %M, interleaved ...")
        raw_rss = alternate(rss_callers, rss_runs)
        bad = {name: [s[2] for s in samples if s[2] != 0] for name, samples in [*raw.items(), *raw_rss.items()]}
        bad = {k: v for k, v in bad.items() if v}
        if bad:
            raise RuntimeError(f"failed runs (exit statuses): {bad}")
        stats = {name: _summary(samples, raw_rss[name]) for name, samples in raw.items()}
        facts["rss_floor"] = max(s[1] for s in raw_rss["/bin/true (GNU time floor)"]) * 1024.0
        facts["rss_runs"] = rss_runs
        return stats, facts
    finally:
        if helper is not None:
            helper.close()
        for name, (binary, root) in roots.items():  # nothing should be left; make sure
            if root.is_dir():
                for cid in os.listdir(root):
                    subprocess.run([binary, "--root", str(root), "delete", "--force", cid], capture_output=True,
                                   timeout=30, env=env)
                    for hier in os.listdir("/sys/fs/cgroup"):
                        cg = Path("/sys/fs/cgroup", hier, cid)
                        if cg.is_dir():
                            try:
                                cg.rmdir()
                            except OSError:
                                pass
        shutil.rmtree(work, ignore_errors=True)


def rows_from(stats: dict[str, dict[str, float]], facts: dict) -> list[Row]:
    rows: list[Row] = []
    runc = stats["runc"]
    wrapper_note = ("crun runs inside one private mount namespace set up once (unshare -m + an empty file "
                    "bound over /sys/fs/cgroup/unified/cgroup.controllers), no per-run wrapper cost")
    for subject in ("berth-runc", "berth-runc fast"):
        s = stats[subject]
        label = "berth-runc" if subject == "berth-runc" else "berth-runc fast launcher"
        rows.append(Row(name=f"{label} run /bin/true p50 vs runc", berth=s["p50"], peer=runc["p50"],
                        target="<= 1.0x runc", max_ratio=1.0))
        rows.append(Row(name=f"{label} run /bin/true p90 vs runc", berth=s["p90"], peer=runc["p90"]))
    if "crun" in stats:
        crun = stats["crun"]
        rows.append(Row(name="berth-runc run p50 vs crun (ns set up once)", berth=stats["berth-runc"]["p50"],
                        peer=crun["p50"], note=wrapper_note))
        rows.append(Row(name="berth-runc run p90 vs crun (ns set up once)", berth=stats["berth-runc"]["p90"],
                        peer=crun["p90"], note=wrapper_note))
    floor = stats["unshare+chroot"]
    rows.append(Row(name="berth-runc run p50 vs floor unshare+chroot", berth=stats["berth-runc"]["p50"],
                    peer=floor["p50"], note="unshare --mount --uts --ipc --net --pid --fork chroot ROOTFS /bin/true"))
    rows.append(Row(name="berth-runc peak RSS vs runc", berth=stats["berth-runc"]["rss"] / 2**20,
                    peer=runc["rss"] / 2**20, unit="MiB", note="max %M of /usr/bin/time"))
    rows.append(Row(name="berth-runc fast peak RSS vs runc", berth=stats["berth-runc fast"]["rss"] / 2**20,
                    peer=runc["rss"] / 2**20, unit="MiB"))
    if "crun" in stats:
        rows.append(Row(name="berth-runc peak RSS vs crun", berth=stats["berth-runc"]["rss"] / 2**20,
                        peer=stats["crun"]["rss"] / 2**20, unit="MiB"))
    # information rows (peer column): the floor's p90 and RSS, the per-run wrapper crun would otherwise need
    rows.append(Row(name="floor unshare+chroot: p90", berth=None, peer=floor["p90"]))
    rows.append(Row(name="floor unshare+chroot: peak RSS", berth=None, peer=floor["rss"] / 2**20, unit="MiB"))
    if "per-run wrapper" in stats:
        w = stats["per-run wrapper"]
        label = "crun per-run wrapper alone (unshare -m, sh, bind, exec true)"
        rows.append(Row(name=f"{label}: p50", berth=None, peer=w["p50"],
                        note="not in crun's rows: crun's namespace is set up once"))
        rows.append(Row(name=f"{label}: p90", berth=None, peer=w["p90"]))
    rows.append(Row(name="GNU time /bin/true: peak RSS (floor of RSS rows)", berth=None,
                    peer=facts["rss_floor"] / 2**20, unit="MiB"))
    if "crun_helper_setup" in facts:
        rows.append(Row(name="crun namespace helper setup (once)", berth=None, peer=facts["crun_helper_setup"],
                        note="unshare -m + python + mounts, before the timed loop"))
    return rows


def notes(stats: dict[str, dict[str, float]], runs: int) -> str:
    lines = [f"notes: {runs} interleaved runs per subject; wall time of posix_spawn..wait4 of the runtime; "
             "peak RSS = max %M of /usr/bin/time over separate interleaved runs (runtime or its reaped container "
             "init, whichever is larger; GNU time's own ~1 MiB is the floor)."]
    if "crun" in stats:
        lines.append("crun: started from a helper inside one private mount namespace (unshare -m, mounts "
                     "private, empty file bound over /sys/fs/cgroup/unified/cgroup.controllers), set up once "
                     "before the timed loop; no per-run wrapper cost is in crun's numbers. A per-run wrapper "
                     f"would add ~{stats['per-run wrapper']['p50'] * 1e3:.1f} ms (its row).")
    lines.append("berth-runc: bytecode compiled first, PYTHONDONTWRITEBYTECODE removed from its environment; "
                 "'fast launcher' = script written by python -m berth.plugins.runtimes.runc.launch.")
    return "\n".join(lines) + "\n"


def run(ctx: Context) -> list[Row]:
    runs = ctx.n(200, 20)
    stats, facts = measure(ctx.log, runs, warmup=ctx.n(10, 3))
    ctx.log(notes(stats, runs).rstrip())
    return rows_from(stats, facts)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.bench_runc", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("-n", "--runs", type=int, default=None, help="runs per subject (default 200, --quick 20)")
    args = p.parse_args(argv)
    runs = args.runs or (20 if args.quick else 200)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    stats, facts = measure(log, runs, warmup=3 if args.quick else 10)
    print(format_table(rows_from(stats, facts)), end="")
    print(notes(stats, runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
