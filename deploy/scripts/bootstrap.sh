#!/usr/bin/env bash
# Prepare this checkout to run or test Seva Hub: a .venv with the project installed
# (editable, with test extras) and the PostgreSQL server binaries; with --with-redis also
# redis-server; with --with-browser Debian's chromium, Node.js and the npm packages of the
# browser test (tests/browser) and the Node.js client (deploy/examples/node-client). Always:
# the web board's socket.io-client, vendored from the npm registry with a pinned integrity
# (deploy/scripts/vendor_board.py; needs no Node.js). With --with-nginx Debian's nginx-light,
# for the test of deploy/nginx/nginx.conf in front of two real hubs. Idempotent, and quick when nothing
# changed. Run from the repository root (the Makefile does).
#
# Missing system packages are installed with apt-get when running as root; otherwise the
# script stops and names them.
set -euo pipefail

log() { printf '[bootstrap] %s\n' "$*"; }
die() {
  printf '[bootstrap] error: %s\n' "$*" >&2
  exit 1
}

with_redis=0
with_browser=0
with_nginx=0
for arg in "$@"; do
  case "$arg" in
    --with-redis) with_redis=1 ;;
    --with-browser) with_browser=1 ;;
    --with-nginx) with_nginx=1 ;;
    -h | --help)
      echo "usage: bash deploy/scripts/bootstrap.sh [--with-redis] [--with-browser] [--with-nginx]"
      exit 0
      ;;
    *) die "unknown argument '$arg' (usage: bootstrap.sh [--with-redis] [--with-browser] [--with-nginx])" ;;
  esac
done

[[ -f pyproject.toml ]] || die "run this from the repository root (no pyproject.toml in $PWD)"

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# True if the interpreter given runs and is Python >= 3.11.
python_is_recent() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

# Prints the first Python >= 3.11 that can create virtualenvs (Debian splits ensurepip into
# python3-venv, without which `python3 -m venv` fails halfway).
find_python() {
  local candidate
  for candidate in python3.11 python3 python3.12 python3.13; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    python_is_recent "$candidate" || continue
    "$candidate" -c 'import ensurepip, venv' >/dev/null 2>&1 || continue
    command -v "$candidate"
    return 0
  done
  return 1
}

# Same search as storage/cluster.py: PATH first, then Debian's versioned directories.
have_postgres_server() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    return 0
  fi
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      return 0
    fi
  done
  return 1
}

have_redis_server() {
  command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]]
}

venv_is_usable() {
  [[ -x .venv/bin/python ]] && python_is_recent .venv/bin/python
}

# --- 1. which system packages are missing ---------------------------------------------------

apt_packages=()
python=""
if ! venv_is_usable; then
  if ! python="$(find_python)"; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
      # Debian 12's python3 is 3.11.
      apt_packages+=(python3 python3-venv)
    else
      die "no Python >= 3.11 with the venv module found (tried python3.11, python3, python3.12, python3.13). On Debian/Ubuntu: apt-get install python3 python3-venv"
    fi
  fi
fi
installing_postgres=0
if ! have_postgres_server; then
  apt_packages+=(postgresql)
  installing_postgres=1
fi
installing_redis=0
if [[ $with_redis -eq 1 ]] && ! have_redis_server; then
  apt_packages+=(redis-server)
  installing_redis=1
fi
if [[ $with_browser -eq 1 ]]; then
  command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
  # Debian 12's nodejs is 18: enough for the Node client, while playwright-core (the board
  # test) declares >= 20 (NodeSource's nodejs 20 is what the CI image has). npm is separate.
  command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
fi
installing_nginx=0
if [[ $with_nginx -eq 1 ]] && ! command -v nginx >/dev/null 2>&1 && [[ ! -x /usr/sbin/nginx ]]; then
  apt_packages+=(nginx-light)
  installing_nginx=1
fi

# --- 2. install them -----------------------------------------------------------------------

if [[ ${#apt_packages[@]} -gt 0 ]]; then
  if ! is_root; then
    die "missing system packages: ${apt_packages[*]}. Install them as root: apt-get install ${apt_packages[*]}"
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "missing system packages (${apt_packages[*]}) and no apt-get here; install them with your package manager"
  log "installing ${apt_packages[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${apt_packages[@]}" >/dev/null
fi

# Debian's packages create and start system services (a `main` cluster on 5432, a redis on
# 6379). We run private instances instead, so stop what we just caused to start; failing to
# stop them is harmless.
if [[ $installing_postgres -eq 1 ]]; then
  if command -v pg_lsclusters >/dev/null 2>&1; then
    while read -r version name _; do
      pg_ctlcluster "$version" "$name" stop >/dev/null 2>&1 || true
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
  fi
  service postgresql stop >/dev/null 2>&1 || true
  log "stopped the system PostgreSQL cluster the package started (we run our own)"
fi
if [[ $installing_redis -eq 1 ]]; then
  service redis-server stop >/dev/null 2>&1 || true
  if command -v redis-cli >/dev/null 2>&1 && redis-cli -p 6379 ping >/dev/null 2>&1; then
    redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
  fi
  log "stopped the system redis-server the package started (tests start their own)"
fi
if [[ $installing_nginx -eq 1 ]]; then
  service nginx stop >/dev/null 2>&1 || true
  log "stopped the system nginx the package started (the test runs its own)"
fi

# --- 3. the virtualenv ---------------------------------------------------------------------

if ! venv_is_usable; then
  if [[ -z $python ]]; then
    python="$(find_python)" || die "Python >= 3.11 with the venv module is still missing"
  fi
  if [[ -e .venv ]]; then
    log ".venv is broken or older than Python 3.11; recreating it"
    rm -rf .venv
  fi
  log "creating .venv with $("$python" -V 2>&1) ($python)"
  "$python" -m venv .venv
fi

# Reinstall only when pyproject.toml (or the interpreter) changed since the last success.
stamp_file=.venv/.seva-installed
wanted_stamp="$(.venv/bin/python -c '
import hashlib, sys
digest = hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()
print(digest, sys.version.split()[0])
')"
if [[ -f $stamp_file && "$(cat "$stamp_file")" == "$wanted_stamp" && -x .venv/bin/seva ]]; then
  log ".venv is up to date"
else
  log "installing the project into .venv (pip install -e '.[test]')"
  .venv/bin/python -m pip install --quiet -e '.[test]'
  printf '%s\n' "$wanted_stamp" >"$stamp_file.tmp"
  mv "$stamp_file.tmp" "$stamp_file"
fi

# --- 4. the web board's browser library, and the npm packages the browser tests use ----------

# Not fatal for `make run`: without it the hub runs and the board page says how to get it.
if ! .venv/bin/python deploy/scripts/vendor_board.py; then
  [[ $with_browser -eq 0 ]] || die "could not vendor the web board's socket.io-client"
  log "warning: the web board's socket.io-client is not vendored (see the error above)"
fi

# `npm ci` again only when a lock file changed (its hash is stamped into node_modules).
npm_ci() {
  local dir=$1 stamp="$1/node_modules/.seva-lock-sha256" wanted
  wanted="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [[ -f $stamp && "$(cat "$stamp")" == "$wanted" ]]; then
    return 0
  fi
  log "npm ci in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci in $dir failed"
  printf '%s\n' "$wanted" >"$stamp"
}
if [[ $with_browser -eq 1 ]]; then
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [[ $node_major -ge 20 ]] || log "warning: Node.js $node_major here; playwright-core wants >= 20"
  npm_ci tests/browser
  npm_ci deploy/examples/node-client
fi

log "ready"
