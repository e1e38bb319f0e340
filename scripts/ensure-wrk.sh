#!/usr/bin/env bash
# Makes sure `wrk` (Debian's package) is installed, for `npm run bench`'s closed-loop phases: a load
# generator in C, as pgbench's client is, so that the load takes little of the two cores the service
# and Postgres share with it. Installs it with apt-get when missing, as scripts/ensure-services.sh
# does for PostgreSQL and Redis.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "ensure-wrk: installing wrk"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends wrk >/dev/null
command -v wrk >/dev/null 2>&1 || { echo "ensure-wrk: wrk still missing after installing it" >&2; exit 1; }
