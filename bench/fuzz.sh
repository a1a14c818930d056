#!/usr/bin/env bash
# Fuzzes LiftLab's parsers with libFuzzer for as long as you like (the
# `fuzz` ctest label runs each for 30 s).
#   bench/fuzz.sh [SECONDS] [TARGET...]     default: 300 s each, every target
# Builds the sanitize preset (clang, ASan + UBSan). New inputs collect in
# build/sanitize/tests/fuzz/TARGET/corpus. A failing input is written there as
# crash-*, leak-*, oom-* or timeout-*: copy it to
# tests/fuzz/regressions/TARGET/ under a name that says what it was, fix the
# parser, and test_fuzz_corpus keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx npy cub sop cars-csv cars-mat config run-files checkpoint)

cmake --preset sanitize >/dev/null
executables=()
for t in "${targets[@]}"; do executables+=("fuzz_${t//-/_}"); done
cmake --build build/sanitize --target "${executables[@]}" 2>&1 | tail -1
status=0
printf '%-12s %10s %8s %6s  %s\n' target runs exec/s new result
for t in "${targets[@]}"; do
    exe="build/sanitize/tests/fuzz_${t//-/_}"
    found="build/sanitize/tests/fuzz/$t"
    mkdir -p "$found/corpus"
    inputs=("tests/fuzz/corpus/$t")
    [ -d "tests/fuzz/regressions/$t" ] && inputs+=("tests/fuzz/regressions/$t")
    log="$found/last.log"
    result=clean
    "$exe" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=2000000 -print_final_stats=1 \
        -artifact_prefix="$found/" "$found/corpus" "${inputs[@]}" >"$log" 2>&1 || { result="FAILED (see $log)"; status=1; }
    stat() { sed -n "s/^stat::$1: *//p" "$log"; }
    printf '%-12s %10s %8s %6s  %s\n' "$t" "$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" \
        "$(stat new_units_added)" "$result"
done
exit $status
