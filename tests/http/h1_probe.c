/*
 * h1_probe.c — a raw-socket HTTP/1.x client for tests/http/h1_strict_test.sh: it sends exactly the
 * bytes it is given (malformed ones included), reads what comes back, splits it into responses and
 * says how the connection ended, in lines a shell test can grep.
 *
 *   h1_probe [options] HOST PORT [REQUEST]
 *
 * The bytes sent are REQUEST (C escapes: \r \n \t \0 \\ \xHH), then the contents of --file FILE,
 * then, with --pad-header N, "x-pad: aaa…\r\n" lines and the empty line that ends the head, so
 * that the head (REQUEST, the file and the filler) is N bytes in all: REQUEST is then the request
 * line and any fields, each ending in CRLF, without the empty line.
 *
 *   --timeout-ms MS   the whole exchange, connect included, ends after MS (default 5000)
 *   --pad-header N    head filler, as above; --pad-line LEN: filler lines of LEN bytes (default 4000)
 *   --interleave      keep sending while reading; by default everything is written first, as a
 *                     blocking client does, and reading starts only then (so a server that stops
 *                     reading while the request is unsent leaves the probe blocked: closed=timeout)
 *   --headers         print each response's header lines
 *   --body-out FILE   write the response bodies (all of them, one after the other) to FILE
 *   --max-bytes N     read at most N bytes (default 64 MiB)
 * A response's body is delimited by its headers alone: the probe is not meant for HEAD requests.
 *
 * Output, one item a line, in the order seen:
 *   status=CODE version=HTTP/x.y  for each response (1xx included), then
 *   header=NAME: VALUE            its header lines (--headers), as received, CR removed
 *   framing=length|chunked|close|none   how its body is delimited
 *   body=N                        its body length once complete ("body=N incomplete": cut short)
 *   sent=N/TOTAL                  once the probe stops writing (done, or the connection failed)
 *   write_error=ERRNO-NAME        a write failed (ECONNRESET, EPIPE)
 *   garbage=N                     N bytes received that are not an HTTP/1.x response
 *   partial_head=N                the connection ended inside a response head of N bytes
 *   responses=N                   how many status lines were received
 *   closed=fin|rst|timeout|limit  the server closed (FIN), reset (RST), the deadline passed with
 *                                 the connection open or the probe still blocked writing, or
 *                                 --max-bytes were read
 * Exit status: 0 (whatever the server did), 1 for a local error or a failed connect, 2 for usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD    (64 * 1024) /* a response head longer than this is garbage */
#define MAX_REQUEST (64u << 20) /* bytes the probe will send */
#define LINE_MAX_   256         /* a chunk-size or trailer line kept for parsing */

struct buf {
    char *data;
    size_t len, cap;
};

static void die(const char *what)
{
    fprintf(stderr, "h1_probe: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > MAX_REQUEST) {
        fprintf(stderr, "h1_probe: request larger than %u bytes\n", MAX_REQUEST);
        exit(2);
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;

        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data)
            die("realloc");
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* REQUEST's C escapes: \r \n \t \0 \\ \xHH; any other backslash is kept as it is. */
static void add_escaped(struct buf *b, const char *s)
{
    static const char from[] = "rnt0\\", to[] = "\r\n\t\0\\";

    while (*s) {
        char c = *s++;

        if (c == '\\' && *s) {
            char e = *s++;
            const char *k = strchr(from, e);

            if (k) {
                c = to[k - from];
            } else if (e == 'x' && hexval(s[0]) >= 0 && hexval(s[1]) >= 0) {
                c = (char)(hexval(s[0]) << 4 | hexval(s[1]));
                s += 2;
            } else {
                buf_add(b, "\\", 1);
                c = e;
            }
        }
        buf_add(b, &c, 1);
    }
}

static void add_file(struct buf *b, const char *path)
{
    char chunk[65536];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (!f)
        die(path);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(b, chunk, n);
    if (ferror(f))
        die(path);
    fclose(f);
}

/* Filler lines "x-pad: aaa…\r\n" of at most LINE bytes, then "\r\n", so that the head is N bytes
 * (or just over what is already there, when that is more than N - 2). */
static void add_padding(struct buf *b, size_t n, size_t line)
{
    static const char name[] = "x-pad: ";
    const size_t min = sizeof(name) - 1 + 1 + 2; /* "x-pad: a\r\n" */
    size_t left = n > b->len + 2 ? n - b->len - 2 : 0;

    if (line < min)
        line = min;
    while (left >= min) {
        size_t l = left < line ? left : line;

        if (left - l && left - l < min) /* leave room for a last line of at least min */
            l = left - min;
        buf_add(b, name, sizeof(name) - 1);
        for (size_t i = sizeof(name) - 1; i < l - 2; i++)
            buf_add(b, "a", 1);
        buf_add(b, "\r\n", 2);
        left -= l;
    }
    buf_add(b, "\r\n", 2);
}

/* ---- the response parser ------------------------------------------------------------------------ */

enum pstate { P_HEAD, P_LENGTH, P_CLOSE, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_END, P_TRAILER, P_GARBAGE };

struct parser {
    enum pstate state;
    char head[MAX_HEAD + 1]; /* + 1: a NUL after a complete head */
    size_t head_len;
    char line[LINE_MAX_];
    size_t line_len;
    uint64_t left, body, garbage;
    unsigned responses;
    bool print_headers;
    FILE *body_out;
};

static void body_bytes(struct parser *p, const char *data, size_t n)
{
    p->body += n;
    if (p->body_out && n && fwrite(data, 1, n, p->body_out) != n)
        die("--body-out");
}

static void response_end(struct parser *p)
{
    printf("body=%llu\n", (unsigned long long)p->body);
    p->state = P_HEAD;
    p->head_len = 0;
}

/* A line of the head: [s, s + n), CR removed. */
static bool line_is(const char *s, size_t n, const char *name, const char **value, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(s, name, k) || s[k] != ':')
        return false;
    for (s += k + 1, n -= k + 1; n && (*s == ' ' || *s == '\t'); s++, n--)
        ;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *value = s;
    *vlen = n;
    return true;
}

static void head_complete(struct parser *p)
{
    const char *s = p->head, *end = p->head + p->head_len, *v;
    size_t vlen;
    int status = 0, skip = 0;
    bool chunked = false, has_length = false;
    uint64_t length = 0;

    p->head[p->head_len] = '\0';
    if (sscanf(s, "HTTP/%*1d.%*1d %3d%n", &status, &skip) < 1 || skip < 12 || status < 100) {
        p->state = P_GARBAGE;
        p->garbage += p->head_len;
        return;
    }
    printf("status=%d version=%.8s\n", status, s);
    p->responses++;
    s = (const char *)memchr(s, '\n', (size_t)(end - s)) + 1;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = (size_t)(nl - s);

        if (n && s[n - 1] == '\r')
            n--;
        if (!n)
            break;
        if (p->print_headers)
            printf("header=%.*s\n", (int)n, s);
        if (line_is(s, n, "content-length", &v, &vlen)) {
            has_length = true;
            length = strtoull(v, NULL, 10);
        } else if (line_is(s, n, "transfer-encoding", &v, &vlen)) {
            chunked = vlen >= 7 && !strncasecmp(v + vlen - 7, "chunked", 7);
        }
        s = nl + 1;
    }
    p->body = 0;
    if (status < 200 || status == 204 || status == 304) {
        printf("framing=none\n");
        response_end(p);
    } else if (chunked) {
        printf("framing=chunked\n");
        p->state = P_CHUNK_SIZE;
        p->line_len = 0;
    } else if (has_length) {
        printf("framing=length\n");
        p->left = length;
        p->state = P_LENGTH;
        if (!length)
            response_end(p);
    } else {
        printf("framing=close\n");
        p->state = P_CLOSE;
    }
}

/* Collect a line into p->line; true once its LF arrived (the line is then without CR LF). */
static bool take_line(struct parser *p, const char **data, size_t *n)
{
    while (*n) {
        char c = *(*data)++;

        (*n)--;
        if (c == '\n') {
            if (p->line_len && p->line[p->line_len - 1] == '\r')
                p->line_len--;
            p->line[p->line_len] = '\0';
            return true;
        }
        if (p->line_len < sizeof(p->line) - 1)
            p->line[p->line_len++] = c;
    }
    return false;
}

static void parse(struct parser *p, const char *data, size_t n)
{
    while (n) {
        switch (p->state) {
        case P_HEAD: {
            char c = *data++;

            n--;
            if (p->head_len == MAX_HEAD) {
                p->state = P_GARBAGE;
                p->garbage += p->head_len + 1;
                break;
            }
            p->head[p->head_len++] = c;
            if (c == '\n' && ((p->head_len >= 4 && !memcmp(p->head + p->head_len - 4, "\r\n\r\n", 4)) ||
                              (p->head_len >= 2 && p->head[p->head_len - 2] == '\n')))
                head_complete(p);
            break;
        }
        case P_LENGTH: {
            size_t k = n < p->left ? n : (size_t)p->left;

            body_bytes(p, data, k);
            data += k, n -= k, p->left -= k;
            if (!p->left)
                response_end(p);
            break;
        }
        case P_CLOSE:
            body_bytes(p, data, n);
            n = 0;
            break;
        case P_CHUNK_SIZE: {
            char *end;

            if (!take_line(p, &data, &n))
                break;
            errno = 0;
            p->left = strtoull(p->line, &end, 16);
            p->line_len = 0;
            if (end == p->line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t')) {
                printf("body=%llu incomplete\n", (unsigned long long)p->body);
                p->state = P_GARBAGE;
                break;
            }
            p->state = p->left ? P_CHUNK_DATA : P_TRAILER;
            break;
        }
        case P_CHUNK_DATA: {
            size_t k = n < p->left ? n : (size_t)p->left;

            body_bytes(p, data, k);
            data += k, n -= k, p->left -= k;
            if (!p->left)
                p->state = P_CHUNK_END;
            break;
        }
        case P_CHUNK_END:
            if (take_line(p, &data, &n)) {
                p->line_len = 0;
                p->state = P_CHUNK_SIZE;
            }
            break;
        case P_TRAILER:
            if (take_line(p, &data, &n)) {
                bool last = !p->line_len;

                p->line_len = 0;
                if (last)
                    response_end(p);
            }
            break;
        case P_GARBAGE:
            p->garbage += n;
            n = 0;
            break;
        }
    }
}

/* What is left once the connection ended (or the probe stopped reading). */
static void parse_end(struct parser *p, bool fin)
{
    switch (p->state) {
    case P_HEAD:
        if (p->head_len)
            printf("partial_head=%zu\n", p->head_len);
        break;
    case P_CLOSE:
        printf("body=%llu%s\n", (unsigned long long)p->body, fin ? "" : " incomplete");
        break;
    case P_GARBAGE:
        break;
    default:
        printf("body=%llu incomplete\n", (unsigned long long)p->body);
    }
    if (p->garbage)
        printf("garbage=%llu\n", (unsigned long long)p->garbage);
    printf("responses=%u\n", p->responses);
}

/* ---- the connection ------------------------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t l = deadline - now_ms();

    return l < 0 ? 0 : l > 1000 ? 1000 : (int)l;
}

static int connect_to(const char *host, const char *port, int64_t deadline)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int fd, err, rc = getaddrinfo(host, port, &hints, &ai);
    socklen_t len = sizeof(err);

    if (rc) {
        fprintf(stderr, "h1_probe: %s:%s: %s\n", host, port, gai_strerror(rc));
        exit(1);
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)
        die("connect");
    freeaddrinfo(ai);
    for (;;) {
        struct pollfd pfd = {fd, POLLOUT, 0};

        if (poll(&pfd, 1, left_ms(deadline)) < 0 && errno != EINTR)
            die("poll");
        if (pfd.revents)
            break;
        if (now_ms() >= deadline) {
            errno = ETIMEDOUT;
            die("connect");
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
        die("getsockopt");
    if (err) {
        errno = err;
        die("connect");
    }
    return fd;
}

static const char *errno_name(int e)
{
    return e == ECONNRESET ? "ECONNRESET" : e == EPIPE ? "EPIPE" : e == ETIMEDOUT ? "ETIMEDOUT" : strerror(e);
}

static void usage(void)
{
    fprintf(stderr, "usage: h1_probe [--timeout-ms MS] [--file FILE] [--pad-header N] [--pad-line LEN]\n"
                    "                [--interleave] [--headers] [--body-out FILE] [--max-bytes N]\n"
                    "                HOST PORT [REQUEST]\n");
    exit(2);
}

static unsigned long long number(const char *opt, const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s ? s : "", &end, 10);
    if (!s || !*s || *end || errno) {
        fprintf(stderr, "h1_probe: %s needs a decimal number\n", opt);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static struct parser p;
    static char rbuf[65536];
    struct buf req = {0};
    const char *pos[3] = {0}, *file = NULL, *body_out = NULL;
    unsigned long long timeout = 5000, pad = 0, pad_line = 4000, max_bytes = 64ull << 20, got = 0;
    bool interleave = false, write_done = false, rst = false, fin = false, limit = false;
    size_t sent = 0;
    int npos = 0, fd;
    int64_t deadline;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (!strcmp(a, "--timeout-ms"))
            timeout = number(a, v), i++;
        else if (!strcmp(a, "--pad-header"))
            pad = number(a, v), i++;
        else if (!strcmp(a, "--pad-line"))
            pad_line = number(a, v), i++;
        else if (!strcmp(a, "--max-bytes"))
            max_bytes = number(a, v), i++;
        else if (!strcmp(a, "--file") && v)
            file = v, i++;
        else if (!strcmp(a, "--body-out") && v)
            body_out = v, i++;
        else if (!strcmp(a, "--interleave"))
            interleave = true;
        else if (!strcmp(a, "--headers"))
            p.print_headers = true;
        else if (a[0] == '-' && a[1] == '-')
            usage();
        else if (npos < 3)
            pos[npos++] = a;
        else
            usage();
    }
    if (npos < 2 || pad > MAX_REQUEST)
        usage();
    if (npos == 3)
        add_escaped(&req, pos[2]);
    if (file)
        add_file(&req, file);
    if (pad)
        add_padding(&req, (size_t)pad, (size_t)pad_line);
    if (body_out && !(p.body_out = fopen(body_out, "wb")))
        die(body_out);
    setvbuf(stdout, NULL, _IOLBF, 0); /* a test may watch for sent= while the probe still runs */
    signal(SIGPIPE, SIG_IGN);

    deadline = now_ms() + (int64_t)timeout;
    fd = connect_to(pos[0], pos[1], deadline);
    if (!req.len) {
        write_done = true;
        printf("sent=0/0\n");
    }
    while (!fin && !rst && !limit && now_ms() < deadline) {
        struct pollfd pfd = {fd, 0, 0};

        if (!write_done)
            pfd.events |= POLLOUT;
        if (write_done || interleave)
            pfd.events |= POLLIN;
        if (poll(&pfd, 1, left_ms(deadline)) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (!write_done && pfd.revents & (POLLOUT | POLLERR | POLLHUP)) {
            ssize_t n = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);

            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                /* EPIPE too means the connection was reset: SEND_SHUTDOWN is set only by a reset */
                printf("write_error=%s\n", errno_name(errno));
                rst = errno == ECONNRESET || errno == EPIPE;
                write_done = true;
            }
            if (sent == req.len)
                write_done = true;
            if (write_done)
                printf("sent=%zu/%zu\n", sent, req.len);
        }
        if ((write_done || interleave) && pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
            size_t want = sizeof(rbuf) < max_bytes - got ? sizeof(rbuf) : (size_t)(max_bytes - got);
            ssize_t n = recv(fd, rbuf, want, 0);

            if (n > 0) {
                parse(&p, rbuf, (size_t)n);
                got += (unsigned long long)n;
                limit = got >= max_bytes;
            } else if (n == 0) {
                fin = true;
            } else if (errno == ECONNRESET) {
                rst = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                die("recv");
            }
        }
    }
    if (rst) {
        /* a reset may leave data unread behind it: take what is there */
        ssize_t n;

        while ((n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0)
            parse(&p, rbuf, (size_t)n);
    } else if (!write_done && interleave) {
        printf("sent=%zu/%zu\n", sent, req.len); /* the server closed before taking it all */
    } else if (!write_done) {
        /* blocked writing until the deadline: closed=timeout, whatever came meanwhile, shown here */
        ssize_t n;

        printf("sent=%zu/%zu\n", sent, req.len);
        while (got < max_bytes && (n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT)) > 0) {
            parse(&p, rbuf, (size_t)n);
            got += (unsigned long long)n;
        }
    }
    parse_end(&p, fin);
    printf("closed=%s\n", rst ? "rst" : fin ? "fin" : limit ? "limit" : "timeout");
    close(fd);
    if (p.body_out && fclose(p.body_out))
        die(body_out);
    free(req.data);
    return 0;
}
