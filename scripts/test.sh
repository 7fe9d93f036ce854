#!/usr/bin/env bash
# Set everything up and run berth's whole test suite (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The third-party plugin test installs and removes its example package itself.
.venv/bin/python -m pip uninstall -q -y berth-example-plugin >/dev/null 2>&1 || true
exec .venv/bin/python -m pytest -q "$@"
