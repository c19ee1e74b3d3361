#!/usr/bin/env bash
# Sets up the virtualenv with the service and what its tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
command -v "$PYTHON" >/dev/null || PYTHON=python3

# pyscard builds against libpcsclite; pcscd is the PC/SC daemon the card tests use, with
# vsmartcard's vpcd reader driver for the virtual Kent Card and pcsc_scan to look at it.
apt_install_missing libpcsclite-dev swig pcscd vsmartcard-vpcd pcsc-tools

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test]'
echo "Virtualenv ready in $VENV"
