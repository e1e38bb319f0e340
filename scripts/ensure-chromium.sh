#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the console's browser test
# (test/console-browser.test.ts, driven by playwright-core): installs the `chromium` package when
# missing. Called by scripts/ensure-services.sh; failing here only makes that test skip.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no apt-get; install Chromium at /usr/bin/chromium for the console's browser test" >&2
  exit 1
fi
echo "ensure-chromium: installing chromium"
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ]
