#!/usr/bin/env bash
# Makes docs/inspector.png and docs/inspector-request.png, the README's
# pictures of the request inspector: rcgi --debug serves the examples of
# cgi-bin/ (and a script that fails), a few requests are made, and
# headless Chromium (Debian: apt-get install chromium) takes screenshots
# of /.rcgi/ and of one request's page. Everything runs on 127.0.0.1 and
# is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "needs chromium: apt-get install chromium" >&2; exit 1; }
cargo build --release -q
work=$(mktemp -d)
pid=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cp -r cgi-bin "$work/cgi-bin"
printf '#!/bin/sh\necho "DBI connect failed: access denied for user www" >&2\nexit 2\n' >"$work/cgi-bin/report.sh"
chmod +x "$work/cgi-bin/report.sh"
(cd "$work" && exec "$OLDPWD/target/release/rcgi" --debug --port 0 >/dev/null 2>"$work/err") &
pid=$!
for _ in $(seq 100); do
    grep -q 'rcgi listening on' "$work/err" 2>/dev/null && break
    sleep 0.1
done
base=$(sed -n 's|^.*rcgi listening on \(http://[^/]*\)/.*|\1|p' "$work/err" | head -1)
[ -n "$base" ] || { cat "$work/err" >&2; exit 1; }

curl -s -o /dev/null "$base/cgi-bin/"
curl -s -o /dev/null "$base/cgi-bin/hello.sh"
curl -s -o /dev/null "$base/cgi-bin/env.sh/any/path?x=1"
curl -s -o /dev/null -d 'name=Ada' "$base/cgi-bin/form.py"
curl -s -o /dev/null "$base/cgi-bin/hello.pl?name=you"
curl -s -o /dev/null "$base/cgi-bin/report.sh?month=11"
curl -s -o /dev/null "$base/cgi-bin/missing.cgi"
last=$(curl -s "$base/.rcgi/rows" | sed -n 's|.*<a href="\([0-9]*\)">/cgi-bin/report.sh.*|\1|p' | head -1)

shoot() { # shoot FILE SIZE URL
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --no-proxy-server \
        --hide-scrollbars --user-data-dir="$work/profile" --virtual-time-budget=1500 \
        --window-size="$2" --screenshot="$1" "$3" 2>/dev/null
}
shoot docs/inspector.png 1100,420 "$base/.rcgi/"
shoot docs/inspector-request.png 1100,900 "$base/.rcgi/$last"
ls -l docs/inspector.png docs/inspector-request.png
