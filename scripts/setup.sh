#!/usr/bin/env bash
# Installs what Pullback's demo and tests need on a Debian machine that has Node.js:
# PostgreSQL, redis-server, redis-sentinel, pgbouncer, chromium and prometheus (for promtool) from Debian's packages when missing,
# the npm packages from the lockfile, and a build of every workspace. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# Turborepo would print its telemetry notice on a fresh machine and report usage.
export TURBO_TELEMETRY_DISABLED=1

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
# Redis Sentinel's tests run three sentinels (test/harness/src/redis-sentinels.ts).
command -v redis-sentinel >/dev/null 2>&1 || [ -x /usr/bin/redis-sentinel ] || missing+=(redis-sentinel)
# The PgBouncer hook's test runs a real pgbouncer (test/harness/src/pgbouncer.ts).
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# The dashboard's browser test drives Debian's chromium headless (services/cli/test/dashboard-browser.test.ts).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# promtool checks the alert rules and the /metrics output (services/pipeline/test/alert-rules.test.ts).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  # Debian starts the packaged services on install; Pullback's tests and demo run their
  # own throwaway servers on free ports and do not use them.
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci is skipped when node_modules already matches the lockfile.
stamp=node_modules/.pullback-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

echo "setup: building"
npx turbo run build --output-logs=errors-only
