#!/usr/bin/env bash
# Start pcscd for development and CI if none answers. One daemon per machine: it always
# listens on /run/pcscd/pcscd.comm, so a running one (ours or the system's) is reused.
# The vpcd driver (vsmartcard-vpcd) gives it two readers, "Virtual PCD 00 00" and "00 01",
# that `kentcard virtual-card run --reader 0|1` plugs a virtual card into.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

apt_install_missing pcscd vsmartcard-vpcd pcsc-tools
PY=${VENV:-.venv}/bin/python

answers() {
  "$PY" - <<'PY'
import sys
from hardware.rig import vpcd_readers
sys.exit(0 if vpcd_readers() else 1)
PY
}

if answers; then
  echo "pcscd is running and lists the vpcd readers."
  exit 0
fi
echo "Starting pcscd (log: ${PCSCD_LOG:-/tmp/pcscd.log})"
as_root mkdir -p /run/pcscd
as_root sh -c "nohup pcscd -f >>'${PCSCD_LOG:-/tmp/pcscd.log}' 2>&1 &"
for _ in $(seq 1 100); do
  if answers; then echo "pcscd is ready."; exit 0; fi
  sleep 0.1
done
echo "error: pcscd did not list the vpcd readers; see ${PCSCD_LOG:-/tmp/pcscd.log}" >&2
exit 1
