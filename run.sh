#!/usr/bin/env bash
# Runs the system locally.
#   ./run.sh up [--port N]                    local stack: dynalite, s3rver, SSM (Parameter Store, Run Command running
#                                             the built ddt), the Step Functions engine with the workflows, and the
#                                             API on http://127.0.0.1:N (default 8080); writes .local/env while up.
#                                             The DDT host too: the MongoDB test server on 127.0.0.1:47019 and 57019
#                                             where nothing listens there (what listens is used) and ddt agent
#                                             --all-hosts; --no-host-services leaves both out
#   ./run.sh down                             stops the stack a backgrounded ./run.sh up started (same env file)
#   ./run.sh mongo --port N [--replset rs0]   one MongoDB wire-protocol test server on 127.0.0.1:N
#   ./run.sh ddt <verb> ...                   the ddt program with .local/env loaded (./run.sh ddt --help)
#   ./run.sh demo                             the main job end to end through the API and the workflows: local stack, a source with live writes,
#                                             init, snapshot, a point-in-time restore to a second server, verified
# Everything started is stopped on Ctrl-C. WAP_LOCAL_ENV=FILE uses another env file than .local/env
# (several stacks side by side, tests).
#
# The three programs are built together into the `run` build slot (artifacts/run) under one lock,
# and only when a source changed since the last good build: calls at the same moment wait for one
# build instead of racing on the same obj/ folders, and later calls start at once.
set -euo pipefail
cd "$(dirname "$0")"
export WAP_BUILD_SLOT=run
slot=artifacts/run
env_file=${WAP_LOCAL_ENV:-.local/env}

build() {
  mkdir -p "$slot"
  exec 9>"$slot/.build.lock"
  flock 9
  local stamp="$slot/.built" started
  if [ -f "$stamp" ] && [ -z "$(find src tests/Support scripts/run.slnf Directory.Build.props Directory.Packages.props \
        template.yaml -newer "$stamp" -type f -print -quit)" ]; then
    exec 9>&-
    return 0
  fi
  # Taken before the build: a file edited while it runs is newer than the stamp, so the next call rebuilds.
  started=$(mktemp "$slot/.building.XXXXXX")
  if ! dotnet build scripts/run.slnf -c Release -nologo -v:q -clp:ErrorsOnly >&2; then
    rm -f "$started"
    echo "run.sh: build failed" >&2
    exit 1
  fi
  mv "$started" "$stamp"
  exec 9>&-
}

verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
  up)
    scripts/ensure-node-modules.sh
    build
    # The in-process API reads its stage and allowed buckets like the deployed function does.
    export WAP_STAGE=local WAP_BACKUP_BUCKETS=wap-backup-local
    # Commands the workflows dispatch through the local SSM, and the agent, run this ddt on the local host.
    # exec keeps this pid for the stack: ./run.sh down signals it.
    mkdir -p "$(dirname "$env_file")"
    echo $$ > "$env_file.pid"
    exec dotnet "$slot/bin/WapBackup.Local/release/WapBackup.Local.dll" up --env-file "$env_file" \
      --ddt "$slot/bin/WapBackup.Ddt.Host/release/ddt.dll" --mongo "$slot/bin/MongoTestServer/release/MongoTestServer.dll" "$@"
    ;;
  down)
    pid_file="$env_file.pid"
    if [ ! -f "$pid_file" ]; then
      echo "run.sh: no $pid_file: no ./run.sh up of this env file is running" >&2
      exit 1
    fi
    pid=$(cat "$pid_file")
    if ! kill -0 "$pid" 2>/dev/null || ! grep -q "WapBackup.Local.dll" "/proc/$pid/cmdline" 2>/dev/null; then
      echo "run.sh: the stack of $pid_file (pid $pid) is not running" >&2
      rm -f "$pid_file"
      exit 1
    fi
    # SIGTERM: the agent stops (captures seal), then the API, the AWS stand-ins and the test servers it started.
    kill -TERM "$pid"
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$pid_file"; echo "run.sh: local stack (pid $pid) stopped" >&2; exit 0; }
      sleep 0.5
    done
    echo "run.sh: local stack (pid $pid) did not stop within 60 s" >&2
    exit 1
    ;;
  mongo)
    build
    exec dotnet "$slot/bin/MongoTestServer/release/MongoTestServer.dll" "$@"
    ;;
  demo)
    scripts/ensure-node-modules.sh
    build
    exec dotnet "$slot/bin/WapBackup.Local/release/WapBackup.Local.dll" demo --programs \
      "$slot/bin/WapBackup.Ddt.Host/release/ddt.dll" "$slot/bin/MongoTestServer/release/MongoTestServer.dll"
    ;;
  ddt)
    build
    if [ -f "$env_file" ]; then
      # shellcheck disable=SC1090
      . "$env_file"
    else
      echo "run.sh: $env_file not found: start the local stack with ./run.sh up (verbs that need AWS will fail without it)" >&2
    fi
    exec dotnet "$slot/bin/WapBackup.Ddt.Host/release/ddt.dll" "$@"
    ;;
  *)
    echo "usage: ./run.sh demo | ./run.sh up [--port N] [--no-host-services] | ./run.sh down | ./run.sh mongo --port N [--replset rs0] [--secondary] [--oplog-mb M] | ./run.sh ddt <verb> ... (./run.sh ddt --help)" >&2
    exit 2
    ;;
esac
