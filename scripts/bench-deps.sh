#!/usr/bin/env bash
# What the Kent-scale API benchmarks need beyond the virtualenv: the wrk load generator
# (Debian's package). Called by `make bench-taps` and `make bench-checks`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
command -v wrk >/dev/null || apt_install_missing wrk
