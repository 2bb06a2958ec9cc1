#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# format.sh - clang-format (the repository's .clang-format) over the C sources.
#
#   scripts/format.sh            reformat every tracked *.c/*.h in place
#   scripts/format.sh --check    change nothing; list unformatted files, exit 1 if any
#   scripts/format.sh [--check] FILE...   only those files
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check=0
if [[ ${1:-} == --check ]]; then
    check=1
    shift
fi
command -v clang-format >/dev/null 2>&1 || {
    echo "format.sh: clang-format not found (scripts/install-deps.sh installs it)" >&2
    exit 2
}

files=("$@")
if ((${#files[@]} == 0)); then
    mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h')
fi

bad=0
for f in "${files[@]}"; do
    [[ -f $f ]] || continue
    if ((check)); then
        if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
            echo "unformatted: $f"
            bad=1
        fi
    else
        clang-format -i "$f"
    fi
done
exit "$bad"
