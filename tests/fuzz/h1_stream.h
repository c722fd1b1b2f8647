/*
 * h1_stream.h — reads a byte stream of HTTP/1.1 requests with server/http/h1_parse.h as a server reads
 * it (head into a buffer of at most H1S_HEAD_MAX bytes, then Content-Length bytes or chunked framing,
 * then the next request), for the fuzz targets h1_fuzz.c and h1_diff_fuzz.c.
 *
 * The stream arrives cut at the caller's points: the end of each head is searched segment by segment
 * and the chunked framing decoded segment by segment, and each is checked against a one-shot run over
 * the whole input (same head length, same error, same bytes used, same body). Those checks, and every
 * span lying inside its input, abort when broken: libFuzzer reports a crash.
 */
#ifndef SLUICE_TESTS_H1_STREAM_H
#define SLUICE_TESTS_H1_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/h1_parse.h"

#define H1S_MAX_REQUESTS 8
#define H1S_MAX_HEADERS  64
#define H1S_HEAD_MAX     16384 /* HTTP_BUF_SIZE: the head buffer h1.c copies into */
#define H1S_MAX_TRAILER  4096

struct h1s_request {
    enum h1_error err; /* H1_OK: the request is complete, or the input ended inside it */
    bool incomplete;   /* the input ended inside it (head or body) */
    bool head_done;    /* the head parsed */
    struct h1_head head;
    struct http_header headers[H1S_MAX_HEADERS];
    const uint8_t *head_bytes; /* where the head starts in the input, and the bytes of it that came */
    size_t head_avail;
    const uint8_t *body; /* the body bytes that came (chunked: decoded) */
    size_t body_len;
};

struct h1s_result {
    struct h1s_request req[H1S_MAX_REQUESTS];
    uint32_t n;   /* requests started */
    uint8_t *buf; /* the input, its heads parsed in place: the strings point here */
    uint8_t *bodies;
};

/* Read in[0..len) cut before each of cuts[0..ncuts) (ascending, any values); free with h1s_free. */
void h1s_read(const uint8_t *in, size_t len, const size_t *cuts, size_t ncuts, struct h1s_result *r);
void h1s_free(struct h1s_result *r);

/* Cut points from a seed: a few, spread over [0, len), the same for the same seed. */
size_t h1s_cuts(uint32_t seed, size_t len, size_t *cuts, size_t max);

#endif
