#!/usr/bin/env bash
# Installs the pinned local servers and validators (package-lock.json) with `npm ci`, unless
# node_modules already matches the lock file: npm ci deletes node_modules first, which would pull
# dynalite/s3rver from under a test run or a local stack that is already using them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
