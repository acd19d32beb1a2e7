#!/usr/bin/env bash
# Idle connections: builds rcgi in release, starts it with the usual soft
# open-files limit (1024; rcgi raises its own to the hard limit), opens
# CONNECTIONS silent connections (default 10000) and leaves them open,
# then prints rcgi's resident memory (VmRSS, and VmHWM its peak), its
# threads and descriptors before and with them, and the time of normal
# requests (GET of a compiled-free shell hello, new connection each)
# made meanwhile. Needs a hard open-files limit above CONNECTIONS + 100
# (the client holds its ends of every connection).
#
#   scripts/idle.sh                 # 10000 connections
#   CONNECTIONS=2000 scripts/idle.sh
#
# Everything is cleaned up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=${CONNECTIONS:-10000}
requests=${REQUESTS:-20}
need=$((connections + 256))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    echo "idle.sh: the hard open-files limit ($hard) is below $need" >&2
    exit 1
fi
ulimit -Sn "$need"

cargo build --release --quiet
dir=$(mktemp -d)
rcgi_pid=
cleanup() {
    [ -n "$rcgi_pid" ] && kill "$rcgi_pid" 2>/dev/null && wait "$rcgi_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

mkdir "$dir/cgi-bin"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nhello\\n"\n' >"$dir/cgi-bin/hello.sh"
chmod 755 "$dir/cgi-bin/hello.sh"
# rcgi starts with the usual soft limit, as a login shell gives it.
(ulimit -Sn 1024; exec target/release/rcgi --root "$dir/cgi-bin" --bind 127.0.0.1 --port 0 \
    --max-connections $((connections + 64)) --idle-timeout 10m --user "$(id -un)" \
    2>"$dir/rcgi.log" >/dev/null) &
rcgi_pid=$!
for _ in $(seq 100); do
    grep -q 'listening on' "$dir/rcgi.log" 2>/dev/null && break
    sleep 0.1
done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\)\/.*/\1/p' "$dir/rcgi.log" | head -1)
grep 'RLIMIT_NOFILE' "$dir/rcgi.log" | sed 's/^[^ ]* [^ ]* //' || true
python3 scripts/idle/hold.py "$rcgi_pid" "$port" "$connections" "$requests"
