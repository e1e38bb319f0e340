#!/usr/bin/env bash
# Makes sure a PgBouncer in transaction pooling mode answers on PGBOUNCER_HOST:PGBOUNCER_PORT
# (default 127.0.0.1:6432), in front of the PostgreSQL on PGHOST:PGPORT (127.0.0.1:5432), for the
# test suite's PgBouncer run (`TEST_VIA_PGBOUNCER=1`, see .ci/run). Installs Debian's pgbouncer when
# missing (`apt-get`, as root or through `sudo`). Its config, pid file, log and socket live in
# PGBOUNCER_DIR (default ${TMPDIR:-/tmp}/receivables-pgbouncer-<port>); it runs as the calling user,
# or as `postgres` when called as root (PgBouncer refuses to run as root). Idempotent: a PgBouncer
# that already answers on the port is reused. Any database name is forwarded (`* = …`);
# authentication is `trust` (PostgreSQL's own authentication still applies), for development and CI
# machines only. `bash scripts/ensure-pgbouncer.sh stop` stops the one it started;
# SKIP_ENSURE_SERVICES=1 skips it, as it does scripts/ensure-services.sh.
set -euo pipefail

# Services run elsewhere: so does the PgBouncer (point TEST_PGBOUNCER_URL at it).
if [ "${SKIP_ENSURE_SERVICES:-}" = 1 ]; then exit 0; fi

PGHOST_=${PGHOST:-127.0.0.1}
PGPORT_=${PGPORT:-5432}
HOST_=${PGBOUNCER_HOST:-127.0.0.1}
PORT_=${PGBOUNCER_PORT:-6432}
DIR=${PGBOUNCER_DIR:-${TMPDIR:-/tmp}/receivables-pgbouncer-$PORT_}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "${1:-}" = stop ]; then
  if [ -f "$DIR/pgbouncer.pid" ]; then
    pid=$(cat "$DIR/pgbouncer.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  exit 0
fi

# Answers a query through PgBouncer (as the PostgreSQL superuser, into the postgres database).
bouncer_up() { psql -h "$HOST_" -p "$PORT_" -U "${PGBOUNCER_CHECK_USER:-postgres}" -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

if bouncer_up; then exit 0; fi
# Started a moment ago by a parallel call: wait for it rather than start a second one.
if [ -f "$DIR/pgbouncer.pid" ] && kill -0 "$(cat "$DIR/pgbouncer.pid")" 2>/dev/null; then
  for _ in $(seq 1 40); do bouncer_up && exit 0; sleep 0.25; done
  echo "ensure-pgbouncer: a PgBouncer runs from $DIR but does not answer on $HOST_:$PORT_" >&2
  exit 1
fi

PGBOUNCER_BIN=$(command -v pgbouncer || ls /usr/sbin/pgbouncer 2>/dev/null || true)
if [ -z "$PGBOUNCER_BIN" ]; then
  echo "ensure-pgbouncer: installing PgBouncer"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq pgbouncer >/dev/null
  PGBOUNCER_BIN=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  # The package starts a system instance on 6432 on some images: this script runs its own.
  as_root service pgbouncer stop >/dev/null 2>&1 || true
  if bouncer_up; then exit 0; fi
fi

run_as=()
if [ "$(id -u)" = 0 ]; then run_as=(-u postgres); fi

mkdir -p "$DIR"
# PgBouncer's `trust` still wants the user in auth_file: the superuser, the service's two roles and
# any in PGBOUNCER_USERS (space-separated). Passwords are not checked.
for u in postgres recv_owner recv_app ${PGBOUNCER_USERS:-}; do printf '"%s" ""\n' "$u"; done >"$DIR/userlist.txt"
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST_ port=$PGPORT_

[pgbouncer]
listen_addr = $HOST_
listen_port = $PORT_
unix_socket_dir = $DIR
pidfile = $DIR/pgbouncer.pid
logfile = $DIR/pgbouncer.log
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 60
max_db_connections = 0
reserve_pool_size = 0
server_idle_timeout = 5
server_lifetime = 3600
ignore_startup_parameters = extra_float_digits,options
INI
if [ "$(id -u)" = 0 ]; then chown -R postgres "$DIR"; fi
rm -f "$DIR/pgbouncer.pid"

echo "ensure-pgbouncer: starting PgBouncer on $HOST_:$PORT_ (transaction pooling; files in $DIR)"
"$PGBOUNCER_BIN" -d "${run_as[@]}" "$DIR/pgbouncer.ini"
for _ in $(seq 1 40); do bouncer_up && break; sleep 0.25; done
bouncer_up || { echo "ensure-pgbouncer: PgBouncer did not come up; see $DIR/pgbouncer.log" >&2; tail -n 20 "$DIR/pgbouncer.log" >&2 || true; exit 1; }
