#!/usr/bin/env python3
"""Check strace -ff -y output: every report of success comes after the
transaction log reached stable storage.

usage: sync-order.py stdio|sock TRACE_FILE...

Each TRACE_FILE is one thread's trace (strace -ff -y -o PREFIX).  A
"report" is a write to the standard output or error ("stdio": the CLI
printing its result) or a send on a TCP socket ("tcp": apitokend
answering an HTTP request).  For every report, every write to a Berkeley
DB log file (log.NNNNNNNNNN) that the same thread made before it must be
followed, before the report, by an fsync or fdatasync of a log file.
Prints one line per thread with log writes: "<reports> reports, <log
writes> log writes, <syncs> syncs, <unsynced> reported unsynced"; exits 1
if any report came before its log writes were synced, 2 if no thread wrote
to the log at all (the check would be vacuous).
"""
import re
import sys

CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>")
LOG = re.compile(r"/log\.\d{10}$")


WRITES = ("write", "writev", "pwrite64", "pwritev", "pwritev2")
SENDS = ("sendmsg", "sendto", "sendmmsg")


def kind_of(name, fd, path, report):
    if name in WRITES and LOG.search(path):
        return "logwrite"
    if name in ("fsync", "fdatasync") and LOG.search(path):
        return "sync"
    if report == "stdio" and fd in (1, 2) and name in ("write", "writev"):
        return "report"
    if report == "sock" and (name in WRITES or name in SENDS) and \
            (path.startswith("TCP:") or path.startswith("UNIX")):
        return "report"
    return None


def main():
    report = sys.argv[1]
    files = sys.argv[2:]
    bad = 0
    any_log = False
    for f in files:
        reports = writes = syncs = unsynced = 0
        pending = False  # a log write not yet synced
        with open(f, errors="replace") as fh:
            for line in fh:
                m = CALL.match(line)
                if not m:
                    continue
                name, fd, path = m.group(1), int(m.group(2)), m.group(3)
                k = kind_of(name, fd, path, report)
                if k == "logwrite":
                    writes += 1
                    pending = True
                elif k == "sync":
                    syncs += 1
                    pending = False
                elif k == "report":
                    reports += 1
                    if pending:
                        unsynced += 1
        if writes:
            any_log = True
            print("%s: %d reports, %d log writes, %d syncs, %d reported "
                  "unsynced" % (f.rsplit("/", 1)[-1], reports, writes, syncs,
                                unsynced))
        bad += unsynced
    if not any_log:
        print("no thread wrote to the transaction log")
        return 2
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
