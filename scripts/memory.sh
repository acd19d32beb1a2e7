#!/usr/bin/env bash
# rcgi's resident memory in the three cases issue 13 bounds, each on a
# fresh release rcgi on 127.0.0.1:
#   slow   500 connections (wrk) on a script that sleeps 1 s, for
#          SLOW_DURATION s: completed requests, errors and peak RSS (VmHWM);
#   bulk   a 1 GiB download and a 1 GiB Content-Length upload (curl):
#          peak RSS of each;
#   idle   RSS after a hello run (wrk -c64 for HELLO_DURATION s) once its
#          connections have closed.
# Usage: scripts/memory.sh [RCGI_BINARY]   (default: target/release/rcgi)
# Prints one "case figure" line each. Needs wrk, curl and cc.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$repo/target/release/rcgi}
SLOW_CONNS=${SLOW_CONNS:-500}
SLOW_DURATION=${SLOW_DURATION:-8}
HELLO_CONNS=${HELLO_CONNS:-64}
HELLO_DURATION=${HELLO_DURATION:-5}
CLOSE_TRIES=200 # ticks of 0.05 s to wait for the hello connections and their threads to end
START_TRIES=200 # ticks of 0.05 s to wait for rcgi's start-up line

WORK=$(mktemp -d)
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/cgi-bin"
cat >"$WORK/cgi-bin/sleep1.sh" <<'EOF'
#!/bin/sh
sleep 1
printf 'Content-Type: text/plain\n\nslept\n'
EOF
cat >"$WORK/cgi-bin/down.sh" <<'EOF'
#!/bin/sh
printf 'Content-Type: application/octet-stream\nContent-Length: 1073741824\n\n'
exec dd if=/dev/zero bs=1M count=1024 status=none
EOF
cat >"$WORK/cgi-bin/discard.sh" <<'EOF'
#!/bin/sh
n=$(wc -c)
printf 'Content-Type: text/plain\n\n%s\n' "$n"
EOF
cc -O2 -static -o "$WORK/cgi-bin/hello" "$repo/scripts/bench/hello.c"
chmod 755 "$WORK/cgi-bin"/*

mib() { awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

start() {
    local i
    : >"$WORK/err.log"
    user=()
    if [ "$(id -u)" = 0 ] && "$BIN" --help | grep -q -- '--user'; then user=(--user root); fi
    TMPDIR=$WORK "$BIN" --root "$WORK/cgi-bin" --bind 127.0.0.1 --port 0 "${user[@]}" "$@" \
        >/dev/null 2>"$WORK/err.log" &
    PID=$!
    for ((i = 0; i < START_TRIES; i++)); do
        URL=$(sed -nE 's#^(.* )?rcgi listening on (http://127\.0\.0\.1:[0-9]+/[^ ]*).*#\2#p' "$WORK/err.log" | head -1)
        [ -n "$URL" ] && return
        sleep 0.05
    done
    echo "rcgi did not start: $(cat "$WORK/err.log")" >&2
    exit 1
}

stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

# Connections rcgi holds established now.
conns() { ls -l "/proc/$PID/fd" 2>/dev/null | grep -c socket || true; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$PID/status"; }

start
echo "start_rss_mib $(mib "$PID" VmRSS)"
out=$(wrk -t2 -c"$SLOW_CONNS" -d"${SLOW_DURATION}s" --timeout 20s "${URL}sleep1.sh")
done_n=$(awk '/requests in/ { print $1 }' <<<"$out")
errs=$(awk '/Socket errors|Non-2xx/ { print }' <<<"$out" | tr '\n' ' ')
echo "slow_requests $done_n"
echo "slow_errors ${errs:-none}"
echo "slow_peak_mib $(mib "$PID" VmHWM)"
stop

start
curl -sS -o /dev/null "${URL}down.sh"
echo "down_peak_mib $(mib "$PID" VmHWM)"
stop

start
head -c 1073741824 /dev/zero >"$WORK/up.bin"
got=$(curl -sS -X POST -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    -T "$WORK/up.bin" "${URL}discard.sh")
rm -f "$WORK/up.bin"
echo "up_counted $got"
echo "up_peak_mib $(mib "$PID" VmHWM)"
stop

start
resting=$(threads)
wrk -t2 -c"$HELLO_CONNS" -d"${HELLO_DURATION}s" "${URL}hello" >/dev/null
# Idle: the connections closed, and the threads that served them ended
# (one with nothing to do ends after 1 s).
for ((i = 0; i < CLOSE_TRIES; i++)); do
    [ "$(conns)" -le 2 ] && [ "$(threads)" -le "$resting" ] && break
    sleep 0.05
done
echo "hello_peak_mib $(mib "$PID" VmHWM)"
echo "idle_after_hello_mib $(mib "$PID" VmRSS)"
stop
