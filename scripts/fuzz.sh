#!/usr/bin/env bash
# Fuzzes rcgi's parsers of untrusted bytes with cargo-fuzz (libFuzzer),
# SECONDS_PER_TARGET seconds each (default 60):
#
#   request_head    rcgi::front::http::request::{find_head_end, parse_head}
#   chunked         rcgi::front::http::chunked::Decoder
#   script_headers  rcgi::cgi::header_block::{find_end, parse}
#   whole_request   a head, then its body through the body reader over a
#                   loopback connection, against --max-body
#   fastcgi         rcgi::front::fastcgi::{record::split, params::decode}
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# FUZZ_TARGETS="chunked script_headers" runs only those.
#
# How it runs:
# - cargo-fuzz is installed with `cargo install cargo-fuzz` if missing.
# - cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=...,
#   SanitizerCoverage options); on a stable toolchain RUSTC_BOOTSTRAP=1
#   lets rustc accept them. The stable toolchain ships the AddressSanitizer
#   runtime, so the targets are built with --sanitizer address; if that
#   build fails, the script falls back to --sanitizer none (panics and
#   failed assertions are still caught; memory errors in unsafe code are
#   not). FUZZ_SANITIZER=none|address forces one.
# - The build is cargo-fuzz's default: optimized, with debug assertions
#   and overflow checks on.
# - fuzz/ is a crate and a workspace of its own (fuzz/Cargo.toml), so the
#   top-level cargo build/test/clippy never build it.
# - Each target runs on fuzz/corpus/TARGET: the committed seed-* files
#   plus whatever libFuzzer adds there (ignored by git, kept between runs
#   so later runs start where earlier ones stopped).
# - By default libFuzzer runs in fork mode with -ignore_crashes=1, so a
#   crash does not end the run: every crashing input is saved and the
#   fuzzer goes on for the whole time. FUZZ_FORK=0 stops at the first
#   crash instead.
# - At the end it prints, per target: runs executed, coverage (cov: code
#   edges reached, ft: libFuzzer's finer features), corpus size, and each
#   crash of this run with its panic message and reproducer path. The
#   full libFuzzer log is in fuzz/logs/TARGET.log. Exit code 1 if any
#   target crashed.
#
# Reproducing a crash (a file fuzz/artifacts/TARGET/crash-SHA1):
#
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-SHA1
#
# runs that one input and shows the panic and backtrace (add
# --sanitizer none if the run used it); `cargo fuzz tmin TARGET FILE`
# (same environment) shrinks it. The built binary takes the file too:
# fuzz/target/x86_64-unknown-linux-gnu/release/TARGET FILE.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
    exit 2
fi
read -r -a targets <<<"${FUZZ_TARGETS:-request_head chunked script_headers whole_request fastcgi}"
fork=${FUZZ_FORK:-1}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz
fi

sanitizer=${FUZZ_SANITIZER:-}
if [ -z "$sanitizer" ]; then
    if cargo fuzz build --sanitizer address >&2; then
        sanitizer=address
    else
        echo "fuzz: the AddressSanitizer build failed; building with --sanitizer none" >&2
        sanitizer=none
    fi
fi
cargo fuzz build --sanitizer "$sanitizer" >&2
triple=$(rustc -vV | sed -n 's/^host: //p')
bindir=fuzz/target/$triple/release

mkdir -p fuzz/logs
started=$(mktemp)
trap 'rm -f "$started"' EXIT

# The first line saying why an input crashed the target.
crash_reason() {
    "$bindir/$1" "$2" 2>&1 |
        grep -m1 -A1 -E 'panicked at|ERROR: (AddressSanitizer|libFuzzer)' |
        tr '\n' ' ' | sed 's/  */ /g' | cut -c1-300 || true
}

summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log=fuzz/logs/$t.log
    args=(-max_total_time="$seconds" -print_final_stats=1)
    if [ "$fork" = 1 ]; then
        args+=(-fork=1 -ignore_crashes=1)
    fi
    echo "fuzz: $t for ${seconds}s (sanitizer $sanitizer, log $log)" >&2
    rc=0
    cargo fuzz run --sanitizer "$sanitizer" "$t" "fuzz/corpus/$t" -- "${args[@]}" >"$log" 2>&1 || rc=$?

    # Runs and coverage: fork mode prints "#RUNS: cov: N ft: N corp: N ...",
    # the plain mode "#RUNS <event> cov: N ft: N corp: N/size ...".
    last=$(grep -E '^#[0-9]+:? ' "$log" | grep 'cov:' | tail -1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
    cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)
    ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | cut -d' ' -f2 || true)
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    mapfile -t crashes < <(find "fuzz/artifacts/$t" -type f -newer "$started" | sort)
    line=$(printf '%-15s runs %-10s cov %-5s ft %-6s corpus %-6s crashes %s' \
        "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "${#crashes[@]}")
    if [ "${#crashes[@]}" -gt 0 ]; then
        failed=1
        # One line per distinct place of failure, with one reproducer.
        declare -A seen=()
        for c in "${crashes[@]}"; do
            reason=$(crash_reason "$t" "$c")
            where=$(grep -oE '(panicked at|ERROR: [A-Za-z]+:) [^ ]+' <<<"$reason" | head -1 || true)
            where=${where:-$reason}
            if [ -z "${seen[$where]:-}" ]; then
                seen[$where]=1
                line+=$'\n'"    $c"$'\n'"      $reason"
            else
                seen[$where]=$((seen[$where] + 1))
            fi
        done
        for where in "${!seen[@]}"; do
            line+=$'\n'"    ${seen[$where]} crash(es) ${where}"
        done
        unset seen
    elif [ "$rc" -ne 0 ]; then
        failed=1
        line+=$'\n'"    libFuzzer exited with $rc and left no crash file; see $log"
    fi
    summary+=("$line")
done

echo
echo "fuzz: ${seconds}s per target, sanitizer $sanitizer"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: FAILED (reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer TARGET FILE)"
    exit 1
fi
echo "fuzz: no crash"
