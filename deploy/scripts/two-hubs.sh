#!/usr/bin/env bash
# A local two-hub cluster: one Ray head (`ray start --head`), one redis-server, one PostgreSQL,
# and two `seva serve` processes on different ports attached to all three. Ctrl-C stops
# everything this script started. Run from the repository root after `make bootstrap`
# (redis-server must be installed: `bash deploy/scripts/bootstrap.sh --with-redis`).
#
#   bash deploy/scripts/two-hubs.sh            # hubs on 127.0.0.1:8080 (with --demo) and :8081
#   HUB_B_PORT=9000 DATABASE_URL=postgresql://... bash deploy/scripts/two-hubs.sh
#
# PostgreSQL: DATABASE_URL if set; otherwise the embedded default under SEVA_DATA_DIR (.seva,
# the same cluster and data as `make run`; do not run both at once), started here and
# stopped on exit. Both hubs share one SEVA_JWT_SECRET (generated for this run unless set), so
# a token from one hub is valid on the other, and one SEVA_SECRET_KEY.
set -euo pipefail

log() { printf '[two-hubs] %s\n' "$*"; }
die() {
  printf '[two-hubs] error: %s\n' "$*" >&2
  exit 1
}

[[ -f pyproject.toml ]] || die "run this from the repository root"
VENV_BIN=.venv/bin
[[ -x $VENV_BIN/seva && -x $VENV_BIN/ray ]] || die "no .venv with seva and ray: run 'make bootstrap' first"
REDIS_SERVER="$(command -v redis-server || true)"
[[ -n $REDIS_SERVER ]] || die "redis-server not found: bash deploy/scripts/bootstrap.sh --with-redis"

HOST="${SEVA_HOST:-127.0.0.1}"
HUB_A_PORT="${HUB_A_PORT:-8080}"
HUB_B_PORT="${HUB_B_PORT:-8081}"
REDIS_PORT="${REDIS_PORT:-6390}"
RAY_PORT="${RAY_PORT:-6389}"
DEMO="${DEMO:-1}"
export SEVA_DATA_DIR="${SEVA_DATA_DIR:-.seva}"
RUN_DIR="$SEVA_DATA_DIR/two-hubs"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"

# A private Ray for one user needs no token auth (Ray 2.5x turns it on by default).
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
export RAY_ADDRESS="127.0.0.1:$RAY_PORT"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
if [[ -z ${SEVA_JWT_SECRET:-} && -z ${SEVA_JWT_KEYS:-} ]]; then
  SEVA_JWT_SECRET="$("$VENV_BIN/python" -c 'import secrets; print(secrets.token_urlsafe(48))')"
  export SEVA_JWT_SECRET
fi

pids=()
started_pg=0
cleanup() {
  trap - INT TERM EXIT
  log "stopping ..."
  local pid
  # Hubs first (they drain and close cleanly on SIGTERM), then Ray, Redis and PostgreSQL.
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [[ $started_pg -eq 1 ]]; then
    "$VENV_BIN/python" -c 'import os, pathlib; from storage.cluster import LocalPostgres
LocalPostgres(pathlib.Path(os.environ["SEVA_DATA_DIR"]).resolve()).stop()' || true
  fi
  log "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Each child leads its own process group, so one signal reaches it and everything it started.
spawn() {
  local name="$1"
  shift
  setsid "$@" >"$RUN_DIR/$name.log" 2>&1 &
  pids+=("$!")
}

wait_for() {
  local what="$1" check="$2" pid="$3"
  for _ in $(seq 1 600); do
    if eval "$check"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$what exited; see $RUN_DIR/$what.log"
    sleep 0.1
  done
  die "$what not ready after 60 s; see $RUN_DIR/$what.log"
}

log "redis-server on 127.0.0.1:$REDIS_PORT"
spawn redis "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR" \
  --save "" --appendonly no --daemonize no
log "ray start --head on $RAY_ADDRESS"
spawn ray env -u RAY_ADDRESS "$VENV_BIN/ray" start --head --block --disable-usage-stats \
  --node-ip-address=127.0.0.1 --port="$RAY_PORT" --include-dashboard=false
wait_for redis "'$VENV_BIN/python' -c 'import socket; socket.create_connection((\"127.0.0.1\", $REDIS_PORT), 1)' 2>/dev/null" "${pids[0]}"
wait_for ray "grep -qs 'Ray runtime started' '$RUN_DIR/ray.log'" "${pids[1]}"

if [[ -z ${DATABASE_URL:-} ]]; then
  log "starting the embedded PostgreSQL under $SEVA_DATA_DIR"
  DATABASE_URL="$("$VENV_BIN/python" -c 'import os, pathlib; from storage.cluster import LocalPostgres
print(LocalPostgres(pathlib.Path(os.environ["SEVA_DATA_DIR"]).resolve()).start())')"
  started_pg=1
  if [[ -z ${SEVA_SECRET_KEY:-} ]]; then
    # The embedded default's key file, as `seva serve` keeps it (made on first use).
    SEVA_SECRET_KEY="$(env -u DATABASE_URL "$VENV_BIN/python" -c 'from hub.cli import resolve_secret_key
from hub.settings import Settings
print(resolve_secret_key(Settings()).get_secret_value())')"
    export SEVA_SECRET_KEY
  fi
fi
export DATABASE_URL

demo_flag=()
[[ $DEMO == 1 ]] && demo_flag=(--demo)
log "hub A on http://$HOST:$HUB_A_PORT ${demo_flag[*]}"
spawn hub-a "$VENV_BIN/seva" serve "${demo_flag[@]}" --host "$HOST" --port "$HUB_A_PORT"
# B starts once A has migrated (and seeded): two first starts would race for nothing, but
# one at a time keeps the logs readable.
wait_for hub-a "grep -qs 'Seva Hub is serving' '$RUN_DIR/hub-a.log'" "${pids[2]}"
log "hub B on http://$HOST:$HUB_B_PORT"
spawn hub-b "$VENV_BIN/seva" serve --host "$HOST" --port "$HUB_B_PORT"
wait_for hub-b "grep -qs 'Seva Hub is serving' '$RUN_DIR/hub-b.log'" "${pids[3]}"

log "ready: hub A http://$HOST:$HUB_A_PORT, hub B http://$HOST:$HUB_B_PORT"
log "Ray $RAY_ADDRESS, Redis $REDIS_URL; logs in $RUN_DIR; Ctrl-C stops everything"
# Until Ctrl-C, or until any child dies (then stop the rest).
while true; do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "a process exited (pid $pid); see $RUN_DIR/*.log"
  done
  sleep 1
done
