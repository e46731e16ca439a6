#!/usr/bin/env bash
# Restores, builds and runs every test project of Backup.sln on a fresh machine.
# The tests start the local servers they need themselves (dynalite, s3rver, the MongoDB
# wire-protocol test server) on free ports; this script only installs them (npm ci).
# Set MONGODB_URI (and MONGODB_URI_2, ...) to run the MongoDB tests against a real replica set.
# Ends with one line "N passed, N failed, N skipped" totalled over all test projects.
set -uo pipefail
cd "$(dirname "$0")"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== npm ci (dynalite, s3rver, asl-validator, yaml-cfn)"
scripts/ensure-node-modules.sh || { echo "npm ci failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

echo "== dotnet restore + build"
if ! dotnet build Backup.sln -c Release -nologo -v:q -clp:ErrorsOnly; then
  echo "build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1
fi

echo "== dotnet test"
dotnet test Backup.sln -c Release --no-build -nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-project summaries: "Passed!  - Failed: 0, Passed: 12, Skipped: 1, Total: 13, ..."
read -r passed failed skipped projects < <(awk '
  /(Passed|Failed)! +- +Failed: / {
    line=$0; gsub(/,/, "", line); n=split(line, w, /[ \t]+/)
    for (i=1;i<=n;i++) { if (w[i]=="Failed:") f+=w[i+1]; if (w[i]=="Passed:") p+=w[i+1]; if (w[i]=="Skipped:") s+=w[i+1] }
    proj++
  }
  END { printf "%d %d %d %d\n", p, f, s, proj }' "$log")

expected=$(find tests -name '*.Tests.csproj' | wc -l)
if [ "$projects" -ne "$expected" ]; then
  echo "only $projects of $expected test projects reported a summary (a test host crashed?)"
  failed=$((failed + expected - projects)); status=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
