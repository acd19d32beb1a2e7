#!/usr/bin/env python3
"""Peak resident memory of a host's processes, for scripts/bench.sh.

    rss_tree.py INTERVAL_S PID...

Every INTERVAL_S seconds, sums VmRSS and Pss over the given processes and
those of their descendants that run one of the same programs (same
/proc/PID/exe): a host's own processes (Apache's workers and cgid daemon,
nginx's workers, fcgiwrap's preforked workers, a fork not yet turned into
the script), not the CGI scripts it runs, which are the same for every
host. A child that shares its parent's memory (a vfork or posix_spawn
child before its exec, as rcgi and Go start scripts) is not counted
twice: kcmp(2) tells. Runs until SIGTERM or SIGINT, then prints one line:

    peak_mib X peak_pss_mib Y samples N max_procs P

where X is the largest sum of VmRSS seen (MiB, 2^20 bytes), Y the largest
sum of Pss, "-" where the kernel has no smaps_rollup, and P the largest
number of processes counted in one sample. A sum of RSS counts the pages
shared between processes (program text, libraries, a forked child's
copy-on-write pages) once per process; Pss splits each page between the
processes that share it, so its sum is the memory the host really holds.
Standard library only; Linux /proc.
"""

import ctypes
import os
import platform
import signal
import sys
import time

# kcmp(2) system call numbers; elsewhere every process is counted.
KCMP_NUMBERS = {"x86_64": 312, "aarch64": 272}
KCMP_VM = 1  # compare the address spaces
libc = ctypes.CDLL(None, use_errno=True)


def shares_memory(pid, other):
    number = KCMP_NUMBERS.get(platform.machine())
    return number is not None and libc.syscall(number, pid, other, KCMP_VM, 0, 0) == 0


def parent_map():
    """pid -> parent pid of every process now."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        parents[int(name)] = int(fields[1])
    return parents


def exe(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None  # a zombie, or gone


HAS_PSS = os.path.exists("/proc/self/smaps_rollup")  # Linux 4.14 on


def field_kib(path, name):
    """The value in KiB of a "Name:   N kB" line of a /proc file; 0 for a
    process gone meanwhile, or a zombie (no memory lines)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(roots, programs):
    """(sum of VmRSS in KiB, sum of Pss in KiB, processes counted) over
    the roots' trees."""
    parents = parent_map()
    children = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    total, pss, count, todo = 0, 0, 0, list(roots)
    while todo:
        pid = todo.pop()
        if pid not in roots:
            if exe(pid) not in programs:
                continue  # a script and whatever it started
            if shares_memory(pid, parents[pid]):
                continue  # its pages are its parent's, counted there
        total += field_kib(f"/proc/{pid}/status", "VmRSS:")
        if HAS_PSS:
            pss += field_kib(f"/proc/{pid}/smaps_rollup", "Pss:")
        count += 1
        todo.extend(children.get(pid, []))
    return total, pss, count


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: rss_tree.py INTERVAL_S PID...")
    interval = float(sys.argv[1])
    roots = {int(arg) for arg in sys.argv[2:]}
    programs = {exe(pid) for pid in roots} - {None}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    peak, peak_pss, samples, max_procs = 0, 0, 0, 0
    while not stop:
        total, pss, count = sample(roots, programs)
        peak, max_procs = max(peak, total), max(max_procs, count)
        peak_pss = max(peak_pss, pss)
        samples += 1
        time.sleep(interval)
    pss_text = f"{peak_pss / 1024:.1f}" if HAS_PSS else "-"
    print(f"peak_mib {peak / 1024:.1f} peak_pss_mib {pss_text} samples {samples} max_procs {max_procs}")


if __name__ == "__main__":
    main()
