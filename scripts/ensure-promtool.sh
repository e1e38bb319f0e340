#!/usr/bin/env bash
# Makes sure `promtool` (Debian's `prometheus` package) is installed, for test/alerts.test.ts to
# check core/ops/alerts.yml with `promtool check rules`. Installs it with apt-get when missing, as
# scripts/ensure-services.sh does for PostgreSQL and Redis. Called by .ci/run; without promtool the
# test skips the check and says why. SKIP_ENSURE_SERVICES=1 skips this too.
set -euo pipefail

if [ "${SKIP_ENSURE_SERVICES:-}" = 1 ] || command -v promtool >/dev/null 2>&1; then exit 0; fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "ensure-promtool: installing prometheus (for promtool)"
as_root apt-get update -qq
# Only promtool is needed: no recommends (node exporter, web assets), and the server is not started.
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "ensure-promtool: promtool still missing after installing prometheus" >&2; exit 1; }
