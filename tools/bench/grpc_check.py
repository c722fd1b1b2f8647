#!/usr/bin/python3
"""grpc_check.py — tools/bench/grpc.sh's check of a gRPC echo server with a real gRPC client.

    grpc_check.py HOST:PORT BODY_FILE [CALLS]

h2load, which loads the servers, reads neither trailers nor messages: before each load this client
(Debian's python3-grpcio, gRPC's C core: neither gRPC-Go nor sluice) makes CALLS (default 3) calls
of /sluice.echo.Echo/Unary with the request h2load sends (BODY_FILE: one length-prefixed gRPC
message, EchoRequest with the payload), and checks that each ends with grpc-status 0 and that its
EchoReply carries the payload back with index 0. Messages are encoded by hand (no generated code):
the request bytes as they are, the reply decoded field by field. Prints one line; exit status 0
when every call passed, 1 when one did not (the line says why), 2 for bad usage.
"""
import sys

import grpc

METHOD = "/sluice.echo.Echo/Unary"


def varint(buf, i):
    """The varint at buf[i:]: (value, index after it)."""
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def fields(msg):
    """A protobuf message's fields: {number: last value}, varints as ints, bytes as bytes."""
    out, i = {}, 0
    while i < len(msg):
        key, i = varint(msg, i)
        num, wtype = key >> 3, key & 7
        if wtype == 0:
            out[num], i = varint(msg, i)
        elif wtype == 2:
            n, i = varint(msg, i)
            if i + n > len(msg):
                raise ValueError("field %d runs past the message" % num)
            out[num], i = msg[i : i + n], i + n
        elif wtype == 1:
            out[num], i = msg[i : i + 8], i + 8
        elif wtype == 5:
            out[num], i = msg[i : i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wtype)
    return out


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: grpc_check.py HOST:PORT BODY_FILE [CALLS]", file=sys.stderr)
        return 2
    target, body_file = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    with open(body_file, "rb") as f:
        body = f.read()
    if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
        print("grpc_check: %s is not one uncompressed length-prefixed gRPC message" % body_file)
        return 1
    request = body[5:]
    payload = fields(request).get(1, b"")
    # no proxy from the environment: the server is in the bench's own topology
    options = [("grpc.enable_http_proxy", 0)]
    with grpc.insecure_channel(target, options=options) as channel:
        unary = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        for n in range(calls):
            try:
                reply, call = unary.with_call(request, timeout=10)
            except grpc.RpcError as e:
                print("grpc_check: %s call %d: grpc-status %s (%s): %s" % (METHOD, n + 1, e.code().value[0], e.code().name, e.details()))
                return 1
            if call.code() != grpc.StatusCode.OK:
                print("grpc_check: %s call %d: grpc-status %s" % (METHOD, n + 1, call.code().value[0]))
                return 1
            try:
                got = fields(reply)
            except ValueError as e:
                print("grpc_check: %s call %d: the EchoReply does not parse: %s" % (METHOD, n + 1, e))
                return 1
            if got.get(1, b"") != payload or got.get(2, 0) != 0:
                print("grpc_check: %s call %d: the EchoReply (%d B) does not carry the %d B payload back at index 0"
                      % (METHOD, n + 1, len(reply), len(payload)))
                return 1
    print("grpc_check: %s: %d calls, grpc-status 0, the %d B payload back at index 0" % (METHOD, calls, len(payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
