#!/usr/bin/env bash
# The whole test suite, as CI runs it: setup, lint, typecheck, then every package's
# tests against real PostgreSQL, redis-server and an S3-compatible server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
# Turborepo would print its telemetry notice on a fresh machine and report usage.
export TURBO_TELEMETRY_DISABLED=1
bash scripts/setup.sh
echo "test: lint"
npx biome check --error-on-warnings .
echo "test: typecheck"
npx turbo run typecheck --output-logs=errors-only
echo "test: tests"
npx turbo run test --concurrency=1 --continue
