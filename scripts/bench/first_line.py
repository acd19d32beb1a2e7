#!/usr/bin/env python3
"""Streaming latency client for scripts/bench.sh.

    first_line.py URL SAMPLES

Requests URL (a script like stamp.c that writes a first body line holding
CLOCK_REALTIME in nanoseconds, then keeps running) SAMPLES times, one
request at a time on a fresh connection, and for each one takes the time
the first body line arrives minus the time stamped in it: how long a line
the script wrote takes to reach the client while the script is still
running. Prints one line:

    samples N median_us X p99_us Y failures F

Standard library only; plain HTTP/1.1 over loopback, chunked or not.
"""

import math
import socket
import statistics
import sys
import time
import urllib.parse


class BadResponse(Exception):
    pass


def first_body_line(buf):
    """The first body line of the response in buf, or None if incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    status = head[0].split(" ")
    if len(status) < 2 or status[1] != "200":
        raise BadResponse(head[0])
    chunked = any(
        line.lower().startswith("transfer-encoding:") and "chunked" in line.lower()
        for line in head[1:]
    )
    rest = buf[end + 4 :]
    if not chunked:
        body = rest
    else:
        body = b""
        while True:
            size_end = rest.find(b"\r\n")
            if size_end < 0:
                break
            size = int(rest[:size_end].split(b";")[0], 16)
            data = rest[size_end + 2 : size_end + 2 + size]
            body += data
            if size == 0 or len(data) < size:
                break
            rest = rest[size_end + 2 + size + 2 :]
    newline = body.find(b"\n")
    return None if newline < 0 else body[:newline]


def one_sample(host, port, path):
    """Microseconds from the script's stamp to the line's arrival."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("ascii"))
        buf = b""
        while True:
            data = sock.recv(65536)
            arrived = time.time_ns()
            if not data:
                raise BadResponse("connection closed before the first body line")
            buf += data
            line = first_body_line(buf)
            if line is not None:
                break
        while sock.recv(65536):
            pass  # the rest of the response, until the host closes
    return (arrived - int(line)) / 1000


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: first_line.py URL SAMPLES")
    url = urllib.parse.urlsplit(sys.argv[1])
    samples = int(sys.argv[2])
    path = url.path + (f"?{url.query}" if url.query else "")
    delays, failures = [], 0
    for _ in range(samples):
        try:
            delays.append(one_sample(url.hostname, url.port or 80, path))
        except (OSError, ValueError, BadResponse) as err:
            failures += 1
            print(f"first_line.py: {err}", file=sys.stderr)
    if not delays:
        sys.exit("first_line.py: no sample succeeded")
    delays.sort()
    p99 = delays[math.ceil(0.99 * len(delays)) - 1]  # nearest rank
    print(
        f"samples {len(delays)} median_us {statistics.median(delays):.0f} "
        f"p99_us {p99:.0f} failures {failures}"
    )


if __name__ == "__main__":
    main()
