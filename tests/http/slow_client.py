#!/usr/bin/python3
"""slow_client.py — raw clients for tests/http/slow_client_test.sh: each case plays one slow or silent
client (or one that keeps within the deadlines) against sluice-server and checks what the server did.

    slow_client.py CASE HOST PORT DEADLINE_MS

DEADLINE_MS is the server's deadline for what the case exercises (the test's config sets them all
alike). A case prints one line, "ok: what happened" or "wrong: what happened", and exits 0 or 1.
Only the standard library; HPACK is written as literals (RFC 7541 6.2.2, no Huffman) and indexed
static entries, and frames are read just enough to see HEADERS, DATA, RST_STREAM and GOAWAY.
"""
import socket
import ssl
import struct
import sys
import time

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


class Closed(Exception):
    """The server closed (FIN) or reset the connection."""


def connect(host, port, tls_alpn=None):
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls_alpn:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols([tls_alpn])
        s = ctx.wrap_socket(s, server_hostname="slow.test")
        if s.selected_alpn_protocol() != tls_alpn:
            raise SystemExit(f"wrong: ALPN {s.selected_alpn_protocol()}, not {tls_alpn}")
    return s


def wait_closed(s, limit):
    """Read (and keep) until the server closes; returns (seconds, bytes read, how: fin or reset), or
    None if it was still open after limit seconds."""
    t0 = time.monotonic()
    got = b""
    while True:
        left = limit - (time.monotonic() - t0)
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            return None
        except (ConnectionResetError, ssl.SSLError, OSError):
            return time.monotonic() - t0, got, "reset"
        if not b:
            return time.monotonic() - t0, got, "fin"
        got += b


def still_open(s, seconds):
    """True if the server neither closed nor sent anything for seconds."""
    s.settimeout(seconds)
    try:
        b = s.recv(65536)
    except socket.timeout:
        return True
    except OSError:
        return False
    return False if not b else None


# ---- HTTP/1.1 -------------------------------------------------------------------------------------


def h1_response(s, limit=5):
    """One response (Content-Length or chunked); returns (status, body). Raises Closed."""
    buf = b""
    s.settimeout(limit)
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise Closed(buf)
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    if "content-length" in fields:
        n = int(fields["content-length"])
        while len(rest) < n:
            b = s.recv(65536)
            if not b:
                raise Closed(rest)
            rest += b
        return status, rest[:n]
    body = b""
    while True:  # chunked
        while b"\r\n" not in rest:
            b = s.recv(65536)
            if not b:
                raise Closed(rest)
            rest += b
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line, 16)
        while len(rest) < size + 2:
            b = s.recv(65536)
            if not b:
                raise Closed(rest)
            rest += b
        if size == 0:
            return status, body
        body += rest[:size]
        rest = rest[size + 2 :]


def closed_within(s, deadline, what):
    r = wait_closed(s, deadline * 3 + 3)
    if r is None:
        return False, f"{what}: still open {deadline * 3 + 3:.1f} s later"
    t, got, how = r
    ok = deadline * 0.9 <= t <= deadline * 3 + 2
    return ok, f"{what}: closed ({how}) after {t:.2f} s (deadline {deadline:.2f} s), read {got[:60]!r}"


def case_h1_silent(host, port, deadline, tls=False):
    s = connect(host, port, "http/1.1" if tls else None)
    return closed_within(s, deadline, "HTTP/1.1 connection that sends nothing" + (" after its TLS handshake" if tls else ""))


def case_tls_silent(host, port, deadline):
    """A TCP connection to the TLS port that never sends its ClientHello."""
    s = connect(host, port)
    return closed_within(s, deadline, "TLS connection with no ClientHello")


def case_h1_slowloris(host, port, deadline):
    """A head sent a byte at a time, each well within the deadline: cut at the head deadline."""
    head = b"GET /healthz HTTP/1.1\r\nhost: slow.test\r\nuser-agent: slowloris\r\n\r\n"
    gap = deadline / 3
    s = connect(host, port)
    t0 = time.monotonic()
    for i, byte in enumerate(head):
        try:
            s.sendall(bytes([byte]))
        except OSError:
            break
        r = wait_closed(s, gap)
        if r is not None:
            t = time.monotonic() - t0
            ok = deadline * 0.9 <= t <= deadline * 3 + 2 and i < len(head) - 1
            return ok, f"slowloris head: closed ({r[2]}) after {t:.2f} s and {i + 1} of {len(head)} bytes, one every {gap:.2f} s"
    return False, f"slowloris head: the whole head ({len(head)} bytes over {time.monotonic() - t0:.1f} s) was let through"


def case_h1_idle(host, port, deadline):
    s = connect(host, port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nhost: slow.test\r\n\r\n")
    status, _ = h1_response(s)
    if status != 200:
        return False, f"GET /healthz answered {status}"
    return closed_within(s, deadline, "keep-alive connection idle after one request")


def case_h1_keepalive(host, port, deadline):
    """Requests each sent within the idle deadline after the last answer: never cut."""
    s = connect(host, port)
    for i in range(4):
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: slow.test\r\n\r\n")
        try:
            status, _ = h1_response(s)
        except Closed:
            return False, f"request {i + 1}: the connection was closed"
        if status != 200:
            return False, f"request {i + 1} answered {status}"
        time.sleep(deadline * 0.6)
    return True, f"4 requests {deadline * 0.6:.2f} s apart on one connection (idle deadline {deadline:.2f} s): all 200"


def case_h1_body_stall(host, port, deadline):
    """A body that stops while its handler waits for all of it (an offloaded route collects the body
    before its handler runs): 408, then the close."""
    s = connect(host, port)
    s.sendall(b"GET /sleep/1 HTTP/1.1\r\nhost: slow.test\r\ncontent-length: 100\r\n\r\n0123456789")
    t0 = time.monotonic()
    try:
        status, body = h1_response(s, deadline * 3 + 3)
    except (Closed, socket.timeout) as e:
        return False, f"stalled body: no 408 ({type(e).__name__} after {time.monotonic() - t0:.2f} s)"
    t = time.monotonic() - t0
    r = wait_closed(s, 3)
    ok = status == 408 and deadline * 0.9 <= t <= deadline * 3 + 2 and r is not None
    return ok, f"stalled body: {status} after {t:.2f} s (deadline {deadline:.2f} s), then {'closed' if r else 'left open'}"


def case_h1_echo_stall(host, port, deadline):
    """A body that stops after its handler began its answer (echo): no 408 can follow, the connection is
    closed before the deadline has passed three times."""
    s = connect(host, port)
    s.sendall(b"POST /echo HTTP/1.1\r\nhost: slow.test\r\ncontent-length: 100\r\n\r\n0123456789")
    ok, what = closed_within(s, deadline, "echo whose body stopped")
    return ok, what


def case_h1_body_steady(host, port, deadline):
    """A body a byte at a time, each within the deadline, longer in all than it: answered in full."""
    body = b"slow-and-steady"
    gap = deadline / 3
    s = connect(host, port)
    s.sendall(b"POST /echo HTTP/1.1\r\nhost: slow.test\r\ncontent-length: %d\r\n\r\n" % len(body))
    for byte in body:
        time.sleep(gap)
        s.sendall(bytes([byte]))
    try:
        status, got = h1_response(s)
    except Closed:
        return False, "slow-but-steady body: the connection was closed"
    ok = status == 200 and got == body
    return ok, f"slow-but-steady body ({len(body)} bytes, one every {gap:.2f} s, {len(body) * gap:.1f} s in all): {status}, {got!r}"


# ---- HTTP/2 -----------------------------------------------------------------------------------------


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def lit(name_index, value):
    """A field with an indexed name, literal value, without indexing (RFC 7541 6.2.2)."""
    v = value.encode()
    return bytes([name_index]) + bytes([len(v)]) + v


def request_block(method, path):
    # :method GET (2) / POST (3), :scheme http (6), :path (name 4), :authority (name 1)
    return bytes([0x82 if method == "GET" else 0x83, 0x86]) + lit(4, path) + lit(1, "slow.test")


class H2:
    def __init__(self, s, ack=True):
        self.s = s
        self.buf = b""
        self.ack = ack  # acknowledge the server's SETTINGS (a client that sent none must not: 3.4)

    def start(self):
        self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def frames(self, limit):
        """Frames until limit seconds pass; raises Closed(frames so far) when the server closes."""
        out = []
        t0 = time.monotonic()
        while True:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF, self.buf[9 : 9 + n])
                self.buf = self.buf[9 + n :]
                if f[0] == SETTINGS and not f[1] & ACK and self.ack:
                    self.s.sendall(frame(SETTINGS, ACK, 0))
                out.append(f)
                yield f
            left = limit - (time.monotonic() - t0)
            if left <= 0:
                return
            self.s.settimeout(left)
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                return
            except OSError:
                raise Closed(out)
            if not b:
                raise Closed(out)
            self.buf += b

    def until_end(self, sid, limit=5):
        """Frames until stream sid ends (END_STREAM or RST_STREAM); returns them."""
        seen = []
        for f in self.frames(limit):
            seen.append(f)
            if f[2] == sid and (f[0] == RST_STREAM or (f[0] in (HEADERS, DATA) and f[1] & END_STREAM)):
                return seen
        return seen


def describe(frames):
    names = {DATA: "DATA", HEADERS: "HEADERS", RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS", PING: "PING", GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE"}
    out = []
    for t, fl, sid, p in frames:
        d = f"{names.get(t, t)}/{sid}"
        if t == RST_STREAM:
            d += " " + CODES.get(int.from_bytes(p[:4], "big"), "?")
        if t == GOAWAY:
            d += f" last={int.from_bytes(p[:4], 'big') & 0x7FFFFFFF} " + CODES.get(int.from_bytes(p[4:8], "big"), "?")
        out.append(d)
    return ", ".join(out)


def goaway_then_close(h, deadline, t0, what):
    """Wait for the server's GOAWAY NO_ERROR and its close; judged against the deadline from t0."""
    seen = []
    try:
        for f in h.frames(deadline * 3 + 3):
            seen.append(f)
    except Closed:
        t = time.monotonic() - t0
        goaways = [f for f in seen if f[0] == GOAWAY]
        ok = bool(goaways) and goaways[-1][3][4:8] == b"\0\0\0\0" and deadline * 0.9 <= t <= deadline * 3 + 2
        return ok, f"{what}: closed after {t:.2f} s (deadline {deadline:.2f} s); frames: {describe(seen)}"
    return False, f"{what}: still open {deadline * 3 + 3:.1f} s later; frames: {describe(seen)}"


def case_h2_no_settings(host, port, deadline):
    """The client preface, then nothing: no first SETTINGS."""
    s = connect(host, port)
    s.sendall(PREFACE)
    return goaway_then_close(H2(s, ack=False), deadline, time.monotonic(), "HTTP/2 preface without SETTINGS")


def case_h2_partial_preface(host, port, deadline):
    s = connect(host, port)
    s.sendall(PREFACE[:10])
    return closed_within(s, deadline, "half an HTTP/2 preface")


def case_h2_tls_silent(host, port, deadline):
    s = connect(host, port, "h2")
    return closed_within(s, deadline, "TLS connection with ALPN h2 that sends no preface")


def case_h2_idle(host, port, deadline):
    s = connect(host, port)
    h = H2(s)
    h.start()
    s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block("GET", "/healthz")))
    try:
        seen = h.until_end(1)
    except Closed as e:
        return False, f"closed before the answer: {describe(e.args[0])}"
    if not any(f[0] == HEADERS and f[2] == 1 for f in seen):
        return False, f"no answer to GET /healthz: {describe(seen)}"
    return goaway_then_close(h, deadline, time.monotonic(), "HTTP/2 connection idle after one request")


def case_h2_keepalive(host, port, deadline):
    s = connect(host, port)
    h = H2(s)
    h.start()
    for i in range(4):
        sid = 1 + 2 * i
        s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, sid, request_block("GET", "/healthz")))
        try:
            seen = h.until_end(sid)
        except Closed as e:
            return False, f"request {i + 1}: closed: {describe(e.args[0])}"
        bad = [f for f in seen if f[0] in (GOAWAY, RST_STREAM)]
        if bad or not any(f[0] == HEADERS and f[2] == sid for f in seen):
            return False, f"request {i + 1}: {describe(seen)}"
        try:
            quiet = [f for f in h.frames(deadline * 0.6) if f[0] in (GOAWAY, RST_STREAM)]
        except Closed as e:
            return False, f"closed between requests: {describe(e.args[0])}"
        if quiet:
            return False, f"between requests: {describe(quiet)}"
    return True, f"4 requests {deadline * 0.6:.2f} s apart on one HTTP/2 connection (idle deadline {deadline:.2f} s): all answered, no GOAWAY"


def case_h2_body_stall(host, port, deadline):
    s = connect(host, port)
    h = H2(s)
    h.start()
    # an offloaded route: its handler runs once the whole body is in, so nothing is answered meanwhile
    s.sendall(frame(HEADERS, END_HEADERS, 1, request_block("GET", "/sleep/1")) + frame(DATA, 0, 1, b"0123456789"))
    t0 = time.monotonic()
    try:
        seen = h.until_end(1, deadline * 3 + 3)
    except Closed as e:
        return False, f"stalled body: the connection was closed: {describe(e.args[0])}"
    t = time.monotonic() - t0
    rst = [f for f in seen if f[0] == RST_STREAM and f[2] == 1]
    ok = bool(rst) and rst[0][3][:4] == struct.pack(">I", 8) and deadline * 0.9 <= t <= deadline * 3 + 2
    # the connection stays: another request on it is answered
    s.sendall(frame(HEADERS, END_HEADERS | END_STREAM, 3, request_block("GET", "/healthz")))
    try:
        after = h.until_end(3)
    except Closed:
        after = []
    served = any(f[0] == HEADERS and f[2] == 3 for f in after)
    return ok and served, f"stalled body: after {t:.2f} s (deadline {deadline:.2f} s): {describe(seen)}; the next request {'answered' if served else 'NOT answered'}"


def case_h2_body_steady(host, port, deadline):
    body = b"slow-and-steady"
    gap = deadline / 3
    s = connect(host, port)
    h = H2(s)
    h.start()
    s.sendall(frame(HEADERS, END_HEADERS, 1, request_block("POST", "/echo")))
    for i, byte in enumerate(body):
        time.sleep(gap)
        s.sendall(frame(DATA, END_STREAM if i == len(body) - 1 else 0, 1, bytes([byte])))
    try:
        seen = h.until_end(1)
    except Closed as e:
        return False, f"slow-but-steady body: closed: {describe(e.args[0])}"
    got = b"".join(f[3] for f in seen if f[0] == DATA and f[2] == 1)
    # frames read while sending were not collected: what the server echoed so far is in h's buffer or
    # was read above; only a reset or GOAWAY would be wrong
    bad = [f for f in seen if f[0] in (RST_STREAM, GOAWAY)]
    ok = not bad and any(f[2] == 1 and f[1] & END_STREAM for f in seen) and got == body
    return ok, f"slow-but-steady HTTP/2 body ({len(body)} bytes, one every {gap:.2f} s): {describe(seen)}"


CASES = {
    "h1-silent": case_h1_silent,
    "h1-slowloris": case_h1_slowloris,
    "h1-idle": case_h1_idle,
    "h1-keepalive": case_h1_keepalive,
    "h1-body-stall": case_h1_body_stall,
    "h1-echo-stall": case_h1_echo_stall,
    "h1-body-steady": case_h1_body_steady,
    "h2-no-settings": case_h2_no_settings,
    "h2-partial-preface": case_h2_partial_preface,
    "h2-idle": case_h2_idle,
    "h2-keepalive": case_h2_keepalive,
    "h2-body-stall": case_h2_body_stall,
    "h2-body-steady": case_h2_body_steady,
    "tls-silent": case_tls_silent,
    "tls-h1-silent": lambda h, p, d: case_h1_silent(h, p, d, tls=True),
    "tls-h2-silent": case_h2_tls_silent,
}


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in CASES:
        print(f"usage: slow_client.py {'|'.join(CASES)} HOST PORT DEADLINE_MS", file=sys.stderr)
        return 2
    try:
        ok, what = CASES[sys.argv[1]](sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000)
    except (OSError, Closed) as e:
        ok, what = False, f"{type(e).__name__}: {e}"
    print(("ok: " if ok else "wrong: ") + what)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
