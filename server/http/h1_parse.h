/*
 * h1_parse.h — the HTTP/1.1 request framing (RFC 9112, with RFC 9110's field rules): the request head
 * and the chunked body, strictly, without I/O, allocation or a clock.
 *
 * Where it sits: h1.c receives segments from the transport. For a head it copies segments into one
 * pool buffer until h1_head_end finds the empty line, then h1_parse_head splits that buffer in place
 * (strings are slices of it, header names lowercased where they lie), so the request keeps the buffer
 * and copies nothing more. The bytes after the head are the body (Content-Length: the caller counts)
 * or chunked framing, which h1_chunked_step decodes straight from the receive segments: it hands back
 * each data span where it lies, zero-copy. Anything the recipe rejects is an h1_error, with the status
 * to answer and a name for /metrics.
 *
 * Per request, the recipe is:
 *
 *     struct h1_head_scan scan = {0};
 *     while (!(n = h1_head_end(&scan, buf, len)))        after each copy of a segment into buf;
 *         ...                                              len reaching the head limit: H1_ERR_HEAD_TOO_LARGE
 *     err = h1_parse_head(buf, n, &head, headers, max_headers);
 *     if (head.chunked) {
 *         h1_chunked_init(&ck, max_trailer_bytes);
 *         per segment, until h1_chunked_done(&ck):
 *             err = h1_chunked_step(&ck, seg, seglen, &used, &span);   span: body bytes, possibly none
 *             seg += used; seglen -= used;                            the rest: the next request
 *     }
 *
 * Choices where RFC 9112 leaves one (tests/fuzz/h1_diff_fuzz.c lists every one against http-parser):
 *   - a head's lines may end in a bare LF (§2.2 MAY): nginx and http-parser take them, and a head with
 *     them is still unambiguous; a bare CR is an error everywhere (§2.2). Chunked framing takes CRLF
 *     only: it is the part request smuggling plays on.
 *   - empty lines before the request-line are ignored (§2.2), any number (the head limit bounds them).
 *   - the request-target is bytes 0x21-0x7E without '#': no obs-text, no fragment (§3.2); it must be
 *     origin-form ("/…"), asterisk-form ("*", OPTIONS only), absolute-form ("http://…" or "https://…",
 *     without userinfo) or, for CONNECT only, authority-form (host:port).
 *   - HTTP/1.x with x > 1 is served as 1.1 (RFC 9110 §2.5); a major version other than 1 is 505.
 *   - repeated Content-Length lines with the same value are one (RFC 9110 §8.6); a list inside one line
 *     ("42, 42") is refused.
 *   - an Expect other than 100-continue is ignored (RFC 9110 §10.1.1 allows 417; ignoring is safe).
 */
#ifndef SLUICE_H1_PARSE_H
#define SLUICE_H1_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/http.h"

/*
 * Every way a request can be refused, defined once: the enum, the /metrics label and the status each
 * maps to are generated from this list. X(ID, label, status, what it means).
 */
#define H1_ERRORS(X)                                                                                         \
    X(METHOD, "method", 400, "method is not a token")                                                        \
    X(TARGET, "target", 400, "request-target with a byte outside 0x21-0x7E, a '#' or no known form")         \
    X(REQUEST_LINE, "request_line", 400, "request-line is not method SP target SP version")                  \
    X(VERSION, "version", 400, "HTTP-version is not HTTP/DIGIT.DIGIT")                                       \
    X(VERSION_UNSUPPORTED, "version_unsupported", 505, "HTTP major version other than 1")                    \
    X(BARE_CR, "bare_cr", 400, "a CR not followed by LF in the head")                                        \
    X(HEAD_END, "head_end", 400, "the head does not end with an empty line at the length given")             \
    X(FIELD_NAME, "field_name", 400, "field name not a token, or whitespace before the colon")               \
    X(FIELD_VALUE, "field_value", 400, "control character in a field value")                                 \
    X(OBS_FOLD, "obs_fold", 400, "line folding, or whitespace before the first field line")                  \
    X(HOST, "host", 400, "HTTP/1.1 request without Host, or with more than one")                             \
    X(CONTENT_LENGTH, "content_length", 400, "Content-Length not 1*DIGIT, too large, or two different")      \
    X(TRANSFER_ENCODING, "transfer_encoding", 400,                                                           \
      "Transfer-Encoding not ending in chunked, or chunked twice")                                           \
    X(TE_WITH_CL, "te_with_content_length", 400, "both Transfer-Encoding and Content-Length")                \
    X(TE_HTTP10, "te_http10", 400, "Transfer-Encoding in an HTTP/1.0 request")                               \
    X(UNKNOWN_CODING, "unknown_coding", 501, "a transfer coding other than chunked")                         \
    X(TOO_MANY_HEADERS, "too_many_headers", 431, "more field lines than the caller has room for")            \
    X(HEAD_TOO_LARGE, "head_too_large", 431, "no end of the head within the head limit (the caller's)")      \
    X(CHUNK_SIZE, "chunk_size", 400, "chunk-size not 1*HEXDIG, or above H1_CHUNK_SIZE_MAX")                  \
    X(CHUNK_EXT, "chunk_ext", 400, "malformed or too long chunk extension")                                  \
    X(CHUNK_LINE_END, "chunk_line_end", 400, "chunk-size line or chunk data not ended by CRLF")              \
    X(TRAILER, "trailer", 400, "malformed trailer field line")                                               \
    X(TRAILER_TOO_LARGE, "trailer_too_large", 431, "trailer section above the caller's limit")

enum h1_error {
    H1_OK = 0,
#define H1_ERROR_ENUM(id, label, status, help) H1_ERR_##id,
    H1_ERRORS(H1_ERROR_ENUM)
#undef H1_ERROR_ENUM
        H1_ERROR_COUNT
};

/* The /metrics label ("ok" for H1_OK) and the status to answer (0 for H1_OK). */
const char *h1_error_name(enum h1_error e);
int h1_error_status(enum h1_error e);

/* ---- the head ---------------------------------------------------------------------------------------- */

/* Where the search for the end of a head stands: all zero for a new head, kept between calls. */
struct h1_head_scan {
    size_t pos;   /* bytes searched: the next call starts here */
    size_t start; /* empty lines before the request-line (ignored); the request-line starts here */
};

/*
 * The length of the head in buf (request-line to the empty line included), or 0 while it is not
 * complete. Each call searches only the bytes added since the last one, so a client dripping a head
 * byte by byte costs O(n) in all. buf must hold the same bytes at the same place between calls.
 */
size_t h1_head_end(struct h1_head_scan *scan, const uint8_t *buf, size_t len);

struct h1_head {
    struct http_str method; /* case-sensitive (RFC 9110 §9.1): "GET", not "get" */
    struct http_str target; /* as sent */
    struct http_str path;   /* the target up to '?'; for absolute-form the part after the authority,
                               "/" when that is empty (a static string, not in buf) */
    struct http_str query;  /* after '?', empty when none */
    /* Where the request says it goes: the authority of an absolute-form target, which overrides Host
     * (RFC 9112 §3.2.2), else the Host field's value; ptr NULL when neither (HTTP/1.0 without Host). */
    struct http_str host;
    uint64_t content_length; /* UINT64_MAX when none (and when chunked) */
    uint32_t nheaders;
    int32_t host_index;      /* the Host field in headers[], -1 when none */
    uint8_t http_version;    /* 10 or 11 (HTTP/1.2 and later minors are 11) */
    bool chunked;            /* Transfer-Encoding: chunked: decode the body with h1_chunked_step */
    bool keep_alive;         /* the connection stays open after the response (Connection, version) */
    bool expect_continue;    /* Expect: 100-continue on HTTP/1.1 */
    bool connection_upgrade; /* Connection: upgrade (check the Upgrade field for the protocol) */
};

/*
 * Parse the complete head buf[0..len) (len from h1_head_end) in place: strings in out and headers[]
 * point into buf, field names lowercased where they lie, values without surrounding whitespace.
 * headers[] has room for max_headers fields. Returns H1_OK, or the first error found (out is then
 * partly filled and means nothing).
 */
enum h1_error h1_parse_head(uint8_t *buf, size_t len, struct h1_head *out, struct http_header *headers,
                            uint32_t max_headers);

/*
 * Does the comma-separated list value hold token (ASCII case-insensitive, whole elements, parameters
 * after ';' ignored)? For Upgrade: h2c and the like (RFC 9110 §5.6.1).
 */
bool h1_list_has(struct http_str value, const char *token, size_t token_len);

/* ---- the chunked body ---------------------------------------------------------------------------------- */

/* The largest chunk-size accepted: no body is bigger, and the arithmetic on it cannot overflow. */
#define H1_CHUNK_SIZE_MAX (UINT64_C(1) << 62)
/* Bytes of chunk extensions accepted on one chunk-size line (they are skipped, never kept). */
#define H1_CHUNK_EXT_MAX 4096

/* The decoder's state between segments; set by h1_chunked_init. Private fields: h1_parse.c's. */
struct h1_chunked {
    uint64_t _left;        /* chunk-size being read, then the data bytes left in the chunk */
    uint32_t _line;        /* extension or trailer bytes so far, against their limit */
    uint32_t _max_trailer; /* trailer section limit, in bytes */
    uint8_t _state;
};

/* A span of body bytes, where they lie in the caller's input. */
struct h1_span {
    const uint8_t *ptr;
    size_t len;
};

void h1_chunked_init(struct h1_chunked *c, uint32_t max_trailer_bytes);

/*
 * Decode from in[0..len): consumes framing bytes up to the next data span, and that span; *used says
 * how many bytes of in were taken (framing and data), data the span (len 0 when this input held
 * none). Call again with the rest while *used < len and the body is not done: data spans come one a
 * call, in order. Once h1_chunked_done, *used stops right after the body: the bytes after it are the
 * next request's. Trailer fields are checked and dropped. An error is final.
 */
enum h1_error h1_chunked_step(struct h1_chunked *c, const uint8_t *in, size_t len, size_t *used,
                              struct h1_span *data);

/* The last chunk and the trailer section have been read. */
bool h1_chunked_done(const struct h1_chunked *c);

#endif
