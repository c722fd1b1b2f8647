/*
 * h1_stream.c — a stream of HTTP/1.1 requests read with h1_parse, split and one-shot (h1_stream.h).
 */
#include "tests/fuzz/h1_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void broken(const char *what, size_t at)
{
    fprintf(stderr, "h1_stream: invariant broken: %s (at byte %zu)\n", what, at);
    abort();
}

static bool inside(const void *p, size_t n, const uint8_t *base, size_t len)
{
    return (const uint8_t *)p >= base && (const uint8_t *)p + n <= base + len;
}

/* A parsed head's strings lie in its bytes (path may be the static "/"), names are lowercase tokens,
 * values have no CTL and no surrounding whitespace. */
static void check_head(const struct h1_head *h, const struct http_header *hd, const uint8_t *b, size_t n)
{
    if (!inside(h->method.ptr, h->method.len, b, n) || !inside(h->target.ptr, h->target.len, b, n) ||
        !inside(h->query.ptr, h->query.len, b, n) ||
        (!inside(h->path.ptr, h->path.len, b, n) && !(h->path.len == 1 && h->path.ptr[0] == '/')) ||
        (h->host.ptr && !inside(h->host.ptr, h->host.len, b, n)))
        broken("head string outside the head", 0);
    if (h->nheaders > H1S_MAX_HEADERS || (h->chunked && h->content_length != UINT64_MAX) ||
        (h->http_version != 10 && h->http_version != 11) || h->host_index >= (int32_t)h->nheaders)
        broken("head fields", 0);
    for (uint32_t i = 0; i < h->nheaders; i++) {
        struct http_str nm = hd[i].name, v = hd[i].value;

        if (!nm.len || !inside(nm.ptr, nm.len, b, n) || !inside(v.ptr, v.len, b, n))
            broken("header outside the head", i);
        for (size_t k = 0; k < nm.len; k++)
            if ((nm.ptr[k] >= 'A' && nm.ptr[k] <= 'Z') || nm.ptr[k] <= ' ' || nm.ptr[k] == ':')
                broken("header name not a lowercase token", k);
        for (size_t k = 0; k < v.len; k++)
            if (((uint8_t)v.ptr[k] < ' ' && v.ptr[k] != '\t') || v.ptr[k] == 0x7f)
                broken("CTL in a value", k);
        if (v.len &&
            (v.ptr[0] == ' ' || v.ptr[0] == '\t' || v.ptr[v.len - 1] == ' ' || v.ptr[v.len - 1] == '\t'))
            broken("whitespace around a value", i);
    }
}

/* The end of the head at buf[0..avail), searched once whole and once segment by segment. */
static size_t head_end(const uint8_t *buf, size_t avail, size_t off, const size_t *cuts, size_t ncuts)
{
    struct h1_head_scan one = {0}, split = {0};
    size_t whole = h1_head_end(&one, buf, avail), got = 0;

    for (size_t i = 0; i < ncuts && !got; i++)
        if (cuts[i] > off && cuts[i] - off < avail)
            got = h1_head_end(&split, buf, cuts[i] - off);
    if (!got)
        got = h1_head_end(&split, buf, avail);
    if (got != whole || got > avail || (got && split.pos != got))
        broken("head end differs split and whole", off);
    return whole;
}

/* Decode chunked framing from in[0..len) cut at the given points; data appended to out. */
static enum h1_error chunked(const uint8_t *in, size_t len, size_t off, const size_t *cuts, size_t ncuts,
                             uint8_t *out, size_t *out_len, size_t *used_total, bool *done)
{
    struct h1_chunked c;
    size_t at = 0, ci = 0;
    enum h1_error err = H1_OK;

    h1_chunked_init(&c, H1S_MAX_TRAILER);
    *out_len = 0;
    while (at < len && !h1_chunked_done(&c) && !err) {
        size_t seg_end = len;

        while (ci < ncuts && (cuts[ci] <= off + at || cuts[ci] - off >= len))
            ci++;
        if (ci < ncuts)
            seg_end = cuts[ci] - off;
        /* one segment: steps until it is used up, the body done or an error */
        while (at < seg_end && !h1_chunked_done(&c)) {
            struct h1_span d;
            size_t used;

            err = h1_chunked_step(&c, in + at, seg_end - at, &used, &d);
            if (used > seg_end - at || (d.len && !inside(d.ptr, d.len, in + at, used)))
                broken("chunked span outside its input", off + at);
            if (!err && !used && !h1_chunked_done(&c))
                broken("chunked step made no progress", off + at);
            memcpy(out + *out_len, d.ptr, d.len);
            *out_len += d.len;
            at += used;
            if (err)
                break;
        }
    }
    *used_total = at;
    *done = h1_chunked_done(&c);
    return err;
}

void h1s_read(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts, struct h1s_result *r)
{
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    r->buf = malloc(len ? len : 1);
    r->bodies = malloc(len ? len : 1);
    memcpy(r->buf, in, len);
    size_t body_at = 0;

    while (off < len && r->n < H1S_MAX_REQUESTS) {
        struct h1s_request *q = &r->req[r->n++];
        size_t avail = len - off < H1S_HEAD_MAX ? len - off : H1S_HEAD_MAX;
        size_t n = head_end(r->buf + off, avail, off, cuts, ncuts);

        q->head_bytes = in + off;
        q->head_avail = n ? n : avail;

        if (!n) {
            if (avail == H1S_HEAD_MAX)
                q->err = H1_ERR_HEAD_TOO_LARGE;
            else
                q->incomplete = true;
            return;
        }
        q->err = h1_parse_head(r->buf + off, n, &q->head, q->headers, H1S_MAX_HEADERS);
        if (q->err)
            return;
        check_head(&q->head, q->headers, r->buf + off, n);
        q->head_done = true;
        off += n;
        q->body = r->bodies + body_at;
        if (q->head.chunked) {
            uint8_t *whole = malloc(len - off + 1);
            size_t wlen, wused, used;
            bool wdone, done;
            enum h1_error werr = chunked(in + off, len - off, off, NULL, 0, whole, &wlen, &wused, &wdone);

            q->err = chunked(in + off, len - off, off, cuts, ncuts, r->bodies + body_at, &q->body_len, &used,
                             &done);
            if (werr != q->err || wused != used || wdone != done || wlen != q->body_len ||
                memcmp(whole, q->body, wlen))
                broken("chunked decode differs split and whole", off);
            free(whole);
            off += used;
            body_at += q->body_len;
            if (q->err)
                return;
            if (!done) {
                q->incomplete = true;
                return;
            }
        } else if (q->head.content_length != UINT64_MAX) {
            size_t take = q->head.content_length < len - off ? (size_t)q->head.content_length : len - off;

            memcpy(r->bodies + body_at, in + off, take);
            q->body_len = take;
            body_at += take;
            off += take;
            if (take < q->head.content_length) {
                q->incomplete = true;
                return;
            }
        }
    }
}

void h1s_free(struct h1s_result *r)
{
    free(r->buf);
    free(r->bodies);
}

size_t h1s_cuts(uint32_t seed, size_t len, size_t *cuts, size_t max)
{
    size_t n = 0, at = 0;
    uint32_t x = seed * 2654435761u + 1;

    if (!len)
        return 0;
    while (n < max) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        /* small steps mostly (a head dripping in), a large one sometimes */
        at += 1 + (x & 0x80 ? x % (len / 2 + 1) : x % 8);
        if (at >= len)
            break;
        cuts[n++] = at;
    }
    return n;
}
