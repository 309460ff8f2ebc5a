#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, lint, typecheck, then every package's
# tests against real PostgreSQL, redis-server and an S3-compatible server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
# Turborepo would print its telemetry notice on a fresh machine and report usage.
export TURBO_TELEMETRY_DISABLED=1
bash scripts/setup.sh
# What a command start costs here, for reading a slow CI run: every server start and
# check spawns a process (as the postgres account), so a slow start slows everything.
started=$(date +%s%N)
runuser -u postgres -- true
echo "test: environment: starting a command as postgres took $(( ($(date +%s%N) - started) / 1000000 )) ms; BASH_ENV=${BASH_ENV:-unset}"
echo "test: lint"
npx biome check --error-on-warnings .
echo "test: typecheck"
npx turbo run typecheck --output-logs=errors-only
echo "test: tests"
npx turbo run test --concurrency=1 --continue
