#!/usr/bin/env bash
# scripts/fleet.sh: a fleet of rcgi instances behind HAProxy, restarted
# one after another under load, with no failed request.
#
# It starts INSTANCES rcgi instances (release build) on free ports of
# 127.0.0.1, each with --status /server-status, puts HAProxy in front of
# them with contrib/haproxy.cfg (its ports replaced; it health-checks
# /server-status/health), and drives load through HAProxy with wrk for
# DURATION seconds. Meanwhile it restarts every instance, one after
# another, ROUNDS times. A restart (ORDER=beside, the default) starts the
# new instance beside the old one on the same port (--reuse-port), then
# sends the old one SIGTERM and waits for it to drain and exit 0;
# ORDER=stop-first sends SIGTERM first, waits for the exit, then starts
# the new one (HAProxy sends the requests meanwhile to the others).
#
# It reports wrk's requests and errors, HAProxy's retries and
# redispatches, each instance's exit code, and how the requests spread
# over the instances (from their access logs), then a verdict: it exits
# 0 only if no request failed and every instance exited 0.
#
# Settings (environment): INSTANCES=3 ROUNDS=2 DURATION=30 CONNECTIONS=16
# THREADS=2 ORDER=beside|stop-first SCRIPT=hello|slow (slow sleeps 50 ms,
# so requests are in flight at every restart) PAUSE=1 (seconds between
# restarts) RCGI_BIN (default: target/release/rcgi, built if missing)
# HAPROXY_CFG (default: contrib/haproxy.cfg; its frontend's bind and its
# server lines are replaced).
# Needs haproxy and wrk (Debian packages of those names).
set -euo pipefail
cd "$(dirname "$0")/.."

INSTANCES=${INSTANCES:-3}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-30}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
ORDER=${ORDER:-beside}
SCRIPT=${SCRIPT:-slow}
PAUSE=${PAUSE:-1}
RCGI_BIN=${RCGI_BIN:-target/release/rcgi}
HAPROXY_CFG=${HAPROXY_CFG:-contrib/haproxy.cfg}
STATUS=/server-status

log() { printf 'fleet: %s\n' "$*" >&2; }
die() {
    log "$*"
    exit 1
}

for tool in haproxy wrk python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"
done
case $ORDER in beside | stop-first) ;; *) die "ORDER is beside or stop-first" ;; esac
if [ ! -x "$RCGI_BIN" ]; then
    log "building rcgi (release)"
    cargo build --release -q
fi

WORK=$(mktemp -d /tmp/rcgi-fleet.XXXXXX)
declare -A PIDS # the processes started here and not reaped yet: killed by pid at exit
cleanup() {
    local pid
    for pid in "${!PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$WORK/cgi-bin"
case $SCRIPT in
hello) printf '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\nhello\\n"\n' >"$WORK/cgi-bin/run.sh" ;;
slow) printf '#!/bin/sh\nsleep 0.05\nprintf "Content-Type: text/plain\\n\\nhello\\n"\n' >"$WORK/cgi-bin/run.sh" ;;
*) die "SCRIPT is hello or slow" ;;
esac
chmod +x "$WORK/cgi-bin/run.sh"

# Free ports: INSTANCES for rcgi, one for HAProxy, one for its stats.
read -r -a PORTS <<<"$(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' $((INSTANCES + 2)))"
FRONT=${PORTS[$INSTANCES]}
STATS_PORT=${PORTS[$((INSTANCES + 1))]}

declare -A PID_OF # instance -> pid of its rcgi now
GENERATION=0
# start_instance I: an rcgi on instance I's port; waits for its
# listening line.
start_instance() {
    local i=$1 port=${PORTS[$1]}
    GENERATION=$((GENERATION + 1))
    local base="$WORK/i$i.g$GENERATION"
    "$RCGI_BIN" --root "$WORK/cgi-bin" --listen "127.0.0.1:$port" --reuse-port \
        --status "$STATUS" >"$base.access" 2>"$base.err" &
    local pid=$!
    PIDS[$pid]=1
    echo "$pid" >"$base.pid"
    local tries=0
    until grep -q ' rcgi listening on ' "$base.err"; do
        kill -0 "$pid" 2>/dev/null || die "instance $i did not start: $(cat "$base.err")"
        tries=$((tries + 1))
        [ $tries -lt 500 ] || die "instance $i did not say it listens"
        sleep 0.01
    done
    PID_OF[$i]=$pid
}

# stop_instance PID: SIGTERM, then its exit code once it has drained.
stop_instance() {
    local pid=$1 code=0
    kill -TERM "$pid"
    wait "$pid" || code=$?
    unset "PIDS[$pid]"
    echo "$code" >>"$WORK/exit-codes"
    [ "$code" = 0 ] || log "rcgi $pid exited $code"
}

for ((i = 0; i < INSTANCES; i++)); do start_instance "$i"; done

# HAProxy: contrib/haproxy.cfg with this run's ports and servers, and a
# stats page beside it.
servers=""
for ((i = 0; i < INSTANCES; i++)); do
    servers+="    server rcgi$((i + 1)) 127.0.0.1:${PORTS[$i]}"$'\n'
done
python3 -c '
import re, sys
path, front, servers = sys.argv[1:4]
text = open(path).read()
text = text.replace("bind 127.0.0.1:8080", "bind 127.0.0.1:" + front)
text = re.sub(r"(    server rcgi\d+ 127\.0\.0\.1:\d+\n)+", lambda m: servers, text)
sys.stdout.write(text)' "$HAPROXY_CFG" "$FRONT" "$servers" >"$WORK/haproxy.cfg"
grep -q "bind 127.0.0.1:$FRONT" "$WORK/haproxy.cfg" || die "$HAPROXY_CFG: no frontend bind to replace"
cat >"$WORK/stats.cfg" <<EOF
frontend stats
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /stats
EOF
haproxy -db -f "$WORK/haproxy.cfg" -f "$WORK/stats.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
PIDS[$HAPROXY_PID]=1

# up_servers: how many servers HAProxy has UP now.
up_servers() {
    curl -fsS "http://127.0.0.1:$STATS_PORT/stats;csv" 2>/dev/null |
        awk -F, '$1 == "rcgi" && $2 ~ /^rcgi[0-9]+$/ && $18 ~ /^UP/ { n++ } END { print n + 0 }'
}
tries=0
until [ "$(up_servers)" = "$INSTANCES" ]; do
    kill -0 "$HAPROXY_PID" 2>/dev/null || die "haproxy did not start: $(cat "$WORK/haproxy.log")"
    tries=$((tries + 1))
    [ $tries -lt 500 ] || die "HAProxy never saw all $INSTANCES instances up"
    sleep 0.02
done
log "$INSTANCES instances up behind HAProxy on 127.0.0.1:$FRONT ($ORDER restarts, script $SCRIPT)"

wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    "http://127.0.0.1:$FRONT/cgi-bin/run.sh" >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
PIDS[$WRK_PID]=1
sleep 2

restarts=0
for ((round = 1; round <= ROUNDS; round++)); do
    for ((i = 0; i < INSTANCES; i++)); do
        kill -0 "$WRK_PID" 2>/dev/null || die "wrk ended before the restarts did: raise DURATION"
        old=${PID_OF[$i]}
        if [ "$ORDER" = beside ]; then
            start_instance "$i"
            stop_instance "$old"
        else
            stop_instance "$old"
            start_instance "$i"
        fi
        restarts=$((restarts + 1))
        log "round $round: instance $((i + 1)) restarted (pid $old -> ${PID_OF[$i]})"
        # Let HAProxy see it up again before the next one goes.
        tries=0
        until [ "$(up_servers)" = "$INSTANCES" ]; do
            tries=$((tries + 1))
            [ $tries -lt 500 ] || die "instance $((i + 1)) never came back up"
            sleep 0.02
        done
        sleep "$PAUSE"
    done
done
if ! kill -0 "$WRK_PID" 2>/dev/null; then
    die "wrk ended before the last restart: raise DURATION"
fi
wait "$WRK_PID" || die "wrk failed: $(cat "$WORK/wrk.txt")"
unset "PIDS[$WRK_PID]"
stats=$(curl -fsS "http://127.0.0.1:$STATS_PORT/stats;csv")
for ((i = 0; i < INSTANCES; i++)); do stop_instance "${PID_OF[$i]}"; done

# The figures.
requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$WORK/wrk.txt")
non2xx=${non2xx:-0}
read -r connect_err read_err write_err timeout_err < <(
    awk '/Socket errors/ { gsub(",", ""); print $4, $6, $8, $10 }' "$WORK/wrk.txt"
) || true
socket_errors=$((${connect_err:-0} + ${read_err:-0} + ${write_err:-0} + ${timeout_err:-0}))
failed=$((non2xx + socket_errors))
bad_exits=$(grep -cv '^0$' "$WORK/exit-codes" || true)

echo "rcgi fleet: $INSTANCES instances behind HAProxy $(haproxy -v | awk 'NR == 1 { print $3 }'), $ROUNDS rolling restarts ($restarts instance restarts, $ORDER), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s on $SCRIPT"
grep -E '^ +Latency |requests in|Requests/sec| 50%| 99%' "$WORK/wrk.txt"
echo "requests: $requests  failed: $failed (non-2xx $non2xx, socket errors $socket_errors)"
echo "$stats" | awk -F, '$1 == "rcgi" && $2 ~ /^rcgi[0-9]+$/ {
    printf "haproxy %s: %s sessions, %s retries, %s redispatches, %s connection errors, %s response errors\n", $2, $8, $16, $17, $14, $15 }'
echo "instances' exit codes: $(tr '\n' ' ' <"$WORK/exit-codes")"
for ((i = 0; i < INSTANCES; i++)); do
    served=$(cat "$WORK"/i$i.g*.access | grep -c ' /cgi-bin/run.sh ' || true)
    echo "instance $((i + 1)) (port ${PORTS[$i]}): $served requests over $(ls "$WORK"/i$i.g*.access | wc -l) generations"
done
if [ "$failed" -eq 0 ] && [ "$bad_exits" -eq 0 ] && [ "${requests:-0}" -gt 0 ]; then
    echo "verdict: PASS (0 failed requests through $ROUNDS rolling restarts)"
else
    echo "verdict: FAIL"
    exit 1
fi
