#!/usr/bin/env bash
# What the browser and interoperability tests need: Debian's Chromium (never a browser
# downloaded by a test tool) and the npm packages under tests/js (openid-client, axe-core).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install_missing chromium
# The PC/SC tests (tests/hardware) need pcscd and vsmartcard's vpcd; CI fails without them.
apt_install_missing pcscd vsmartcard-vpcd pcsc-tools
command -v node >/dev/null || apt_install_missing nodejs npm
# Debian's nodejs/npm are only installed when the machine has no node of its own.
if [ -f tests/js/package.json ]; then
  if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
