#!/usr/bin/env bash
# Runs benchmarks (Release build, own build slot so it never shares obj/ with a test run).
#   ./bench.sh                 all benchmarks
#   ./bench.sh NAME...         the named ones (./bench.sh --list shows the names)
# Output: one line per result
#   BENCH name=<id> value=<n> unit=<u> reference=<id> ratio=<r>
# with the reference measured in the same run. Results are recorded in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")"
export WAP_BUILD_SLOT=bench
dotnet build bench/WapBackup.Bench -c Release -nologo -v:q -clp:ErrorsOnly >&2
exec dotnet "artifacts/bench/bin/WapBackup.Bench/release/WapBackup.Bench.dll" "$@"
