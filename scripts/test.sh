#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - install what is missing, build, and run every test suite.
#
# Stages:
#   deps        scripts/install-deps.sh
#   build       build/       -DARCPROXY_WERROR=ON
#   test        ctest in build/
#   asan-build  build-asan/  -DARCPROXY_ASAN=ON -DARCPROXY_UBSAN=ON
#   asan-test   ctest in build-asan/ (leaks and UB abort the test)
#   fuzz-build  build-fuzz/  CC=clang -DARCPROXY_FUZZ=ON   (only with clang and C files in fuzz/)
#   fuzz        ctest -L fuzz in build-fuzz/, each target time-bounded
# A failed build skips its tests; the other stages still run. Exits non-zero if any
# stage failed, after a summary of all of them.
#
# Environment:
#   ARC_TEST_SUITE_DIR    the ARC conformance suite (default: ../shared/arc-test-suite
#                         beside the repository); absent, the conformance test is skipped
#   ARCPROXY_JOBS         parallel build/test jobs (default: 2)
#   ARCPROXY_FUZZ_SECONDS run time of each fuzz target, passed to the fuzz build as
#                         -DARCPROXY_FUZZ_SECONDS (unset: the value cached in build-fuzz/
#                         or the default in fuzz/CMakeLists.txt)
#   ARCPROXY_SKIP_FUZZ=1, ARCPROXY_SKIP_ASAN=1   leave those stages out
# shellcheck disable=SC2317 # the helpers below run through stage()
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

jobs=${ARCPROXY_JOBS:-2}
suite=${ARC_TEST_SUITE_DIR:-$root/../shared/arc-test-suite}

names=()
results=()
times=()
failed=0

note() { printf '\n==== %s ====\n' "$*"; }

# stage NAME CMD... - run CMD, record PASS/FAIL and its duration; returns CMD's status.
stage() {
    local name=$1 t0 rc
    shift
    note "$name: $*"
    t0=$SECONDS
    "$@"
    rc=$?
    names+=("$name")
    times+=($((SECONDS - t0)))
    if ((rc == 0)); then
        results+=(PASS)
    else
        results+=("FAIL (exit $rc)")
        failed=1
    fi
    return "$rc"
}

# skip NAME WHY - record a stage that did not run.
skip() {
    note "$1: skipped ($2)"
    names+=("$1")
    results+=("SKIP ($2)")
    times+=(0)
}

summary() {
    local i
    printf '\n==== summary ====\n'
    for i in "${!names[@]}"; do
        printf '  %-11s %-40s %5ss\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    done
    if ((failed)); then
        printf 'test.sh: FAILED\n'
    else
        printf 'test.sh: all stages that ran succeeded\n'
    fi
}

# In CI every oracle is installed by install-deps.sh: a skipped interop run there would
# hide a missing install step, so make it a failure.
if [ "${CI:-}" = true ]; then
    export INTEROP_REQUIRED=1
fi

configure_and_build() {
    local dir=$1
    shift
    cmake -S "$root" -B "$root/$dir" -DARC_TEST_SUITE_DIR="$suite" "$@" &&
        cmake --build "$root/$dir" -j "$jobs"
}

run_ctest() {
    local dir=$1
    shift
    (cd "$root/$dir" && ctest --output-on-failure --no-tests=error -j "$jobs" "$@")
}

sanitizer_env() {
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$@"
}

fuzz_count() {
    # number of CTest entries labelled "fuzz"
    (cd "$root/build-fuzz" && ctest -N -L fuzz 2>/dev/null) |
        sed -n 's/^Total Tests: *\([0-9][0-9]*\).*/\1/p'
}

printf 'arcproxy test.sh: %s, %s jobs, conformance suite %s\n' "$root" "$jobs" "$suite"
[[ -d $suite ]] || printf 'note: %s is absent: the conformance test will be skipped\n' "$suite"

if ! stage deps "$root/scripts/install-deps.sh"; then
    summary
    exit 1
fi

if stage build configure_and_build build -DARCPROXY_WERROR=ON; then
    stage test run_ctest build
else
    skip test "build failed"
fi

if [[ ${ARCPROXY_SKIP_ASAN:-0} == 1 ]]; then
    skip asan-build "ARCPROXY_SKIP_ASAN=1"
elif stage asan-build configure_and_build build-asan -DARCPROXY_ASAN=ON -DARCPROXY_UBSAN=ON; then
    stage asan-test sanitizer_env run_ctest build-asan
else
    skip asan-test "build failed"
fi

if [[ ${ARCPROXY_SKIP_FUZZ:-0} == 1 ]]; then
    skip fuzz "ARCPROXY_SKIP_FUZZ=1"
elif ! command -v clang >/dev/null 2>&1; then
    skip fuzz "no clang"
elif [[ -z $(find "$root/fuzz" -name '*.c' -print -quit 2>/dev/null) ]]; then
    skip fuzz "no fuzz drivers (*.c) in fuzz/"
elif stage fuzz-build configure_and_build build-fuzz -DCMAKE_C_COMPILER=clang -DARCPROXY_FUZZ=ON \
    ${ARCPROXY_FUZZ_SECONDS:+"-DARCPROXY_FUZZ_SECONDS=$ARCPROXY_FUZZ_SECONDS"}; then
    n=$(fuzz_count)
    if [[ ${n:-0} -gt 0 ]]; then
        # the fuzz tests set their own TIMEOUT; --timeout only covers one that does not
        stage fuzz sanitizer_env run_ctest build-fuzz -L fuzz --timeout 900
    else
        skip fuzz "no CTest entry labelled fuzz"
    fi
else
    skip fuzz "build failed"
fi

summary
exit "$failed"
