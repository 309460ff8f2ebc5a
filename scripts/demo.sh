#!/usr/bin/env bash
# The demo: setup, then `pullback demo` on a local sandbox. Extra arguments go to it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/pullback.js demo "$@"
