#!/usr/bin/env python3
"""source_cap_client.py — the client side of tests/steer/source_cap_test.sh: kernel TCP connections
against sluice-server with a per-source connection cap of N (sluice-agent load
--max-conns-per-source N), in steps the suite checks between.

    source_cap_client.py SERVER PORT N ADDR OTHER_ADDR DIR

1. opens N connections from ADDR and holds them; one more from ADDR must not connect (its SYN is
   dropped in XDP: the connect times out); one from OTHER_ADDR connects (and is closed);
   prints "phase1 done", then waits (at most 30 s) for DIR/close to exist;
2. closes one of the N; a new connection from ADDR must connect again (a few 1 s tries: the server
   gives the count back when its side of the closed connection ends); prints "phase2 done", waits
   (at most 30 s) for DIR/end, closes everything.
Addresses are IPv4 or IPv6 (all of one family). Every outcome is one "key: value" line on stdout,
for the suite to judge.
"""
import os
import socket
import sys
import time


def connect(server, port, src, timeout):
    s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect((server, port))
        return s, "connected"
    except socket.timeout:
        s.close()
        return None, "timeout"
    except OSError as e:
        s.close()
        return None, "error %s" % e.strerror


def wait_for(path):
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def main():
    server, port, n, src, other, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    held = []
    for _ in range(n):
        s, how = connect(server, port, src, 3)
        if s is None:
            print("held: failed after %d: %s" % (len(held), how), flush=True)
            break
        held.append(s)
    else:
        print("held: %d" % len(held), flush=True)
    s, how = connect(server, port, src, 2.5)
    print("extra: %s" % how, flush=True)
    if s is not None:
        held.append(s)
    s, how = connect(server, port, other, 3)
    print("other: %s" % how, flush=True)
    if s is not None:
        s.close()
    print("phase1 done", flush=True)
    wait_for(os.path.join(work, "close"))

    if held:
        held.pop(0).close()
    how = "never"
    for attempt in range(1, 6):
        s, result = connect(server, port, src, 1)
        if s is not None:
            held.append(s)
            how = "connected in %d" % attempt
            break
    print("after-close: %s" % how, flush=True)
    print("phase2 done", flush=True)
    wait_for(os.path.join(work, "end"))
    for s in held:
        s.close()


main()
