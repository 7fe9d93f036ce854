"""The debug status server: daemon status as JSON over HTTP on a unix socket.

``io.berth.debug.v1.status`` serves, once every plugin has initialized,
``GET /debug/status`` (pid, uptime, plugins, event exchange and trio
statistics) and ``GET /debug/plugins`` on ``[debug] address``. With no
address configured (the default) it skips, and ``berth plugins ls`` says why::

    curl --unix-socket /run/berth/debug.sock http://localhost/debug/status
"""
