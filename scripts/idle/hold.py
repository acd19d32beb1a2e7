#!/usr/bin/env python3
"""Holds N silent connections to rcgi and times normal requests meanwhile.

hold.py PID PORT N REQUESTS: prints rcgi's VmRSS, VmHWM, threads and
descriptors before the connections, once rcgi holds all of them, and
the times of REQUESTS GET /cgi-bin/hello.sh on new connections."""

import os
import socket
import statistics
import sys
import time


def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def figures(pid):
    s = status(pid)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return f"VmRSS {s['VmRSS']}, VmHWM {s['VmHWM']}, threads {s['Threads']}, descriptors {fds}"


def timed_get(port):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    elapsed = time.monotonic() - start
    if not data.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {data[:80]!r}")
    return elapsed


def main():
    pid, port, n, requests = (int(a) for a in sys.argv[1:5])
    base_fds = len(os.listdir(f"/proc/{pid}/fd"))
    print(f"before: {figures(pid)}")
    held = []
    for _ in range(n):
        held.append(socket.create_connection(("127.0.0.1", port)))
    deadline = time.monotonic() + 60
    while len(os.listdir(f"/proc/{pid}/fd")) < base_fds + n:
        if time.monotonic() > deadline:
            raise SystemExit("rcgi did not take every connection within 60 s")
        time.sleep(0.05)
    print(f"with {n} idle connections: {figures(pid)}")
    times = [timed_get(port) for _ in range(requests)]
    ms = sorted(t * 1000 for t in times)
    print(
        f"normal requests meanwhile: {requests}, median {statistics.median(ms):.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )
    print(f"after the requests: {figures(pid)}")
    for c in held:
        c.close()


main()
