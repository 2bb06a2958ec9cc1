#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/smtp/harness/run_selftest.sh [ARGS] - the SMTP test harness's self-test (CTest:
# smtp_harness_selftest). Uses Debian's /usr/bin/python3, standard library only; writes no
# __pycache__ into the source tree; killed after 120 s whatever happens.
set -u
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
export PYTHONDONTWRITEBYTECODE=1
exec timeout -k 5 120 "$py" "$here/selftest.py" "$@"
