#!/usr/bin/env bash
# Set everything up, start berthd, and show what it loaded.
#
#   sudo ./scripts/up.sh          # daemon keeps running; stop with: kill $(cat /run/berth/berthd.pid)
#   sudo ./scripts/up.sh --stop   # stop a daemon this script started
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=/var/lib/berth
STATE=/run/berth
SOCK=$STATE/berth.sock
PIDFILE=$STATE/berthd.pid
LOG=$STATE/berthd.log

stop() {
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        kill -TERM "$(cat "$PIDFILE")"
        for _ in $(seq 100); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
        echo "berthd stopped"
    fi
    rm -f "$PIDFILE"
}
if [ "${1:-}" = "--stop" ]; then stop; exit 0; fi

./scripts/setup.sh
# The example third-party plugin from the README, installed like any other.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e tests/plugins/berth-example-plugin

mkdir -p /etc/berth "$STATE"
if [ ! -f /etc/berth/config.toml ]; then
    cp config.toml.example /etc/berth/config.toml
fi
stop
.venv/bin/berthd --config /etc/berth/config.toml --root "$ROOT" --state "$STATE" --address "$SOCK" >"$LOG" 2>&1 &
echo $! >"$PIDFILE"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
if [ ! -S "$SOCK" ]; then
    echo "berthd did not start; its log ($LOG):" >&2
    cat "$LOG" >&2
    exit 1
fi
echo "berthd is running (pid $(cat "$PIDFILE"), socket $SOCK, log $LOG)"
echo
echo "\$ berth version"
.venv/bin/berth -a "$SOCK" version
echo
echo "\$ berth plugins ls"
.venv/bin/berth -a "$SOCK" plugins ls
echo
echo "\$ berth plugins ls -d id==status   # a skipped plugin and its reason"
.venv/bin/berth -a "$SOCK" plugins ls -d 'id==status'
echo
echo "Stop it with: ./scripts/up.sh --stop"
