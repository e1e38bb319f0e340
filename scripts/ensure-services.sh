#!/usr/bin/env bash
# Makes sure PostgreSQL (15+) and Redis (7) answer on localhost: starts them when installed but
# down, installs them from Debian's packages when missing. Used by `npm test`, `npm start` and CI.
# SKIP_ENSURE_SERVICES=1 skips it where the services run elsewhere (docker compose, managed hosts).
set -euo pipefail

if [ "${SKIP_ENSURE_SERVICES:-}" = 1 ]; then exit 0; fi

PGHOST_=${PGHOST:-127.0.0.1}
PGPORT_=${PGPORT:-5432}
REDIS_HOST_=${REDIS_HOST:-127.0.0.1}
REDIS_PORT_=${REDIS_PORT:-6379}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_up() { pg_isready -q -h "$PGHOST_" -p "$PGPORT_" 2>/dev/null; }
redis_up() { [ "$(redis-cli -h "$REDIS_HOST_" -p "$REDIS_PORT_" ping 2>/dev/null)" = "PONG" ]; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "ensure-services: installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    as_root pg_createcluster "$ver" main >/dev/null
  fi
  for conf in /etc/postgresql/*/main/pg_hba.conf; do
    # Local development and CI: trust on loopback, as on the reference machines.
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf"; then
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf"
    fi
  done
  echo "ensure-services: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "ensure-services: PostgreSQL did not come up" >&2; exit 1; }
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure-services: installing Redis"
    apt_install redis-server
  fi
  echo "ensure-services: starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT_" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  redis_up || { echo "ensure-services: Redis did not come up" >&2; exit 1; }
fi

# Documents: statement PDFs embed DejaVu Sans (Latin, Greek, Cyrillic) and Droid Sans Fallback (CJK;
# Noto Sans CJK is used when Droid is missing), and the tests read PDFs back with poppler's
# pdftotext. Installed when missing (Debian/Ubuntu packages).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || [ ! -f /usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf ] || ! command -v pdftotext >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: installing fonts-dejavu-core, fonts-droid-fallback and poppler-utils"
    apt_install fonts-dejavu-core fonts-droid-fallback poppler-utils
  else
    echo "ensure-services: install DejaVu Sans, Droid Sans Fallback (or Noto Sans CJK) and poppler-utils (pdftotext) for statement PDFs and their tests" >&2
  fi
fi

# The console's browser test drives Debian's Chromium (scripts/ensure-chromium.sh); without it that
# test skips with a message, so a failed install does not stop the services.
bash "$(dirname "$0")/ensure-chromium.sh" || echo "ensure-services: Chromium unavailable; test/console-browser.test.ts will skip" >&2
