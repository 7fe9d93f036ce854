"""berth-runc: an OCI runtime in Python, a drop-in for runc.

Stages, as in runc's libcontainer:

* :mod:`.specconv` turns an OCI ``config.json`` into an internal
  :class:`~.config.Config` (pure, no syscalls);
* :mod:`.validate` runs small checks over that config (pure);
* only then :mod:`.container` acts: it creates the state dir, the cgroup
  and forks the container init (:mod:`.init`), which sets up namespaces,
  the root filesystem (:mod:`.rootfs`) and the process, then waits on
  ``exec.fifo`` until ``start``.

:mod:`.cli` is the runc-compatible command line (``berth-runc``). This
package imports nothing heavy at import time: the CLI's start-up cost is
the budget of ``berth-runc run``.
"""
