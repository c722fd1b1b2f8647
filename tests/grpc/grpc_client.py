#!/usr/bin/env python3
# grpc_client.py — a real gRPC client (python3-grpcio) against examples/grpc-echo: the checks that hold
# sluice's gRPC support to what a gRPC stack expects of a server.
#
#   tests/grpc/grpc_client.py --target HOST:PORT [--nghttp PATH]
#
# No generated code: the methods are called by path with raw bytes, and echo.proto's two messages are
# encoded and decoded here by hand (a few varints). The server is expected to run with a small offload
# pool (e.g. [offload] max_threads = 1 or 2, queue_max = 2 to 4), so that a burst of Slow calls overloads
# it. One deadline check talks HTTP/2 itself (nghttp, from nghttp2-client): the client's own deadline
# would end the call either way, so only a grpc-status 4 sent by the server, before the handler's sleep
# is over, proves that the server honours grpc-timeout.
#
# Prints "ok - NAME", "not ok - NAME: reason" or "skip - NAME: reason" lines (tests/lib/tap.sh's) and
# exits 1 when a check failed.
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import grpc
except ImportError:
    # a Python of its own (pyenv, a venv) first on PATH does not see Debian's python3-grpcio
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("not ok - grpc client: python3-grpcio is not installed")
    sys.exit(1)

SERVICE = "/sluice.echo.Echo/"
failed = False


def ok(name):
    print("ok - " + name, flush=True)


def not_ok(name, reason):
    global failed
    failed = True
    print("not ok - %s: %s" % (name, reason), flush=True)


def skip(name, reason):
    print("skip - %s: %s" % (name, reason), flush=True)


# ---- echo.proto by hand ---------------------------------------------------------------------------------


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def echo_request(payload=b"", count=0, delay_ms=0):
    """EchoRequest { bytes payload = 1; uint32 count = 2; uint32 delay_ms = 3; } (proto3: zeros left out)"""
    out = b""
    if payload:
        out += b"\x0a" + varint(len(payload)) + payload
    if count:
        out += b"\x10" + varint(count)
    if delay_ms:
        out += b"\x18" + varint(delay_ms)
    return out


def echo_reply(data):
    """EchoReply { bytes payload = 1; uint32 index = 2; } -> (payload, index)"""
    payload, index, i = b"", 0, 0

    def read_varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    while i < len(data):
        key = read_varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            v = read_varint()
            if field == 2:
                index = v
        elif wire == 2:
            n = read_varint()
            if field == 1:
                payload = bytes(data[i : i + n])
            i += n
        else:
            raise ValueError("wire type %d" % wire)
    return payload, index


# ---- the checks -------------------------------------------------------------------------------------------


def code_of(call, *args, **kw):
    """The call's status code and its result (None on failure)."""
    try:
        return grpc.StatusCode.OK, call(*args, **kw)
    except grpc.RpcError as e:
        return e.code(), e.details()


def check_unary(ch):
    name = "unary: a 1 KiB payload round trip"
    payload = bytes(range(256)) * 4
    code, res = code_of(ch.unary_unary(SERVICE + "Unary"), echo_request(payload), timeout=10)
    if code != grpc.StatusCode.OK:
        return not_ok(name, "status %s (%s)" % (code, res))
    if echo_reply(res) != (payload, 0):
        return not_ok(name, "reply differs")
    ok(name)


def check_stream(ch):
    name = "server streaming: count 1000 gives 1000 replies in order"
    payload = b"stream-payload"
    got = 0
    try:
        for reply in ch.unary_stream(SERVICE + "ServerStream")(echo_request(payload, count=1000), timeout=20):
            p, index = echo_reply(reply)
            if p != payload or index != got:
                return not_ok(name, "reply %d: index %d, payload %r" % (got, index, p[:16]))
            got += 1
    except grpc.RpcError as e:
        return not_ok(name, "status %s after %d replies (%s)" % (e.code(), got, e.details()))
    if got != 1000:
        return not_ok(name, "%d replies" % got)
    ok(name)


def check_large(ch):
    name = "a 1 MiB message split over many DATA frames, both ways"
    payload = os.urandom(1 << 20)
    code, res = code_of(ch.unary_unary(SERVICE + "Unary"), echo_request(payload), timeout=20)
    if code != grpc.StatusCode.OK:
        return not_ok(name, "status %s (%s)" % (code, res))
    if echo_reply(res) != (payload, 0):
        return not_ok(name, "reply differs")
    ok(name)


def check_unknown(ch):
    name = "an unknown method is UNIMPLEMENTED"
    code, res = code_of(ch.unary_unary(SERVICE + "Nope"), echo_request(b"x"), timeout=10)
    if code != grpc.StatusCode.UNIMPLEMENTED:
        return not_ok(name, "status %s (%s)" % (code, res))
    ok(name)


def check_malformed(ch):
    name = "a malformed protobuf is INVALID_ARGUMENT"
    code, res = code_of(ch.unary_unary(SERVICE + "Unary"), b"\x0a\xff\xff\xff\xff\x0f", timeout=10)
    if code != grpc.StatusCode.INVALID_ARGUMENT:
        return not_ok(name, "status %s (%s)" % (code, res))
    ok(name)
    name = "a count over the bound is INVALID_ARGUMENT"
    code, res = code_of(
        lambda *a, **k: list(ch.unary_stream(SERVICE + "ServerStream")(*a, **k)),
        echo_request(b"x", count=100001),
        timeout=10,
    )
    if code != grpc.StatusCode.INVALID_ARGUMENT:
        return not_ok(name, "status %s (%s)" % (code, res))
    ok(name)


def check_deadline(ch):
    name = "a deadline that expires (Slow 2000 ms, timeout 0.3 s) is DEADLINE_EXCEEDED"
    start = time.monotonic()
    code, res = code_of(ch.unary_unary(SERVICE + "Slow"), echo_request(b"x", delay_ms=2000), timeout=0.3)
    if code != grpc.StatusCode.DEADLINE_EXCEEDED:
        return not_ok(name, "status %s (%s)" % (code, res))
    ok(name)


def check_server_deadline(target, nghttp):
    """The server's own answer to grpc-timeout: grpc-status 4 well before the handler's 2 s sleep ends,
    seen by an HTTP/2 client that would wait 10 s."""
    name = "the server answers grpc-status 4 itself at grpc-timeout 200m"
    if not nghttp:
        return skip(name, "nghttp (nghttp2-client) not found")
    msg = echo_request(b"x", delay_ms=2000)
    with tempfile.NamedTemporaryFile() as body:
        body.write(b"\x00" + len(msg).to_bytes(4, "big") + msg)
        body.flush()
        start = time.monotonic()
        try:
            out = subprocess.run(
                [nghttp, "-v", "-t", "10", "-d", body.name,
                 "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", "grpc-timeout: 200m",
                 "http://%s%sSlow" % (target, SERVICE)],
                capture_output=True, text=True, timeout=15,
            ).stdout
        except subprocess.TimeoutExpired:
            return not_ok(name, "nghttp did not finish in 15 s")
        took = time.monotonic() - start
    if "grpc-status: 4" not in out:
        lines = [l.strip() for l in out.splitlines() if "grpc-" in l or ":status" in l]
        return not_ok(name, "no grpc-status 4 from the server: %s" % " | ".join(lines[:4]))
    if took >= 1.5:
        return not_ok(name, "the answer took %.2f s: not the server's deadline" % took)
    ok(name)


def check_overload(ch):
    name = "a burst of Slow calls on a small offload pool: RESOURCE_EXHAUSTED for some, OK for others"
    slow = ch.unary_unary(SERVICE + "Slow")
    n = 24
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        codes = list(ex.map(lambda i: code_of(slow, echo_request(b"o", delay_ms=500), timeout=30)[0], range(n)))
    counts = {c: codes.count(c) for c in set(codes)}
    summary = ", ".join("%s %d" % (c.name, k) for c, k in counts.items())
    if not counts.get(grpc.StatusCode.RESOURCE_EXHAUSTED) or not counts.get(grpc.StatusCode.OK):
        return not_ok(name, summary)
    if set(counts) - {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}:
        return not_ok(name, "other statuses: " + summary)
    ok(name + " (" + summary + ")")


def main():
    ap = argparse.ArgumentParser(description="gRPC checks against examples/grpc-echo")
    ap.add_argument("--target", required=True, help="HOST:PORT of grpc-echo's --http port")
    ap.add_argument("--nghttp", default=shutil.which("nghttp"), help="the nghttp client (raw HTTP/2 check)")
    args = ap.parse_args()

    with grpc.insecure_channel(args.target) as ch:
        try:
            grpc.channel_ready_future(ch).result(timeout=10)
        except grpc.FutureTimeoutError:
            not_ok("connect to " + args.target, "not ready in 10 s")
            return 1
        check_unary(ch)
        check_stream(ch)
        check_large(ch)
        check_unknown(ch)
        check_malformed(ch)
        check_deadline(ch)
        check_server_deadline(args.target, args.nghttp)
        time.sleep(2.2)  # the abandoned Slow calls above hold pool threads for their whole sleep
        check_overload(ch)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
