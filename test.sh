#!/usr/bin/env bash
# Restores, builds and runs every test project of Backup.sln on a fresh machine.
# The tests start the local servers they need themselves (dynalite, s3rver, the MongoDB
# wire-protocol test server) on free ports; this script only installs them (npm ci).
# Set MONGODB_URI (and MONGODB_URI_2, ...) to run the MongoDB tests against a real replica set.
# Ends with one line "N passed, N failed, N skipped" totalled over all test projects.
set -uo pipefail
cd "$(dirname "$0")"

log=$(mktemp)
results=$(mktemp -d)
trap 'rm -f "$log"; [ -n "${KEEP_TEST_RESULTS:-}" ] || rm -rf "$results"' EXIT

echo "== npm ci (dynalite, s3rver, asl-validator, yaml-cfn)"
scripts/ensure-node-modules.sh || { echo "npm ci failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

echo "== dotnet restore + build"
if ! dotnet build Backup.sln -c Release -nologo -v:q -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1
fi

echo "== dotnet test"
# A hung test host fails its project after 5 minutes (with the name of the hanging test) instead of
# eating CI's time; TRX files give exact counts even when console output is interleaved.
dotnet test Backup.sln -c Release --no-build -nologo --blame-hang-timeout 5m \
  --logger "trx" --results-directory "$results" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the TRX counters of every test project: <Counters total=.. executed=.. passed=.. failed=.. />
# (skipped tests are the ones not executed; TRX leaves its notExecuted counter at 0 for them).
read -r passed failed skipped projects < <(
  for trx in "$results"/*.trx; do
    [ -f "$trx" ] || continue
    grep -o '<Counters [^>]*>' "$trx" | head -n 1
  done | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); gsub(/[^0-9]/, "", kv[2]); c[kv[1]] = kv[2] }
      p += c["passed"]; f += c["failed"] + c["error"] + c["timeout"] + c["aborted"]; s += c["total"] - c["executed"]; n++ }
    END { printf "%d %d %d %d\n", p, f, s, n }')

expected=$(find tests -name '*.Tests.csproj' | wc -l)
if [ "$projects" -ne "$expected" ]; then
  echo "only $projects of $expected test projects produced results (a test host crashed or hung?)"
  failed=$((failed + expected - projects)); status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
