#!/usr/bin/env bash
# Runs the system locally.
#   ./run.sh up [--port N]              local stack: dynalite, s3rver and the API on http://127.0.0.1:N (default 8080)
#   ./run.sh mongo --port N [--replset rs0]   one MongoDB wire-protocol test server on 127.0.0.1:N
# Everything started is stopped on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")"
verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
  up)
    scripts/ensure-node-modules.sh
    export WAP_BUILD_SLOT=run
    dotnet build src/Local -c Release -nologo -v:q -clp:ErrorsOnly >&2
    exec dotnet artifacts/run/bin/WapBackup.Local/release/WapBackup.Local.dll up "$@"
    ;;
  mongo)
    export WAP_BUILD_SLOT=run
    dotnet build tests/Support/MongoTestServer -c Release -nologo -v:q -clp:ErrorsOnly >&2
    exec dotnet artifacts/run/bin/MongoTestServer/release/MongoTestServer.dll "$@"
    ;;
  *)
    echo "usage: ./run.sh up [--port N] | ./run.sh mongo --port N [--replset rs0] [--secondary] [--oplog-mb M]" >&2
    exit 2
    ;;
esac
