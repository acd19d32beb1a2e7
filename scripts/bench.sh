#!/usr/bin/env bash
# Benchmark of rcgi against the spawn ceiling and the usual CGI hosts: Go's
# net/http/cgi, lighttpd, Apache, and nginx in front of fcgiwrap; and nginx
# in front of rcgi's own FastCGI listener.
#
#     scripts/bench.sh                    # 3 runs of 10 s per measurement
#     RUNS=1 DURATION=3 scripts/bench.sh  # a quick look
#     BASELINE=REV scripts/bench.sh --ab  # rcgi at REV against the current tree
#
# For people, not for CI. On a fresh Debian machine it installs what it
# needs (wrk, lighttpd, apache2, nginx, fcgiwrap, golang-go, curl, python3,
# gcc), builds rcgi and the helpers, runs everything on 127.0.0.1 only,
# prints one table and writes it as Markdown to ./bench-results.md. What
# it measures:
#
#   spawn ceiling   examples/spawn_ceiling.rs starting each hello directly
#                   in a loop (1 and 2 threads): the rate no fork-per-request
#                   host can pass on this machine.
#   hello rate      wrk, keep-alive, 1, 8 and 64 connections, for a compiled
#                   hello (scripts/bench/hello.c) and a #!/bin/sh hello,
#                   against rcgi and its peers:
#                     Go       net/http/cgi (scripts/bench/gocgi.go, built
#                              here with Debian's golang-go, standard
#                              library only)
#                     lighttpd mod_cgi
#                     Apache   event MPM + mod_cgid
#                     nginx+fcgiwrap -cN  nginx (fastcgi_pass to a Unix
#                              socket) in front of fcgiwrap with N workers,
#                              N = the connections of the row (its best),
#                     nginx+fcgiwrap -c1  and with its default of 1 worker.
#                     nginx+rcgi FastCGI  the same nginx server block in
#                              front of rcgi --fastcgi (a Unix socket).
#                   Runs are interleaved (each run goes through every
#                   concurrency, script and host in turn) so that drift
#                   hits all hosts alike; the table has medians. Its ratio
#                   columns are /ceiling, /Go (a host's rate over Go's) and
#                   /best peer (rcgi's rate over the fastest other host's,
#                   named in the note); with five peers these two replace
#                   the /lighttpd and /Apache columns of earlier versions.
#                   Below the table, the FastCGI targets: nginx+rcgi over
#                   nginx+fcgiwrap at its best worker count (at least 1.2
#                   at 8 and 64 connections) and over rcgi's own HTTP
#                   front end (at least 0.8 at 8 connections).
#   streaming       how long a first body line takes from the script's
#                   write to the client while the script keeps running
#                   (scripts/bench/stamp.c + first_line.py), every host
#                   (nginx+fcgiwrap with 1 worker: one request at a time).
#   500 slow        500 connections on a script that sleeps 1 s (ideal:
#                   500 requests/s) for SLOW_DURATION s, every host in turn:
#                   completed requests, errors, the worst of 5 hello
#                   requests timed during it, and the host's peak memory
#                   (sums of RSS and of Pss over its own processes, sampled
#                   by scripts/bench/rss_tree.py). nginx+fcgiwrap runs it with
#                   64 fcgiwrap workers: a worker per connection (500
#                   preforked processes) is not how anyone runs it, and 64
#                   is the most the hello runs use; so it can run at most
#                   64 scripts at once, and the others wait in its queue.
#   bulk            1 GiB download (with and without Content-Length) and
#                   1 GiB upload (Content-Length, chunked spooled, chunked
#                   streamed with --chunked stream) through rcgi with
#                   curl, RUNS times each, a fresh rcgi per transfer: MB/s
#                   and rcgi's peak RSS; and the same chunked upload
#                   through Apache (mod_cgid streams it to the script),
#                   the rate the two chunked modes are held to.
#   idle RSS        rcgi's resident memory after start and after the hello
#                   runs.
#
# With --ab it measures only two builds of rcgi against each other, to
# check that a change keeps the hello rate: it builds BASELINE (a git
# revision, HEAD if unset) in release in a temporary git worktree, and
# the current tree as it is (uncommitted changes included), then runs wrk
# against both on the compiled hello at 1, 8 and 64 connections, RUNS
# times, interleaved (the order of the two alternates from run to run),
# and prints the medians, current/baseline per connection count, and the
# median, lowest and highest ratio of a single run's pair: the spread a
# claimed difference has to beat. Defaults there: 5 runs of 5 s, about 3 minutes
# with the build; the table also goes to ./bench-ab.md.
#
# Environment: RUNS (3; 5 with --ab), DURATION (seconds per wrk run and
# ceiling run, 10; 5 with --ab), STREAM_SAMPLES (200), SLOW_DURATION
# (seconds of the 500-connection run, 15), BASELINE (--ab only, HEAD).
# A default run takes about 25 minutes.
# Progress goes to stderr, the table to stdout. Every server, file and
# folder it creates is removed on exit, including on Ctrl-C.
set -euo pipefail

FULL_RUNS=3      # runs of each measurement, by default ...
FULL_DURATION=10 # ... of this many seconds
AB_RUNS=5        # the same with --ab
AB_DURATION=5
RUNS=${RUNS:-}         # set in main, by mode
DURATION=${DURATION:-}
BASELINE=${BASELINE:-HEAD}
STREAM_SAMPLES=${STREAM_SAMPLES:-200}
SLOW_DURATION=${SLOW_DURATION:-15}
CONNS=(1 8 64)            # wrk connections of the hello runs
PEERS=(go lighttpd apache) # other hosts; nginx+fcgiwrap comes per connection count
HELLOS=(hello hello.sh)    # file names in the served folder
GIB=1073741824
WRK_TIMEOUT=5            # seconds: wrk counts a slower hello request as an error
WAIT_TRIES=100           # polls of WAIT_TICK while waiting for a server to start ...
WAIT_TICK=0.1            # ... (10 s)
STOP_TRIES=150           # polls of WAIT_TICK after SIGTERM before SIGKILL (15 s)
KEEPALIVE_IDLE=15        # seconds a host keeps an idle connection (rcgi's default)
KEEPALIVE_REQUESTS=1000000 # requests nginx serves on a connection (its default, 1000, would
                           # make wrk reconnect, which the other hosts never ask for)
APACHE_THREADS=64        # Apache ThreadsPerChild ...
APACHE_SERVERS=16        # ... and ServerLimit: 1024 workers, twice the slow run's
                         # connections, all started at once and kept: a child of the
                         # event MPM with more connections than it has threads closes
                         # keep-alive ones (wrk counts the request it sent on one as a
                         # read error), which it does at every ramp from 2 children
NGINX_WORKERS=1          # nginx worker_processes: see start_nginx
NGINX_CONNECTIONS=4096   # nginx worker_connections: clients plus fcgiwrap sockets
SLOW_CONNS=500           # wrk connections of the slow run
SLOW_FCGI_WORKERS=64     # fcgiwrap -c in the slow run (see the header)
SLOW_TIMEOUT=20          # seconds: wrk's timeout in the slow run, above the ~8 s a request
                         # waits behind fcgiwrap's 64 workers (500 / 64 seconds), so
                         # that waiting shows as latency and errors are real failures
SLOW_PROBES=5            # hello requests timed during a slow run ...
SLOW_PROBE_DELAY=2       # ... the first this many seconds after wrk starts, then one a second
PROBE_MAX_TIME=30        # seconds curl waits for one of them
SLOW_SETTLE=2            # seconds after a slow run for the scripts in flight (1 s) to end
RSS_INTERVAL=0.25        # seconds between two RSS samples during a slow run
BUSY_SAMPLE=2            # seconds over which other work's share of the CPUs is measured ...
BUSY_WARN=20             # ... and the share, in percent, above which the runs are called noisy

start_dir=$PWD
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results_md="$start_dir/bench-results.md"

WORK=""      # temporary folder: configs, scripts, logs, the upload file
PIDS=()      # every background process started, stopped on exit
declare -A URL # host -> base URL of the served folder, ending in /
# host -> name in the table; nginx+fcgiwrap hosts (fcgiN) are added by start_nginx
declare -A LABEL=([rcgi]=rcgi [bulk]=rcgi [go]=Go [lighttpd]=lighttpd [apache]=Apache
    [nrcgi]="nginx+rcgi FastCGI")
declare -A VAL      # measurement key -> space-separated values, one per run
declare -A HOST_PID # host -> pids of its server processes, space-separated
FCGI_COUNTS=()      # fcgiwrap worker counts started (one nginx server each)
FCGI_TARGET=1.2     # nginx+rcgi FastCGI over nginx+fcgiwrap -cN, at least, at 8 and 64 connections
HTTP_TARGET=0.8     # nginx+rcgi FastCGI over rcgi's HTTP front end, at least, at 8 connections
ROUND=()            # hosts of one hello round, set by round_hosts
STREAM_HOSTS=()     # hosts of the streaming measurement, set in main
SLOW_HOSTS=()       # hosts of the slow run, set in main
RCGI_STARTS=0       # rcgi instances started so far
ADDED_POLICY=""     # the policy-rc.d put in place during the install, if any
AB_TREE=""          # --ab: the temporary git worktree of the baseline, removed on exit
declare -A RCGI_BIN_OF # rcgi host -> its binary (--ab: base and new), else RCGI_BIN

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench.sh: error: $*"
    exit 1
}

# ---------------------------------------------------------------- setup --

# Installs the tools it needs when missing. apt must not start system-wide
# lighttpd, Apache, nginx or fcgiwrap services (they would listen on port
# 80 of every address, or on a system socket), so a policy-rc.d refusing
# service starts is put in place for the install if the machine has none.
# The arguments are commands; cc, go, lighttpd and apache2 stand for
# their Debian packages (the last two checked as packages: Apache's
# modules are needed, not only its binary).
install_tools() {
    local missing=() tool
    for tool in "$@"; do
        case $tool in
        cc) command -v cc >/dev/null || missing+=(gcc libc6-dev) ;;
        go) command -v go >/dev/null || missing+=(golang-go) ;;
        lighttpd | apache2) dpkg -s "$tool" >/dev/null 2>&1 || missing+=("$tool") ;;
        *) command -v "$tool" >/dev/null || missing+=("$tool") ;;
        esac
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}; run as root or install them"
    log "== installing ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        ADDED_POLICY=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$ADDED_POLICY"
        chmod 755 "$ADDED_POLICY"
    fi
    local status=0
    {
        apt-get install -y -q --no-install-recommends "${missing[@]}" ||
            { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
    } </dev/null >&2 || status=$?
    if [ -n "$ADDED_POLICY" ]; then rm -f "$ADDED_POLICY" && ADDED_POLICY=""; fi
    [ "$status" -eq 0 ] || die "apt-get install failed"
}
export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/sbin:/sbin" # lighttpd, apache2, nginx and fcgiwrap live in /usr/sbin

# Writes a #!/bin/sh script, its body read from stdin, to $1.
write_sh() {
    { echo '#!/bin/sh'; cat; } >"$1"
}

# Cargo's target folder of the workspace in $1.
target_dir() {
    (cd "$1" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
}

# Builds rcgi and the spawn ceiling (release), the two C programs, and
# fills $WORK/cgi-bin with every script the hosts serve.
build_all() {
    command -v cargo >/dev/null || die "cargo not found (install Rust from https://rustup.rs)"
    log "== building rcgi and examples/spawn_ceiling (release)"
    (cd "$repo" && cargo build --release --quiet && cargo build --release --quiet --example spawn_ceiling)
    local target
    target=$(target_dir "$repo")
    RCGI_BIN=$target/release/rcgi
    CEILING_BIN=$target/release/examples/spawn_ceiling
    if [ ! -x "$RCGI_BIN" ] || [ ! -x "$CEILING_BIN" ]; then die "build output not found under $target"; fi

    build_hello
    local bin=$WORK/cgi-bin
    cc -O2 -o "$bin/stamp" "$repo/scripts/bench/stamp.c"
    cp "$repo/cgi-bin/hello.sh" "$bin/hello.sh"
    # Bulk download: 1 GiB of zeros, framed by the host (chunked) ...
    # Written in 1 MiB blocks: a writer of 4 KiB blocks (head -c) spends
    # more time in its own write calls than the host does moving them.
    write_sh "$bin/down.sh" <<EOF
printf 'Content-Type: application/octet-stream\n\n'
exec dd if=/dev/zero bs=1M count=1024 status=none
EOF
    # ... or with the script's own Content-Length.
    write_sh "$bin/down-cl.sh" <<EOF
printf 'Content-Type: application/octet-stream\nContent-Length: $GIB\n\n'
exec dd if=/dev/zero bs=1M count=1024 status=none
EOF
    # Bulk upload: reads the whole body, discards it, answers its length.
    write_sh "$bin/discard.sh" <<'EOF'
n=$(wc -c)
printf 'Content-Type: text/plain\n\n%s\n' "$n"
EOF
    # Many slow requests: one second of nothing, then a short answer.
    write_sh "$bin/sleep1.sh" <<'EOF'
sleep 1
printf 'Content-Type: text/plain\n\nslept\n'
EOF
    chmod 755 "$bin"/*
}

# The compiled hello in $WORK/cgi-bin, and the body it answers.
build_hello() {
    local bin=$WORK/cgi-bin
    mkdir -p "$bin"
    # Static, as the reference figures were taken: a dynamic hello spends
    # most of its start in the loader, which hides what the host costs.
    cc -O2 -static -o "$bin/hello" "$repo/scripts/bench/hello.c" 2>/dev/null ||
        cc -O2 -o "$bin/hello" "$repo/scripts/bench/hello.c"
    printf 'Hello, world!\n' >"$WORK/hello.expected"
}

# --ab: builds rcgi at commit $1 in release in a temporary git worktree
# (its own target folder in $WORK), and the current tree; sets
# RCGI_BIN_OF[base] and RCGI_BIN_OF[new].
build_ab() {
    local commit=$1
    command -v cargo >/dev/null || die "cargo not found (install Rust from https://rustup.rs)"
    log "== building rcgi at ${commit:0:12} (baseline, release) in a temporary worktree"
    AB_TREE=$WORK/baseline # set first: an interrupted add is cleaned up too
    git -C "$repo" worktree add --detach --quiet "$AB_TREE" "$commit" >&2
    (cd "$AB_TREE" && CARGO_TARGET_DIR=$WORK/baseline-target cargo build --release --quiet --bin rcgi)
    RCGI_BIN_OF[base]=$WORK/baseline-target/release/rcgi
    log "== building rcgi from the current tree (release)"
    (cd "$repo" && cargo build --release --quiet --bin rcgi)
    RCGI_BIN_OF[new]=$(target_dir "$repo")/release/rcgi
    local host
    for host in base new; do
        [ -x "${RCGI_BIN_OF[$host]}" ] || die "build output ${RCGI_BIN_OF[$host]} not found"
    done
}

# Builds the Go peer with the standard library only, offline: no module
# proxy, none of the user's Go settings, the build cache in $WORK.
build_go() {
    log "== building scripts/bench/gocgi.go with $(go version | awk '{ print $3 }')"
    GO_BIN=$WORK/gocgi
    (cd "$WORK" && HOME=$WORK GOENV=off GOFLAGS="" GOPROXY=off GOTOOLCHAIN=local \
        GOCACHE=$WORK/go-cache GOPATH=$WORK/go-path \
        go build -trimpath -o "$GO_BIN" "$repo/scripts/bench/gocgi.go")
}

# ---------------------------------------------------------- processes --

# Remembers a background process we started, to stop it on exit.
started() { PIDS+=("$1"); }

# Forgets a process once reaped: its pid may soon belong to another one.
forget() {
    local i
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[i]}" = "$1" ] && unset 'PIDS[i]'
    done
    PIDS=("${PIDS[@]}")
}

# Stops one process we started: SIGTERM, then SIGKILL after 15 s; reaps
# it. "-PID" stands for the process group PID leads (fcgiwrap's): the
# whole group gets the signals, and it waits for the group to be gone.
stop_pid() {
    local id=$1 i
    kill -TERM -- "$id" 2>/dev/null || true
    for ((i = 0; i < STOP_TRIES; i++)); do
        kill -0 -- "$id" 2>/dev/null || break
        sleep "$WAIT_TICK"
    done
    kill -KILL -- "$id" 2>/dev/null || true
    wait "${id#-}" 2>/dev/null || true
    forget "$id"
}

# Runs a command in the background and waits for it. Bash does not run
# its INT trap when a foreground child (wrk) handles Ctrl-C itself and
# exits normally; an interrupted `wait` does, so Ctrl-C stops the script.
run_waited() {
    "$@" &
    local pid=$!
    started "$pid"
    local status=0
    wait "$pid" || status=$?
    forget "$pid"
    return "$status"
}

# Fails loudly if a server died (a measurement without it means nothing).
alive() {
    local pids pid
    read -ra pids <<<"${HOST_PID[$1]}"
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "${LABEL[$1]} is no longer running (pid $pid)"
    done
}

# On any exit (end, error, Ctrl-C): stop every server and background job,
# newest first, and remove the temporary folder.
cleanup() {
    local status=$? i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[i]}"
    done 2>/dev/null
    if [ -n "$AB_TREE" ]; then
        git -C "$repo" worktree remove --force "$AB_TREE" 2>/dev/null || true
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
    # A worktree whose folder is gone (an interrupted add, a failed remove).
    if [ -n "$AB_TREE" ]; then git -C "$repo" worktree prune 2>/dev/null || true; fi
    [ -n "$ADDED_POLICY" ] && rm -f "$ADDED_POLICY"
    exit "$status"
}

# A free TCP port on 127.0.0.1, for the hosts that cannot take port 0.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
    local port=$1 name=$2 pid=$3 i
    for ((i = 0; i < WAIT_TRIES; i++)); do
        kill -0 "$pid" 2>/dev/null || die "$name exited at start"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep "$WAIT_TICK"
    done
    die "$name does not listen on 127.0.0.1:$port"
}

# Starts rcgi as host $1 (rcgi, bulk; base and new with --ab) on a port
# of its own choosing; sets RCGI_PID, HOST_PID[$1] and URL[$1]. Its access
# log (stdout) and error log (stderr) go to files, as a server's would.
# TMPDIR keeps its chunked-body spool in $WORK. Arguments after the
# second (a name for its logs) are passed to rcgi.
start_rcgi() {
    local host=$1 line="" i
    RCGI_STARTS=$((RCGI_STARTS + 1))
    # A new log per start, created before it, so no stale start-up line is read.
    local logs="$WORK/rcgi-$RCGI_STARTS-$2"
    : >"$logs.error.log"
    local bin=${RCGI_BIN_OF[$host]:-$RCGI_BIN} user=()
    # Started as root, an rcgi that knows --user would run as nobody, who
    # cannot reach $WORK (mode 0700): keep root, as a baseline without
    # --user does.
    if [ "$(id -u)" = 0 ] && "$bin" --help | grep -q -- '--user'; then user=(--user root); fi
    TMPDIR=$WORK "$bin" --root "$WORK/cgi-bin" --bind 127.0.0.1 --port 0 "${user[@]}" \
        "${@:3}" >"$logs.access.log" 2>"$logs.error.log" &
    RCGI_PID=$!
    started "$RCGI_PID"
    HOST_PID[$host]=$RCGI_PID
    for ((i = 0; i < WAIT_TRIES; i++)); do
        line=$(grep -m1 -E '(^| )rcgi listening on ' "$logs.error.log" || true)
        [ -n "$line" ] && break
        kill -0 "$RCGI_PID" 2>/dev/null || die "rcgi exited: $(cat "$logs.error.log")"
        sleep "$WAIT_TICK"
    done
    [ -n "$line" ] || die "rcgi printed no start-up line"
    URL[$host]=$(sed -E 's#^(.* )?rcgi listening on (http://[^ ]*/).*#\2#' <<<"$line")
    [[ ${URL[$host]} == http://127.0.0.1:* ]] || die "unexpected start-up line: $line"
}

# lighttpd with mod_cgi: every file under /cgi-bin/ runs as a program
# (an empty cgi.assign handler). Keep-alive made as long-lived as rcgi's,
# and script output streamed to the client as it comes.
start_lighttpd() {
    local dir=$WORK/lighttpd port
    port=$(free_port)
    mkdir -p "$dir/htdocs"
    cat >"$dir/lighttpd.conf" <<EOF
server.bind                    = "127.0.0.1"
server.port                    = $port
server.document-root           = "$dir/htdocs"
server.pid-file                = "$dir/lighttpd.pid"
server.errorlog                = "$dir/error.log"
server.modules                 = ("mod_alias", "mod_cgi", "mod_accesslog")
accesslog.filename             = "$dir/access.log"
server.max-connections         = 1024
server.max-fds                 = 4096
server.max-keep-alive-requests = 65535
server.max-keep-alive-idle     = $KEEPALIVE_IDLE
server.stream-response-body    = 1
alias.url                      = ("/cgi-bin/" => "$WORK/cgi-bin/")
\$HTTP["url"] =~ "^/cgi-bin/" {
    cgi.assign                 = ("" => "")
}
EOF
    lighttpd -tt -f "$dir/lighttpd.conf" >&2 || die "lighttpd rejects its configuration"
    lighttpd -D -f "$dir/lighttpd.conf" >"$dir/stdout.log" 2>&1 &
    HOST_PID[lighttpd]=$!
    started "$!"
    wait_port "$port" lighttpd "$!"
    URL[lighttpd]="http://127.0.0.1:$port/cgi-bin/"
}

# Apache httpd with the event MPM and mod_cgid (mod_cgi needs the prefork
# MPM; with threaded MPMs Apache runs CGI through mod_cgid's fork daemon).
# A configuration of our own, not Debian's: only the modules it needs,
# and all its workers started at once (see APACHE_SERVERS).
# Apache refuses to serve as root, so it runs as www-data.
start_apache() {
    local dir=$WORK/apache port mods=/usr/lib/apache2/modules
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/httpd.conf" <<EOF
ServerRoot          "$dir"
ServerName          127.0.0.1
Listen              127.0.0.1:$port
PidFile             "$dir/httpd.pid"
DefaultRuntimeDir   "$dir"
ErrorLog            "$dir/error.log"
LogLevel            warn
LoadModule mpm_event_module  $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule alias_module      $mods/mod_alias.so
LoadModule cgid_module       $mods/mod_cgid.so
User                www-data
Group               www-data
ScriptSock          "$dir/cgid.sock"
StartServers        $APACHE_SERVERS
MaxSpareThreads     $((APACHE_SERVERS * APACHE_THREADS))
ServerLimit         $APACHE_SERVERS
ThreadsPerChild     $APACHE_THREADS
MaxRequestWorkers   $((APACHE_SERVERS * APACHE_THREADS))
KeepAlive           On
KeepAliveTimeout    $KEEPALIVE_IDLE
MaxKeepAliveRequests 0
LogFormat           "%h %l %u %t \"%r\" %>s %b %D" bench
CustomLog           "$dir/access.log" bench
ScriptAlias         /cgi-bin/ "$WORK/cgi-bin/"
<Directory />
    Require all denied
</Directory>
<Directory "$WORK/cgi-bin">
    Require all granted
</Directory>
EOF
    apache2 -t -d "$dir" -f "$dir/httpd.conf" >&2 || die "Apache rejects its configuration"
    apache2 -d "$dir" -f "$dir/httpd.conf" -DFOREGROUND >"$dir/stdout.log" 2>&1 &
    HOST_PID[apache]=$!
    started "$!"
    wait_port "$port" Apache "$!"
    URL[apache]="http://127.0.0.1:$port/cgi-bin/"
}

# Go's net/http/cgi (scripts/bench/gocgi.go, built by build_go): every
# file under /cgi-bin/ runs as a program. Its access lines and the
# scripts' stderr go to a file.
start_go() {
    local dir=$WORK/go port
    port=$(free_port)
    mkdir -p "$dir"
    "$GO_BIN" -root "$WORK/cgi-bin" -port "$port" >"$dir/stdout.log" 2>"$dir/error.log" &
    HOST_PID[go]=$!
    started "$!"
    wait_port "$port" Go "$!"
    URL[go]="http://127.0.0.1:$port/cgi-bin/"
}

# Starts fcgiwrap with $1 workers on a Unix socket of its own, $2, as an
# ordinary process in a process group of its own (setsid: its preforked
# workers outlive a parent stopped alone, so it is stopped as a group).
# It runs as root, like rcgi and lighttpd here; nginx's workers (nobody)
# may use its socket. Sets FCGI_PID.
start_fcgiwrap() {
    local workers=$1 sock=$2 i
    rm -f "$sock" # fcgiwrap leaves its socket behind, and will not bind over one
    setsid fcgiwrap -s "unix:$sock" -c "$workers" >"$sock.log" 2>&1 &
    FCGI_PID=$!
    started "-$FCGI_PID"
    for ((i = 0; i < WAIT_TRIES; i++)); do
        [ -S "$sock" ] && break
        kill -0 "$FCGI_PID" 2>/dev/null || die "fcgiwrap -c $workers exited: $(cat "$sock.log")"
        sleep "$WAIT_TICK"
    done
    [ -S "$sock" ] || die "fcgiwrap -c $workers made no socket $sock"
    # setsid runs fcgiwrap itself unless it had to fork (then the group is not ours to name).
    [ "$(ps -o pgid= -p "$FCGI_PID" | tr -d ' ')" = "$FCGI_PID" ] ||
        die "fcgiwrap -c $workers does not lead its own process group"
    chmod 666 "$sock"
}

# nginx in front of fcgiwrap: one fcgiwrap per worker count ($@), and one
# nginx with one server (port) per fcgiwrap, so every host keeps the
# /cgi-bin/NAME layout; host fcgiN is the one with N workers. nginx runs
# in the foreground (daemon off) with its configuration, logs, pid and
# temporary folders in $WORK, Debian's stock fastcgi_params plus
# SCRIPT_FILENAME, and its response buffering left on (its default):
# fcgiwrap holds a script's output until its own buffer fills or the
# script ends, so turning nginx's off changes neither the hello rates nor
# the streaming delay (measured). worker_processes 1: auto (2 on this
# 2-core machine) gave fcgiwrap the same rates within the noise at 8 and
# 64 connections (1742-1757 against 1733-1742 req/s, and 1680-1726
# against 1681-1690), and one worker leaves more of the other core to
# fcgiwrap and its scripts.
start_nginx() {
    local dir=$WORK/nginx n sock servers="" pids=() rcgi_port
    local -A port
    mkdir -p "$dir/htdocs" "$dir/tmp"
    for n in "$@"; do
        sock=$dir/fcgiwrap-$n.sock
        start_fcgiwrap "$n" "$sock"
        pids[n]=$FCGI_PID
        port[$n]=$(free_port)
        servers+=$(nginx_server "${port[$n]}" "$sock")
    done
    start_rcgi_fastcgi "$dir/rcgi.sock"
    rcgi_port=$(free_port)
    servers+=$(nginx_server "$rcgi_port" "$dir/rcgi.sock")
    cat >"$dir/nginx.conf" <<EOF
daemon           off;
master_process   on;
worker_processes $NGINX_WORKERS;
pid              $dir/nginx.pid;
error_log        $dir/error.log warn;
events {
    worker_connections $NGINX_CONNECTIONS;
}
http {
    access_log            $dir/access.log;
    root                  $dir/htdocs;
    keepalive_timeout     $KEEPALIVE_IDLE;
    keepalive_requests    $KEEPALIVE_REQUESTS;
    client_body_temp_path $dir/tmp/body;
    fastcgi_temp_path     $dir/tmp/fastcgi;
    proxy_temp_path       $dir/tmp/proxy;
    scgi_temp_path        $dir/tmp/scgi;
    uwsgi_temp_path       $dir/tmp/uwsgi;
$servers
}
EOF
    local args=(-p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf")
    nginx -t -q "${args[@]}" >&2 || die "nginx rejects its configuration"
    nginx "${args[@]}" >"$dir/stdout.log" 2>&1 &
    local nginx_pid=$!
    started "$nginx_pid"
    for n in "$@"; do
        wait_port "${port[$n]}" nginx "$nginx_pid"
        URL[fcgi$n]="http://127.0.0.1:${port[$n]}/cgi-bin/"
        HOST_PID[fcgi$n]="$nginx_pid ${pids[n]}"
        LABEL[fcgi$n]="nginx+fcgiwrap -c$n"
        FCGI_COUNTS+=("$n")
    done
    wait_port "$rcgi_port" nginx "$nginx_pid"
    URL[nrcgi]="http://127.0.0.1:$rcgi_port/cgi-bin/"
    HOST_PID[nrcgi]="$nginx_pid $FCGI_RCGI_PID"
}

# One nginx server block on port $1 passing /cgi-bin/ to the FastCGI
# socket $2: the same for fcgiwrap and for rcgi.
nginx_server() {
    cat <<EOF

    server {
        listen 127.0.0.1:$1;
        location /cgi-bin/ {
            include       /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $WORK\$fastcgi_script_name;
            fastcgi_pass  unix:$2;
        }
    }
EOF
}

# Starts rcgi's FastCGI listener on the Unix socket $1 (mode 0666, for
# nginx's workers), serving the same folder as the HTTP rcgi; sets
# FCGI_RCGI_PID.
start_rcgi_fastcgi() {
    local sock=$1 i logs="$WORK/rcgi-fastcgi"
    : >"$logs.error.log"
    TMPDIR=$WORK "$RCGI_BIN" --root "$WORK/cgi-bin" --fastcgi "unix:$sock" --socket-mode 0666 \
        >"$logs.access.log" 2>"$logs.error.log" &
    FCGI_RCGI_PID=$!
    started "$FCGI_RCGI_PID"
    for ((i = 0; i < WAIT_TRIES; i++)); do
        grep -q ' rcgi listening on fastcgi ' "$logs.error.log" && [ -S "$sock" ] && return
        kill -0 "$FCGI_RCGI_PID" 2>/dev/null || die "rcgi --fastcgi exited: $(cat "$logs.error.log")"
        sleep "$WAIT_TICK"
    done
    die "rcgi --fastcgi made no socket $sock: $(cat "$logs.error.log")"
}

# Fails loudly unless $host answers 200 with exactly "Hello, world!\n"
# for $script, and keeps the connection open between two requests.
check_hello() {
    local host=$1 script=$2 url="${URL[$1]}$2" got connects
    got=$(curl -sS -o "$WORK/check.body" -w '%{http_code}' "$url") ||
        die "${LABEL[$host]}: $url: curl failed"
    [ "$got" = 200 ] || die "${LABEL[$host]}: $url answered $got: $(head -c 300 "$WORK/check.body")"
    cmp -s "$WORK/check.body" "$WORK/hello.expected" ||
        die "${LABEL[$host]}: $url: wrong body: $(head -c 300 "$WORK/check.body")"
    connects=$(curl -sS -o /dev/null -o /dev/null -w '%{num_connects}' "$url" "$url")
    [ "$connects" = 10 ] || die "${LABEL[$host]}: $url does not keep the connection alive"
}

# VmRSS or VmHWM of a process, in MiB.
mem_mib() {
    awk -v field="$2:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# ------------------------------------------------------------ numbers --

add() { VAL[$1]="${VAL[$1]:-}${VAL[$1]:+ }$2"; }

# Median of the numbers given as arguments, "-" (a failed run) left out;
# "-" if none is left.
median() {
    printf '%s\n' "$@" | awk 'NF && $1 != "-"' | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "-"
        else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

sum() { printf '%s\n' "$@" | awk 'NF { s += $1 } END { print s + 0 }'; }

# The same over the values recorded under a key (none yet: "-", or 0);
# the values are split into arguments on purpose.
# shellcheck disable=SC2086
{
    med() { median ${VAL[$1]:-}; }
    total() { sum ${VAL[$1]:-}; }
    peak() { maxof ${VAL[$1]:-}; }
}
maxof() { printf '%s\n' "$@" | awk 'NF && (n++ == 0 || $1 > m) { m = $1 } END { print n ? m : "-" }'; }
minof() { printf '%s\n' "$@" | awk 'NF && (n++ == 0 || $1 < m) { m = $1 } END { print n ? m : "-" }'; }

# ratio_of A B: A / B unrounded, "-" when either is missing or B is 0.
ratio_of() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else print a / b }'
}

# num PRINTF-FORMAT VALUE: formats a number, passes "-" through.
num() { awk -v v="$2" -v f="$1" 'BEGIN { if (v == "-") print "-"; else printf f "\n", v }'; }

# ratio A B: A / B with two decimals, "-" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

# greater A B: whether number A is greater than B; "-" is less than anything.
greater() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && (b == "-" || a + 0 > b + 0)) }'
}

# Reads a wrk --latency report on stdin; prints "rps p50_us p99_us errors
# requests" where errors counts socket errors (connect, read, write,
# timeout) and non-2xx/3xx responses, and requests those completed.
parse_wrk() {
    awk '
    function us(t) {
        if (t ~ /us$/) return t + 0
        if (t ~ /ms$/) return t * 1000
        if (t ~ /m$/) return t * 60e6
        if (t ~ /s$/) return t * 1e6
        return t + 0
    }
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { requests = $1 }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    END {
        if (rps == "") { print "- - - 1 -"; exit }
        printf "%s %.0f %.0f %d %d\n", rps, p50, p99, errors, requests
    }'
}

# ------------------------------------------------------- measurements --

# Logs wrk's lines about errors (report on stdin) when $1, their count, is not 0.
log_wrk_errors() {
    [ "$1" = 0 ] && return 0
    local lines
    lines=$(grep -E 'Socket errors|Non-2xx' || true)
    log "   errors: ${lines//$'\n'/; }"
}

# The spawn ceiling for one script and thread count, one run.
measure_ceiling() {
    local script=$1 threads=$2 out rate
    out=$("$CEILING_BIN" --threads "$threads" --seconds "$DURATION" "$WORK/cgi-bin/$script") ||
        die "spawn_ceiling failed for $script"
    rate=$(awk '{ print $(NF - 1) }' <<<"$out")
    add "ceil|$script|$threads" "$rate"
    log "   ceiling  $script, $threads thread(s): $rate starts/s"
}

# One wrk run: keep-alive, $conns connections, --latency.
measure_wrk() {
    local host=$1 script=$2 conns=$3 threads=$(($3 < 2 ? $3 : 2)) out
    alive "$host"
    run_waited wrk -t "$threads" -c "$conns" -d "${DURATION}s" --timeout "${WRK_TIMEOUT}s" --latency \
        "${URL[$host]}$script" >"$WORK/wrk.out" 2>&1 || true
    out=$(cat "$WORK/wrk.out")
    local rps p50 p99 errors
    read -r rps p50 p99 errors _ < <(parse_wrk <<<"$out")
    [ "$rps" = - ] && log "   wrk failed against ${LABEL[$host]}: $out"
    log_wrk_errors "$errors" <<<"$out"
    local key="$host|$script|$conns"
    add "rps|$key" "$rps"
    add "p50|$key" "$p50"
    add "p99|$key" "$p99"
    add "err|$key" "$errors"
    log "   $(printf '%-19s %-9s c=%-3s %8s req/s  p50 %7s us  p99 %7s us  errors %s' \
        "${LABEL[$host]}" "$script" "$conns" "$rps" "$p50" "$p99" "$errors")"
}

# Sets ROUND to the hosts measured at $1 connections, in order: rcgi, the
# peers, nginx+rcgi FastCGI, nginx+fcgiwrap with a worker per connection
# and with 1 worker (the same host at 1 connection, measured once).
round_hosts() {
    ROUND=(rcgi "${PEERS[@]}" nrcgi "fcgi$1")
    [ "$1" -eq 1 ] || ROUND+=(fcgi1)
}

# The interleaved hello runs: in each run, the ceilings, then for each
# concurrency and script every host in turn.
hello_runs() {
    local run conns script host threads
    for ((run = 1; run <= RUNS; run++)); do
        log "== run $run of $RUNS"
        for script in "${HELLOS[@]}"; do
            for threads in 1 2; do measure_ceiling "$script" "$threads"; done
        done
        for conns in "${CONNS[@]}"; do
            round_hosts "$conns"
            for script in "${HELLOS[@]}"; do
                for host in "${ROUND[@]}"; do measure_wrk "$host" "$script" "$conns"; done
            done
        done
    done
}

# Streaming latency: first body line of stamp, $STREAM_SAMPLES requests.
measure_streaming() {
    local host=$1 out
    alive "$host"
    out=$(python3 "$repo/scripts/bench/first_line.py" "${URL[$host]}stamp" "$STREAM_SAMPLES") ||
        die "streaming latency client failed against ${LABEL[$host]}"
    # "samples N median_us X p99_us Y failures F"
    VAL[stream|$host]=$out
    log "   ${LABEL[$host]}: $out"
}

# SLOW_CONNS connections on sleep1.sh for SLOW_DURATION seconds against
# one host, SLOW_PROBES hello requests timed with curl meanwhile (the
# worst one is kept), and the host's peak memory: the largest sums of
# VmRSS and of Pss over its own processes (rss_tree.py, every
# RSS_INTERVAL s). wrk counts
# the requests completed within the window, so each connection loses the
# round it has in flight at the end (a fifteenth of the ideal over 15 s).
measure_slow() {
    local host=$1 out="$WORK/slow-$1.wrk" rss="$WORK/slow-$1.rss" pids pid sampler i t worst=0 code
    alive "$host"
    read -ra pids <<<"${HOST_PID[$host]}"
    python3 "$repo/scripts/bench/rss_tree.py" "$RSS_INTERVAL" "${pids[@]}" >"$rss" &
    sampler=$!
    started "$sampler"
    wrk -t 2 -c "$SLOW_CONNS" -d "${SLOW_DURATION}s" --timeout "${SLOW_TIMEOUT}s" --latency \
        "${URL[$host]}sleep1.sh" >"$out" 2>&1 &
    pid=$!
    started "$pid"
    sleep "$SLOW_PROBE_DELAY"
    for ((i = 0; i < SLOW_PROBES; i++)); do
        kill -0 "$pid" 2>/dev/null || break # the window is over
        read -r code t < <(curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' \
            --max-time "$PROBE_MAX_TIME" "${URL[$host]}hello" || echo "000 $PROBE_MAX_TIME")
        [ "$code" = 200 ] || log "   hello during the slow run answered $code"
        worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
        sleep 1
    done
    wait "$pid" || true
    forget "$pid"
    kill -TERM "$sampler" 2>/dev/null || true
    wait "$sampler" || true
    forget "$sampler"
    local rps p50 p99 errors requests peak pss
    read -r rps p50 p99 errors requests < <(parse_wrk <"$out")
    read -r peak pss < <(awk '$1 == "peak_mib" { print $2, $4 }' "$rss")
    log_wrk_errors "$errors" <"$out"
    VAL[slow|$host]="$rps $p50 $p99 $errors $requests ${peak:--} ${pss:--} $(awk -v t="$worst" 'BEGIN { printf "%.1f", t * 1000 }')"
    log "   $(printf '%-19s' "${LABEL[$host]}") $requests requests, $rps req/s (ideal $SLOW_CONNS)," \
        "p50 $p50 us, p99 $p99 us, errors $errors, worst hello ${worst}s, peak RSS ${peak:--} MiB, Pss ${pss:--} MiB"
    sleep "$SLOW_SETTLE"
}

# One bulk transfer through a fresh rcgi: records MB/s (10^6 bytes per
# second, 1 GiB over curl's total time) and rcgi's peak RSS (VmHWM).
# apache-up-chunked: the same chunked upload through the running Apache,
# the peer the chunked upload targets compare with.
measure_bulk() {
    local kind=$1 url out code size secs body="" errors=0 rate=- base
    case $kind in
    up-stream) start_rcgi bulk "bulk-$kind" --chunked stream ;;
    apache-up-chunked) ;;
    *) start_rcgi bulk "bulk-$kind" ;;
    esac
    base=${URL[bulk]}
    [ "$kind" = apache-up-chunked ] && base=${URL[apache]}
    # A failed transfer must not find the body of the one before.
    rm -f "$WORK/bulk.body"
    case $kind in
    down-chunked | down-length)
        url="${URL[bulk]}$([ "$kind" = down-length ] && echo down-cl.sh || echo down.sh)"
        out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "$url") || true
        ;;
    up-length)
        out=$(curl -sS -o "$WORK/bulk.body" -w '%{http_code} %{size_upload} %{time_total}' \
            -X POST -H 'Expect:' -H 'Content-Type: application/octet-stream' \
            -T "$WORK/upload.bin" "${URL[bulk]}discard.sh") || true
        body=$(cat "$WORK/bulk.body" 2>/dev/null || true)
        ;;
    up-chunked | up-stream | apache-up-chunked)
        out=$(dd if=/dev/zero bs=1M count=1024 status=none | curl -sS -o "$WORK/bulk.body" \
            -w '%{http_code} %{size_upload} %{time_total}' \
            -X POST -H 'Expect:' -H 'Transfer-Encoding: chunked' \
            -H 'Content-Type: application/octet-stream' -T - "${base}discard.sh") || true
        body=$(cat "$WORK/bulk.body" 2>/dev/null || true)
        ;;
    esac
    # Downloads: curl got exactly 1 GiB. Uploads: the script counted
    # exactly 1 GiB (curl's upload size includes the chunk framing).
    read -r code size secs <<<"${out:-000 0 0}"
    local ok=""
    case $kind in
    up-* | apache-up-*) [ "$body" = "$GIB" ] && ok=1 ;;
    *) [ "$size" = "$GIB" ] && ok=1 ;;
    esac
    if [ "$code" = 200 ] && [ -n "$ok" ]; then
        rate=$(awk -v b="$GIB" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0) ? b / s / 1e6 : 0 }')
        add "bulk|$kind" "$rate"
    else
        log "   $kind failed: status $code, $size bytes sent or received, the script counted '$body'"
        errors=1
    fi
    add "bulkerr|$kind" "$errors"
    if [ "$kind" = apache-up-chunked ]; then
        log "   $kind: $rate MB/s"
        return
    fi
    add "hwm|$kind" "$(mem_mib "$RCGI_PID" VmHWM)"
    stop_pid "$RCGI_PID"
    log "   $kind: $rate MB/s, rcgi peak RSS ${VAL[hwm|$kind]##* } MiB"
}

# -------------------------------------------------------------- report --

ROWS=() # tab-separated table rows, the header first

row() {
    local IFS=$'\t'
    ROWS+=("$*")
}

# Builds the one table from the recorded values.
build_table() {
    row "test" "host" "script" "conns" "rate" "unit" "p50 us" "p99 us" "/ceiling" "/Go" \
        "/best peer" "RSS MiB" "errors" "note"
    local script threads conns host name rps ceil go best best_rps
    for script in "${HELLOS[@]}"; do
        name=$([ "$script" = hello ] && echo "hello (C)" || echo "$script")
        ceil=$(med "ceil|$script|2")
        for threads in 1 2; do
            local c
            c=$(med "ceil|$script|$threads")
            row "spawn ceiling" "-" "$name" "$threads thr" "$(num %.0f "$c")" "starts/s" - - \
                "$(ratio "$c" "$ceil")" - - - 0 ""
        done
        for conns in "${CONNS[@]}"; do
            round_hosts "$conns"
            go=$(med "rps|go|$script|$conns")
            best="" best_rps=-
            for host in "${ROUND[@]}"; do
                [ "$host" = rcgi ] || [ "$host" = nrcgi ] && continue
                rps=$(med "rps|$host|$script|$conns")
                if greater "$rps" "$best_rps"; then best=$host best_rps=$rps; fi
            done
            for host in "${ROUND[@]}"; do
                local key="$host|$script|$conns" vs_go=- vs_best=- note=""
                rps=$(med "rps|$key")
                [ "$host" = go ] || vs_go=$(ratio "$rps" "$go")
                if [ "$host" = rcgi ] && [ -n "$best" ]; then
                    vs_best=$(ratio "$rps" "$best_rps")
                    note="best peer: ${LABEL[$best]}"
                fi
                row "hello rate" "${LABEL[$host]}" "$name" "$conns" "$(num %.0f "$rps")" "req/s" \
                    "$(num %.0f "$(med "p50|$key")")" "$(num %.0f "$(med "p99|$key")")" \
                    "$(ratio "$rps" "$ceil")" "$vs_go" "$vs_best" - "$(total "err|$key")" "$note"
            done
        done
    done
    local kind test file note
    for kind in down-length down-chunked up-length up-chunked up-stream; do
        case $kind in
        down-length) test="download 1 GiB" file=down-cl.sh note="script sends Content-Length" ;;
        down-chunked) test="download 1 GiB" file=down.sh note="no Content-Length: chunked" ;;
        up-length) test="upload 1 GiB" file=discard.sh note="Content-Length" ;;
        up-chunked) test="upload 1 GiB" file=discard.sh note="chunked (rcgi spools it)" ;;
        up-stream) test="upload 1 GiB" file=discard.sh note="chunked, --chunked stream" ;;
        esac
        row "$test" rcgi "$file" 1 "$(num %.0f "$(med "bulk|$kind")")" "MB/s" - - - - - \
            "$(peak "hwm|$kind")" "$(total "bulkerr|$kind")" "$note; peak RSS"
    done
    row "upload 1 GiB" Apache discard.sh 1 "$(num %.0f "$(med "bulk|apache-up-chunked")")" "MB/s" \
        - - - - - - "$(total "bulkerr|apache-up-chunked")" "chunked, mod_cgid streams it to the script"
    row "idle" rcgi - - - - - - - - - "$IDLE_START" - "RSS right after start"
    row "idle" rcgi - - - - - - - - - "$IDLE_AFTER" - "RSS after the hello runs"
    for host in "${STREAM_HOSTS[@]}"; do
        local n med p99 fails
        read -r _ n _ med _ p99 _ fails <<<"${VAL[stream|$host]}"
        row "streaming 1st line" "${LABEL[$host]}" "stamp (C)" 1 - - "$med" "$p99" - - - - "$fails" \
            "$n requests"
    done
    for host in "${SLOW_HOSTS[@]}"; do
        local rps p50 p99 errors requests peak pss worst
        read -r rps p50 p99 errors requests peak pss worst <<<"${VAL[slow|$host]}"
        row "$SLOW_CONNS slow requests" "${LABEL[$host]}" "sleep1.sh" "$SLOW_CONNS" "$(num %.0f "$rps")" \
            "req/s" "$p50" "$p99" - - - "$peak" "$errors" \
            "$requests done in $SLOW_DURATION s; Pss $pss MiB; slowest hello meanwhile: $worst ms"
    done
}

# The FastCGI targets, one line each: nginx+rcgi's hello rate over
# nginx+fcgiwrap's with a worker per connection (8 and 64), and over
# rcgi's HTTP front end (8), with the target and whether it is met.
target_lines() {
    local script conns r
    for script in "${HELLOS[@]}"; do
        for conns in 8 64; do
            r=$(ratio "$(med "rps|nrcgi|$script|$conns")" "$(med "rps|fcgi$conns|$script|$conns")")
            target_line "$r" "$FCGI_TARGET" "nginx+rcgi FastCGI / nginx+fcgiwrap -c$conns, $script, $conns conns"
        done
        r=$(ratio "$(med "rps|nrcgi|$script|8")" "$(med "rps|rcgi|$script|8")")
        target_line "$r" "$HTTP_TARGET" "nginx+rcgi FastCGI / rcgi HTTP, $script, 8 conns"
    done
    local kind
    for kind in up-chunked up-stream; do
        r=$(ratio "$(med "bulk|$kind")" "$(med "bulk|apache-up-chunked")")
        target_line "$r" 1 "rcgi chunked upload ($kind) / Apache's, 1 GiB"
    done
}

# target_line RATIO TARGET TEXT
target_line() {
    local verdict=missed
    [ "$1" = - ] && verdict="not measured"
    awk -v r="$1" -v t="$2" 'BEGIN { exit !(r != "-" && r + 0 >= t + 0) }' && verdict=met
    echo "$3: $1 (target at least $2: $verdict)"
}

# Prints the rows as aligned plain text.
print_plain() {
    printf '%s\n' "${ROWS[@]}" | awk -F '\t' '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
        END {
            for (r = 1; r <= NR; r++) {
                line = ""
                for (i = 1; i <= n; i++) line = line sprintf("%-" w[i] "s  ", cell[r, i])
                sub(/ +$/, "", line); print line
                if (r == 1) { line = ""; for (i = 1; i <= n; i++) { s = sprintf("%" w[i] "s", ""); gsub(/ /, "-", s); line = line s "  " } sub(/ +$/, "", line); print line }
            }
        }'
}

# Prints the rows as a Markdown table.
print_markdown() {
    printf '%s\n' "${ROWS[@]}" | awk -F '\t' '
        { line = "|"; for (i = 1; i <= NF; i++) line = line " " $i " |"; print line
          if (NR == 1) { line = "|"; for (i = 1; i <= NF; i++) line = line " --- |"; print line } }'
}

# The threads of process $1.
threads_of() {
    awk '/^Threads:/ { print $2 }' "/proc/$1/status"
}

# "N-core machine (CPU model)": rates differ between kinds of CPU (a
# run on an AMD EPYC VM started programs 1.7 times as fast as one on an
# Intel one), so every table says which it was measured on.
machine() {
    local model
    model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    printf '%s-core machine (%s)' "$(nproc)" "${model:-CPU unknown}"
}

# How busy the CPUs are over BUSY_SAMPLE seconds, in percent, while this
# script runs nothing: the share other work takes (the load average would
# count our own builds and runs too).
cpu_busy() {
    local before after
    before=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep "$BUSY_SAMPLE"
    after=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    awk -v a="$before" -v b="$after" 'BEGIN { split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; all = busy + y[2] - x[2]; printf "%.0f", all ? 100 * busy / all : 0 }'
}

# Notes how busy the machine is just before the runs, and warns when other
# work takes much of it: every figure then drifts with that work.
note_busy() {
    BUSY_START=$(cpu_busy)
    if [ "$BUSY_START" -gt "$BUSY_WARN" ]; then
        log "   warning: the CPUs are ${BUSY_START}% busy with other work before the runs: expect noise"
    fi
}

# What was measured, with versions.
hosts_line() {
    local rcgi lighttpd apache go nginx fcgiwrap wrk_version
    rcgi=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
    go=$(go version | awk '{ print $3 }')
    lighttpd=$(lighttpd -v 2>&1 | awk 'NR == 1 { print $1 }')
    apache=$(apache2 -v 2>&1 | sed -n 's/^Server version: //p')
    nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')
    fcgiwrap=$({ fcgiwrap -h 2>&1 || true; } | awk '/^fcgiwrap version/ { print $3 }')
    wrk_version=$({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $2 }')
    echo "Hosts: rcgi $rcgi; Go $go net/http/cgi; $lighttpd with mod_cgi; $apache with the event" \
        "MPM and mod_cgid (mod_cgi needs prefork); $nginx (1 worker process) with fcgiwrap" \
        "$fcgiwrap, and with rcgi --fastcgi. Client: wrk $wrk_version. All on 127.0.0.1, access logs to files."
}

legend() {
    cat <<EOF
spawn ceiling: examples/spawn_ceiling.rs starting the script directly (posix_spawn, pipes, read, reap), no HTTP.
hello rate: wrk with keep-alive (1 wrk thread for 1 connection, else 2), runs interleaved across hosts.
rate: median of $RUNS runs of $DURATION s. p50 us, p99 us: medians of wrk's latency percentiles, microseconds.
/ceiling: rate divided by the 2-thread spawn ceiling of the same script; the ceiling loop has at most 2 starts
in flight, so a host overlapping more (8, 64 connections) can pass 1. /Go: the rate divided by Go's for the
same script and connections. /best peer: rcgi's rate divided by the fastest other host's (named in the note).
nginx+fcgiwrap -cN: fcgiwrap with N worker processes (one per connection at 8 and 64, its default of 1 at -c1).
nginx+rcgi FastCGI: the same nginx server block in front of rcgi --fastcgi on a Unix socket (not a peer in /best peer).
errors: non-2xx responses and socket errors, all runs.
download, upload: curl through a fresh rcgi per transfer, 1 GiB over curl's total time, median of $RUNS;
MB = 10^6 bytes; RSS: rcgi's highest peak (VmHWM) of those runs. idle: rcgi's VmRSS. MiB = 2^20 bytes.
streaming 1st line: from the script's clock_gettime just before it writes its first body line to the client's
read of that line, while the script keeps running 50 ms more; median and p99 of the requests, microseconds.
About 50000 means the host sent the line only when the script ended (Go's net/http/cgi, fcgiwrap).
$SLOW_CONNS slow requests: wrk -c $SLOW_CONNS for $SLOW_DURATION s on a script sleeping 1 s (ideal $SLOW_CONNS req/s, less the round in
flight at the end), timeout ${SLOW_TIMEOUT} s; the slowest of $SLOW_PROBES hello requests made with curl during it. RSS: the
largest sum of VmRSS over the host's own processes (not the scripts), sampled every $RSS_INTERVAL s, where pages shared
between processes (libraries, a forked child's copy-on-write pages before its exec) count once per process; Pss: the
same sum with each shared page split between its sharers, the memory the host really holds. nginx+fcgiwrap with
$SLOW_FCGI_WORKERS fcgiwrap workers: at most $SLOW_FCGI_WORKERS scripts at once.
EOF
}

# ------------------------------------------------------------------ A/B --

# The interleaved A/B runs: in each run, every connection count, both
# builds, the baseline first in odd runs and the current tree first in
# even ones, so that neither always has the warmer or the cooler slot.
ab_runs() {
    local run conns host order
    for ((run = 1; run <= RUNS; run++)); do
        log "== run $run of $RUNS"
        order=(base new)
        ((run % 2)) || order=(new base)
        for conns in "${CONNS[@]}"; do
            for host in "${order[@]}"; do measure_wrk "$host" hello "$conns"; done
        done
    done
}

# The A/B table: medians of both and their ratio, then the ratio of each
# run's pair (measured a few seconds apart, so slow drift cancels in it):
# their median, lowest and highest.
build_ab_table() {
    row "conns" "baseline req/s" "current req/s" "current/baseline" "run ratios: median" "lowest" \
        "highest" "baseline p99 us" "current p99 us" "errors"
    local conns base new ratios
    for conns in "${CONNS[@]}"; do
        base=$(med "rps|base|hello|$conns")
        new=$(med "rps|new|hello|$conns")
        # shellcheck disable=SC2086 # the values of each run, one argument each
        mapfile -t ratios < <(paste -d ' ' <(printf '%s\n' ${VAL[rps|base|hello|$conns]}) \
            <(printf '%s\n' ${VAL[rps|new|hello|$conns]}) |
            awk '$1 != "-" && $2 != "-" && $1 > 0 { printf "%.6f\n", $2 / $1 }')
        row "$conns" "$(num %.0f "$base")" "$(num %.0f "$new")" \
            "$(num %.3f "$(ratio_of "$new" "$base")")" "$(num %.3f "$(median "${ratios[@]}")")" \
            "$(num %.3f "$(minof "${ratios[@]}")")" "$(num %.3f "$(maxof "${ratios[@]}")")" \
            "$(num %.0f "$(med "p99|base|hello|$conns")")" "$(num %.0f "$(med "p99|new|hello|$conns")")" \
            "$(($(total "err|base|hello|$conns") + $(total "err|new|hello|$conns")))"
    done
}

ab_legend() {
    cat <<EOF
wrk with keep-alive (1 wrk thread for 1 connection, else 2) on the compiled hello (static), $RUNS runs of
$DURATION s per build and connection count, the two builds interleaved (order alternating between runs).
req/s, p99 us: medians. current/baseline: ratio of the medians. run ratios: current over baseline within
each run (the two measured seconds apart), their median, lowest and highest: a difference inside that spread
is noise. Other work on the machine (its share of the CPUs is in the title) widens it.
errors: non-2xx responses and socket errors, all runs, both builds.
EOF
}

# --ab: two builds of rcgi, hello only.
main_ab() {
    install_tools wrk curl python3 cc
    local commit
    commit=$(git -C "$repo" rev-parse --verify --quiet "$BASELINE^{commit}") ||
        die "BASELINE=$BASELINE is not a commit of $repo"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rcgi-bench.XXXXXX")
    build_ab "$commit"
    build_hello
    LABEL[base]="baseline" LABEL[new]="current"
    log "== starting both builds of rcgi on 127.0.0.1"
    local host
    for host in base new; do
        start_rcgi "$host" "ab-$host"
        check_hello "$host" hello
        log "   ${LABEL[$host]}: ${URL[$host]} answers hello, keep-alive"
    done
    note_busy
    ab_runs

    local title about
    title="rcgi A/B, $(date -u '+%Y-%m-%d %H:%M UTC'), $(machine), medians of $RUNS runs"
    title+=", CPUs ${BUSY_START}% busy with other work before the runs, $(cpu_busy)% after"
    about="Baseline: $BASELINE = $(git -C "$repo" log -1 --format='%h %s' "$commit")."
    about+=" Current: the tree at $(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)."
    about+=" Client: wrk $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $2 }'), all on 127.0.0.1."
    build_ab_table
    {
        printf '%s\n%s\n\n' "$title" "$about"
        print_plain
        printf '\n'
        ab_legend
        printf '\nTook %d s in all (builds included).\n' "$SECONDS"
    }
    {
        printf '%s\n\n%s\n\n' "$title" "$about"
        print_markdown
        printf '\n'
        ab_legend
    } >"$start_dir/bench-ab.md"
    log "Markdown written to $start_dir/bench-ab.md"
}

# ---------------------------------------------------------------- main --

main() {
    local mode=full
    case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        return 0
        ;;
    --ab) mode=ab ;;
    "") ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    [ $# -le 1 ] || die "one argument at most (see --help)"
    if [ "$mode" = ab ]; then
        RUNS=${RUNS:-$AB_RUNS} DURATION=${DURATION:-$AB_DURATION}
    else
        RUNS=${RUNS:-$FULL_RUNS} DURATION=${DURATION:-$FULL_DURATION}
    fi
    local var
    for var in RUNS DURATION STREAM_SAMPLES SLOW_DURATION; do
        [[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer, not '${!var}'"
    done
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

    if [ "$mode" = ab ]; then
        main_ab
        return
    fi
    install_tools wrk curl python3 cc go nginx fcgiwrap lighttpd apache2
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/rcgi-bench.XXXXXX")
    chmod 755 "$WORK" # Apache's scripts run as www-data
    build_all
    build_go

    log "== starting rcgi, Go, lighttpd, Apache, nginx+fcgiwrap and nginx+rcgi FastCGI on 127.0.0.1"
    start_rcgi rcgi hello
    local rcgi_pid=$RCGI_PID
    IDLE_START=$(mem_mib "$rcgi_pid" VmRSS)
    local idle_threads
    idle_threads=$(threads_of "$rcgi_pid")
    start_go
    start_lighttpd
    start_apache
    # fcgiwrap with 1 worker, with as many as the connections of each run,
    # and with SLOW_FCGI_WORKERS.
    local counts
    mapfile -t counts < <(printf '%s\n' 1 "${CONNS[@]}" "$SLOW_FCGI_WORKERS" | sort -nu)
    start_nginx "${counts[@]}"
    STREAM_HOSTS=(rcgi "${PEERS[@]}" nrcgi fcgi1)
    SLOW_HOSTS=(rcgi "${PEERS[@]}" nrcgi "fcgi$SLOW_FCGI_WORKERS")
    local host script
    for host in rcgi "${PEERS[@]}" nrcgi "${FCGI_COUNTS[@]/#/fcgi}"; do
        for script in "${HELLOS[@]}"; do check_hello "$host" "$script"; done
        log "   ${LABEL[$host]}: ${URL[$host]} answers hello and hello.sh, keep-alive"
    done

    note_busy
    hello_runs
    # Idle once the connection threads that served the runs have ended
    # (a thread with nothing to do ends after 1 s).
    local i
    for ((i = 0; i < WAIT_TRIES; i++)); do
        [ "$(threads_of "$rcgi_pid")" -le "$idle_threads" ] && break
        sleep "$WAIT_TICK"
    done
    IDLE_AFTER=$(mem_mib "$rcgi_pid" VmRSS)

    log "== streaming latency, $STREAM_SAMPLES samples per host"
    for host in "${STREAM_HOSTS[@]}"; do measure_streaming "$host"; done

    log "== $SLOW_CONNS connections on a script sleeping 1 s, $SLOW_DURATION s, every host"
    for host in "${SLOW_HOSTS[@]}"; do measure_slow "$host"; done

    log "== bulk transfers through rcgi, a fresh rcgi each, $RUNS runs"
    truncate -s "$GIB" "$WORK/upload.bin"
    # Read once, so that no upload pays for filling the page cache with it
    # (2.8 s on the first read here, 0.16 s after: a first Content-Length
    # upload measured 285 MB/s, the next ones 1.5-1.8 GB/s).
    cat "$WORK/upload.bin" >/dev/null
    local run kind
    for ((run = 1; run <= RUNS; run++)); do
        for kind in down-length down-chunked up-length up-chunked up-stream apache-up-chunked; do
            measure_bulk "$kind"
        done
    done

    local title
    title="rcgi benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(machine), medians of $RUNS runs"
    title+=", CPUs ${BUSY_START}% busy with other work before the runs, $(cpu_busy)% after"
    build_table
    {
        printf '%s\n%s\n\n' "$title" "$(hosts_line)"
        print_plain
        printf '\n'
        target_lines
        printf '\n'
        legend
        printf '\nTook %d s in all (build included).\n' "$SECONDS"
    }
    {
        printf '%s\n\n%s\n\n' "$title" "$(hosts_line)"
        print_markdown
        printf '\n'
        target_lines | sed 's/^/- /'
        printf '\n'
        legend
    } >"$results_md"
    log "Markdown written to $results_md"
}

main "$@"
