/*
 * tls_conn.c — one TLS connection between a service and its datapath transport (tls.h): the
 * app_layer that wraps a TLS port's connections, and the app_io the service reads and writes
 * through.
 *
 * OpenSSL does the handshake through a BIO of ours over the datapath's app_io: records are copied
 * from where the transport holds them into OpenSSL's record buffer, and written from OpenSSL's
 * into the transport's transmit buffers. Once the handshake is done, an AEAD suite's records are
 * ours (tls_record.c): opened from the transport straight into the plaintext buffer, sealed from
 * it straight into the transmit buffers, the cipher the only writer; other suites stay with
 * OpenSSL's record layer and its extra copy each way. Plaintext
 * waits in pooled buffers, held only while it waits: on the way in until the service consumes it,
 * on the way out until a record is full or the datapath transmits its batch (the layer's flush),
 * so the many small writes of a response become whole records. writable() promises only what the
 * transport can take once that plaintext is sealed with every record's overhead, so a commit never
 * waits; what OpenSSL writes by itself (handshake flights, tickets, alerts) into a full transport
 * waits in an overflow buffer.
 *
 * A handshake is driven from the transport's readable; the service hears readable only once there
 * is plaintext: after the handshake, or before it for 0-RTT early data, which the service sees
 * marked (app_conn.early) until it has consumed it. A failed handshake ends in the alert OpenSSL
 * chose (or ours, for an oversized ClientHello) and our FIN, counted by kind.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/probes.h"
#include "tls/tls.h"
#include "tls/tls_internal.h"
#include "tls/tls_record.h"

/* A pooled plaintext buffer, either way: what the service has not consumed yet (a frame it waits to
 * see whole, up to 16 KiB) plus one record opened behind it. */
#define BUF_CAP         (2 * 16384 + 1024)
#define FULL_RECORD     16384
#define RECORD_OVERHEAD 32 /* header 5, TLS 1.2's explicit nonce 8, tag 16, TLS 1.3's type 1; rounded up */
#define OVERFLOW_MAX    (64u << 10)
/* A real ClientHello is a few KiB: more than this before we answer (besides the early data allowed)
 * is an attack. */
#define HANDSHAKE_IN_BASE (20u << 10)

enum tls_state {
    TLS_EARLY,     /* reading 0-RTT early data (or learning there is none) */
    TLS_HANDSHAKE, /* the rest of the handshake */
    TLS_OPEN,
    TLS_FAILED, /* the handshake failed or a record did not decrypt: the service sees the end */
};

struct tls_conn {
    SSL *ssl;
    struct tls_worker *w;
    struct app_conn *ac;
    const struct app_io *lower;
    void *lower_t;
    enum tls_state state;
    uint8_t *rx; /* plaintext not consumed yet, from the worker's pool */
    uint32_t rx_off, rx_len;
    uint8_t *frag; /* a record gathered from more pieces than one peek shows, when it comes so */
    uint32_t frag_len;
    uint8_t *tx; /* plaintext written, not sealed yet */
    uint32_t tx_len;
    bool tx_listed;      /* on the worker's list of connections to flush (kept across the slot's reuse) */
    bool abort_pending;  /* sealing failed: the flush resets the connection */
    uint32_t early_left; /* of rx_len: bytes of early data */
    uint32_t handshake_in;
    bool rd_eof; /* no more plaintext: close_notify, or the transport's end */
    bool fresh;  /* rx has bytes the service has not peeked at yet */
    bool shut, shut_pending;
    bool want_writable;
    bool wrote; /* OpenSSL has written something: a failure's alert is its own */
    bool failed_sni, failed_alpn, hello_too_long;
    bool first_byte_seen;
    uint8_t first_byte;
    uint64_t sent; /* plaintext bytes, for the record size */
    bool own;      /* TLS 1.3 records are ours (tls_record.c): the SSL is gone */
    bool span_ovf; /* the sink's last span was in the overflow buffer */
    struct tls_record_key rx_key, tx_key;
    uint8_t secret_rx[TLS_RECORD_MAX_SECRET], secret_tx[TLS_RECORD_MAX_SECRET]; /* from OpenSSL's key log */
    uint8_t secret_rx_len, secret_tx_len;
    uint32_t tickets_sent; /* records OpenSSL sealed with the application key: where our seq starts */
    uint8_t *ovf;          /* OpenSSL's output the transport had no room for */
    uint32_t ovf_off, ovf_len, ovf_cap;
};

struct tls_worker {
    struct tls_server *srv;
    const struct tls_config *cfg;
    struct tls_conn *conns; /* one per app slot */
    uint32_t nslots;
    void *free_bufs;    /* pooled BUF_CAP buffers, linked through their first bytes */
    uint32_t *to_flush; /* connections (slots) with plaintext in tx */
    uint32_t nto_flush;
    uint32_t handshake_in_max;
    struct tls_stats stats;
};

static const struct app_io tls_io;
static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

uint64_t tls_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- buffers ----------------------------------------------------------------------------------- */

static uint8_t *buf_get(struct tls_worker *w)
{
    void *b = w->free_bufs;

    if (!b)
        return malloc(BUF_CAP);
    memcpy(&w->free_bufs, b, sizeof(void *));
    return b;
}

static void buf_put(struct tls_worker *w, uint8_t **b)
{
    if (!*b)
        return;
    memcpy(*b, &w->free_bufs, sizeof(void *));
    w->free_bufs = *b;
    *b = NULL;
}

static void rx_release(struct tls_conn *tc)
{
    buf_put(tc->w, &tc->rx);
    tc->rx_off = tc->rx_len = 0;
}

static size_t lower_write(struct tls_conn *tc, const uint8_t *p, size_t len)
{
    size_t done = 0;

    while (done < len) {
        size_t room;
        uint8_t *dst = tc->lower->reserve(tc->lower_t, &room);

        if (!dst)
            break;
        if (room > len - done)
            room = len - done;
        memcpy(dst, p + done, room);
        tc->lower->commit(tc->lower_t, room);
        done += room;
    }
    return done;
}

/* Room for len more bytes at the overflow buffer's end. */
static int overflow_reserve(struct tls_conn *tc, size_t len)
{
    if (tc->ovf_off) {
        memmove(tc->ovf, tc->ovf + tc->ovf_off, tc->ovf_len);
        tc->ovf_off = 0;
    }
    if (tc->ovf_len + len > OVERFLOW_MAX)
        return -1;
    if (tc->ovf_len + len > tc->ovf_cap) {
        uint32_t cap = tc->ovf_cap ? tc->ovf_cap : 4096;
        uint8_t *n;

        while (cap < tc->ovf_len + len)
            cap *= 2;
        n = realloc(tc->ovf, cap);
        if (!n)
            return -1;
        tc->ovf = n;
        tc->ovf_cap = cap;
    }
    tc->lower->want_writable(tc->lower_t);
    return 0;
}

static int overflow_append(struct tls_conn *tc, const uint8_t *p, size_t len)
{
    if (overflow_reserve(tc, len))
        return -1;
    memcpy(tc->ovf + tc->ovf_len, p, len);
    tc->ovf_len += (uint32_t)len;
    return 0;
}

/* Our sealed records go into the transport's transmit buffers, or (when it is full) after what
 * already waits in the overflow buffer. */
static uint8_t *sink_span(void *ctx, size_t *room)
{
    struct tls_conn *tc = ctx;

    if (!tc->ovf_len) {
        uint8_t *dst = tc->lower->reserve(tc->lower_t, room);

        if (dst) {
            tc->span_ovf = false;
            return dst;
        }
    }
    if (overflow_reserve(tc, 4096))
        return NULL;
    tc->span_ovf = true;
    *room = tc->ovf_cap - tc->ovf_len;
    return tc->ovf + tc->ovf_len;
}

static void sink_commit(void *ctx, size_t n)
{
    struct tls_conn *tc = ctx;

    if (tc->span_ovf)
        tc->ovf_len += (uint32_t)n;
    else
        tc->lower->commit(tc->lower_t, n);
}

static void overflow_flush(struct tls_conn *tc)
{
    if (tc->ovf_len) {
        size_t n = lower_write(tc, tc->ovf + tc->ovf_off, tc->ovf_len);

        tc->ovf_off += (uint32_t)n;
        tc->ovf_len -= (uint32_t)n;
        if (tc->ovf_len) {
            tc->lower->want_writable(tc->lower_t);
            return;
        }
        free(tc->ovf);
        tc->ovf = NULL;
        tc->ovf_off = tc->ovf_cap = 0;
    }
    if (tc->shut_pending) {
        tc->shut_pending = false;
        tc->lower->shutdown(tc->lower_t);
    }
}

/* ---- the BIO: OpenSSL's records, over the datapath's transport ------------------------------------ */

static int bio_read(BIO *b, char *buf, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    struct iovec iov[8];
    int n = tc->lower->peek(tc->lower_t, iov, 8);
    size_t got = 0;

    BIO_clear_retry_flags(b);
    for (int i = 0; i < n && got < (size_t)len; i++) {
        size_t take = iov[i].iov_len < (size_t)len - got ? iov[i].iov_len : (size_t)len - got;

        memcpy(buf + got, iov[i].iov_base, take);
        got += take;
    }
    if (got) {
        tc->lower->consume(tc->lower_t, got);
        if (!tc->first_byte_seen) {
            tc->first_byte_seen = true;
            tc->first_byte = (uint8_t)buf[0];
        }
        if (!tc->wrote) { /* no answer yet: all of it is the ClientHello (and early data read with it) */
            tc->handshake_in += (uint32_t)got;
            if (tc->handshake_in > tc->w->handshake_in_max) {
                tc->hello_too_long = true;
                return -1;
            }
        }
        return (int)got;
    }
    if (tc->lower->eof(tc->lower_t))
        return 0;
    BIO_set_retry_read(b);
    return -1;
}

static int bio_write(BIO *b, const char *buf, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    size_t done = 0;

    BIO_clear_retry_flags(b);
    tc->wrote = true;
    if (!tc->ovf_len)
        done = lower_write(tc, (const uint8_t *)buf, (size_t)len);
    if (done < (size_t)len && overflow_append(tc, (const uint8_t *)buf + done, (size_t)len - done))
        return -1;
    return len;
}

/* OpenSSL asks for EOF to tell a client's FIN (an end without close_notify, which
 * SSL_OP_IGNORE_UNEXPECTED_EOF lets end the stream) from an error. */
static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_conn *tc = BIO_get_data(b);

    (void)num, (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return tc->lower->eof(tc->lower_t);
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_new(void)
{
    bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice transport");
    if (!bio_method)
        return;
    BIO_meth_set_write(bio_method, bio_write);
    BIO_meth_set_read(bio_method, bio_read);
    BIO_meth_set_ctrl(bio_method, bio_ctrl);
    BIO_meth_set_create(bio_method, bio_create);
}

/* ---- what the handshake's callbacks note ------------------------------------------------------- */

void tls_conn_failed_sni(SSL *ssl)
{
    struct tls_conn *tc = SSL_get_app_data(ssl);

    if (tc)
        tc->failed_sni = true;
}

void tls_conn_failed_alpn(SSL *ssl)
{
    struct tls_conn *tc = SSL_get_app_data(ssl);

    if (tc)
        tc->failed_alpn = true;
}

void tls_conn_early_replayed(SSL *ssl)
{
    struct tls_conn *tc = SSL_get_app_data(ssl);

    if (tc)
        tc->w->stats.early_replayed++;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* "LABEL <client random> <secret>", hex (NSS's key log format) */
static void keep_secret(const char *line, size_t label_len, uint8_t *out, uint8_t *out_len)
{
    const char *hex = strchr(line + label_len + 1, ' ');
    size_t n = 0;

    if (!hex)
        return;
    for (hex++; hex[0] && hex[1] && n < TLS_RECORD_MAX_SECRET; hex += 2) {
        int hi = hex_value(hex[0]), lo = hex_value(hex[1]);

        if (hi < 0 || lo < 0)
            return;
        out[n++] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = (uint8_t)n;
}

void tls_conn_keylog(const SSL *ssl, const char *line)
{
    static const char server[] = "SERVER_TRAFFIC_SECRET_0", client[] = "CLIENT_TRAFFIC_SECRET_0";
    struct tls_conn *tc = SSL_get_app_data(ssl);

    if (!tc)
        return;
    if (!strncmp(line, server, sizeof(server) - 1))
        keep_secret(line, sizeof(server) - 1, tc->secret_tx, &tc->secret_tx_len);
    else if (!strncmp(line, client, sizeof(client) - 1))
        keep_secret(line, sizeof(client) - 1, tc->secret_rx, &tc->secret_rx_len);
}

/* The NewSessionTickets OpenSSL sends after its Finished are sealed with the application key: our
 * first record's sequence number follows them. */
static void on_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                       void *arg)
{
    struct tls_conn *tc = arg;

    (void)version, (void)ssl;
    if (write_p && content_type == SSL3_RT_HANDSHAKE && len &&
        *(const uint8_t *)buf == SSL3_MT_NEWSESSION_TICKET)
        tc->tickets_sent++;
}

void tls_conn_info(const SSL *ssl, int where, int ret)
{
    struct tls_conn *tc = SSL_get_app_data(ssl);

    if (!tc || !(where & SSL_CB_ALERT))
        return;
    if (where & SSL_CB_WRITE)
        tc->w->stats.alerts_sent++;
    else if ((ret & 0xff) == SSL3_AD_CLOSE_NOTIFY)
        tc->w->stats.close_notify_received++;
}

/* ---- the handshake ---------------------------------------------------------------------------- */

static void count_failure(struct tls_conn *tc)
{
    struct tls_stats *st = &tc->w->stats;
    unsigned long code = ERR_peek_error();
    int reason = code ? ERR_GET_REASON(code) : 0;

    if (tc->hello_too_long)
        st->fail_malformed++;
    else if (tc->failed_sni)
        st->fail_sni++;
    else if (tc->failed_alpn)
        st->fail_alpn++;
    else if (tc->first_byte_seen && tc->first_byte != SSL3_RT_HANDSHAKE)
        st->fail_not_tls++;
    else if (reason >= SSL_AD_REASON_OFFSET)
        st->fail_alert++;
    else
        switch (reason) {
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_UNKNOWN_PROTOCOL:
            st->fail_protocol++;
            break;
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_NO_SHARED_GROUPS:
        case SSL_R_NO_SUITABLE_KEY_SHARE:
        case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
            st->fail_cipher++;
            break;
        case SSL_R_LENGTH_MISMATCH:
        case SSL_R_BAD_PACKET:
        case SSL_R_RECORD_LENGTH_MISMATCH:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
        case SSL_R_EXCESSIVE_MESSAGE_SIZE:
        case SSL_R_BAD_EXTENSION:
        case SSL_R_LENGTH_TOO_SHORT:
        case SSL_R_BAD_LENGTH:
        case SSL_R_UNEXPECTED_MESSAGE:
        case SSL_R_UNEXPECTED_RECORD:
        case SSL_R_BAD_RECORD_TYPE:
        case SSL_R_ENCRYPTED_LENGTH_TOO_LONG:
            st->fail_malformed++;
            break;
        default:
            if (tc->lower->eof(tc->lower_t))
                st->fail_eof++;
            else
                st->fail_other++;
        }
}

/* The handshake is over, failed: the alert (OpenSSL's, or ours when OpenSSL wrote nothing because
 * we cut the input short) goes out before our FIN, and the lingering close reads what follows. */
static void handshake_failed(struct tls_conn *tc)
{
    /* a plaintext alert record: level fatal, decode_error (RFC 8446 6.2) */
    static const uint8_t decode_error[] = {SSL3_RT_ALERT, 3, 3, 0, 2, SSL3_AL_FATAL, SSL_AD_DECODE_ERROR};

    count_failure(tc);
    ERR_clear_error();
    if (tc->hello_too_long && !tc->wrote) {
        lower_write(tc, decode_error, sizeof(decode_error));
        tc->w->stats.alerts_sent++;
    }
    tc->state = TLS_FAILED;
    tc->ac->early = false;
    rx_release(tc);
    app_shutdown(tc->ac);
}

static enum app_alpn alpn_of(SSL *ssl)
{
    const unsigned char *p;
    unsigned int len;

    SSL_get0_alpn_selected(ssl, &p, &len);
    if (len == 2 && !memcmp(p, "h2", 2))
        return APP_ALPN_H2;
    if (len == 8 && !memcmp(p, "http/1.1", 8))
        return APP_ALPN_HTTP11;
    return APP_ALPN_NONE;
}

/* TLS 1.3's keys from the traffic secrets; our sequence follows the tickets OpenSSL sealed. */
static int keys_tls13(struct tls_conn *tc, const SSL_CIPHER *cipher)
{
    uint16_t suite = SSL_CIPHER_get_protocol_id(cipher);

    if (!tls_record_suite_supported(suite) || !tc->secret_rx_len || !tc->secret_tx_len ||
        tls_record_key_init(&tc->rx_key, suite, tc->secret_rx, tc->secret_rx_len, 0, false))
        return -1;
    if (tls_record_key_init(&tc->tx_key, suite, tc->secret_tx, tc->secret_tx_len, tc->tickets_sent, true)) {
        tls_record_key_free(&tc->rx_key);
        return -1;
    }
    return 0;
}

/* TLS 1.2's from the session's master secret; each side's Finished was its record 0. */
static int keys_tls12(struct tls_conn *tc, const SSL_CIPHER *cipher)
{
    uint8_t master[TLS_RECORD_MAX_SECRET], client_random[32], server_random[32];
    const EVP_MD *prf = SSL_CIPHER_get_handshake_digest(cipher);
    size_t master_len = SSL_SESSION_get_master_key(SSL_get_session(tc->ssl), master, sizeof(master));
    int r;

    if (!tls_record_tls12_supported(SSL_CIPHER_get_cipher_nid(cipher)) || !prf || !master_len ||
        SSL_get_client_random(tc->ssl, client_random, 32) != 32 ||
        SSL_get_server_random(tc->ssl, server_random, 32) != 32)
        return -1;
    r = tls_record_keys_tls12(SSL_CIPHER_get_cipher_nid(cipher), prf, master, master_len, client_random,
                              server_random, 1, &tc->rx_key, &tc->tx_key);
    OPENSSL_cleanse(master, sizeof(master));
    return r;
}

/* An AEAD suite tls_record.c seals: the records are ours from here, and the SSL (its buffers, its
 * handshake state) is freed. Anything else stays with OpenSSL's record layer. */
static void take_over(struct tls_conn *tc)
{
    const SSL_CIPHER *cipher = SSL_get_current_cipher(tc->ssl);
    int version = SSL_version(tc->ssl);

    if (!cipher || SSL_has_pending(tc->ssl) ||
        (version == TLS1_3_VERSION   ? keys_tls13(tc, cipher)
         : version == TLS1_2_VERSION ? keys_tls12(tc, cipher)
                                     : -1)) {
        SSL_set_read_ahead(tc->ssl, 1);
        return;
    }
    OPENSSL_cleanse(tc->secret_rx, sizeof(tc->secret_rx));
    OPENSSL_cleanse(tc->secret_tx, sizeof(tc->secret_tx));
    tc->own = true;
    tc->w->stats.own_records++;
    SSL_free(tc->ssl);
    tc->ssl = NULL;
}

static void established(struct tls_conn *tc)
{
    struct tls_stats *st = &tc->w->stats;
    struct app_conn *ac = tc->ac;

    tc->state = TLS_OPEN;
    st->handshakes++;
    if (SSL_session_reused(tc->ssl))
        st->resumed++;
    if (SSL_version(tc->ssl) == TLS1_3_VERSION)
        st->tls13++;
    else
        st->tls12++;
    ac->alpn = alpn_of(tc->ssl);
    if (ac->alpn == APP_ALPN_H2)
        st->alpn_h2++;
    else if (ac->alpn == APP_ALPN_HTTP11)
        st->alpn_http11++;
    else
        st->alpn_none++;
    switch (SSL_get_early_data_status(tc->ssl)) {
    case SSL_EARLY_DATA_ACCEPTED:
        st->early_accepted++;
        break;
    case SSL_EARLY_DATA_REJECTED:
        st->early_rejected++;
        break;
    default:
        break;
    }
    ac->early = tc->early_left > 0;
    SLUICE_PROBE_TLS_HANDSHAKE_DONE(ac->table->worker, app_conn_id(ac), SSL_get_version(tc->ssl),
                                    SSL_session_reused(tc->ssl),
                                    ac->alpn == APP_ALPN_H2       ? "h2"
                                    : ac->alpn == APP_ALPN_HTTP11 ? "http/1.1"
                                                                  : "",
                                    SSL_get_early_data_status(tc->ssl) == SSL_EARLY_DATA_ACCEPTED);
    app_handshake_done(ac); /* the service's ready reads the ALPN */
    take_over(tc);
}

/* Read early data into rx; false when it failed. */
static bool read_early(struct tls_conn *tc)
{
    for (;;) {
        size_t room, got = 0;
        int r;

        if (!tc->rx && !(tc->rx = buf_get(tc->w)))
            return false;
        room = BUF_CAP - tc->rx_off - tc->rx_len;
        if (!room)
            return true; /* the service consumes first */
        r = SSL_read_early_data(tc->ssl, tc->rx + tc->rx_off + tc->rx_len, room, &got);
        if (r == SSL_READ_EARLY_DATA_SUCCESS) {
            tc->rx_len += (uint32_t)got;
            tc->early_left += (uint32_t)got;
            tc->w->stats.early_bytes += got;
            continue;
        }
        if (r == SSL_READ_EARLY_DATA_FINISH) {
            tc->state = TLS_HANDSHAKE;
            return true;
        }
        return SSL_get_error(tc->ssl, r) == SSL_ERROR_WANT_READ;
    }
}

static void handshake_step(struct tls_conn *tc)
{
    int r;

    if (tc->state == TLS_EARLY && !read_early(tc)) {
        handshake_failed(tc);
        return;
    }
    if (tc->early_left) {
        tc->ac->alpn = alpn_of(tc->ssl);
        tc->ac->early = true;
    }
    if (tc->state != TLS_HANDSHAKE)
        return;
    r = SSL_do_handshake(tc->ssl);
    if (r == 1)
        established(tc);
    else if (SSL_get_error(tc->ssl, r) != SSL_ERROR_WANT_READ)
        handshake_failed(tc);
    else if (!tc->rx_len)
        rx_release(tc);
}

/* ---- the service's transport (struct app_io) --------------------------------------------------- */

/* Our records: an alert to the client, sealed as it ends the connection. */
static void own_alert(struct tls_conn *tc, uint8_t level, uint8_t description)
{
    const uint8_t alert[2] = {level, description};
    const struct tls_sink sink = {sink_span, sink_commit, tc};

    if (!tls_record_seal(&tc->tx_key, TLS_CT_ALERT, alert, sizeof(alert), &sink))
        tc->w->stats.alerts_sent++;
}

static void own_broken(struct tls_conn *tc, uint8_t alert)
{
    tc->w->stats.bad_records++;
    own_alert(tc, SSL3_AL_FATAL, alert);
    tc->rd_eof = true;
    tc->state = TLS_FAILED;
}

/* A handshake message after the handshake: only KeyUpdate (RFC 8446 4.6.3) is a client's to send. */
static void own_post_handshake(struct tls_conn *tc, const uint8_t *m, size_t len)
{
    static const uint8_t update_not_requested[5] = {SSL3_MT_KEY_UPDATE, 0, 0, 1, 0};
    const struct tls_sink sink = {sink_span, sink_commit, tc};

    if (len != 5 || m[0] != SSL3_MT_KEY_UPDATE || m[1] || m[2] || m[3] != 1 || m[4] > 1) {
        own_broken(tc, SSL_AD_UNEXPECTED_MESSAGE);
        return;
    }
    if (tls_record_key_update(&tc->rx_key)) {
        own_broken(tc, SSL_AD_INTERNAL_ERROR);
        return;
    }
    tc->w->stats.key_updates++;
    if (m[4] && (tls_record_seal(&tc->tx_key, TLS_CT_HANDSHAKE, update_not_requested, 5, &sink) ||
                 tls_record_key_update(&tc->tx_key)))
        own_broken(tc, SSL_AD_INTERNAL_ERROR);
}

/* Move the next bytes of a record that lies in more pieces than one peek shows (tiny segments)
 * into frag, the rare case that costs a copy: 1 when it is whole there, 0 when more must come, -1
 * when it is no record. */
static int frag_fill(struct tls_conn *tc, const struct iovec *iov, int n)
{
    size_t took = 0;
    int len = 0;

    if (!tc->frag && !(tc->frag = buf_get(tc->w)))
        return -1;
    for (int i = 0; i < n && len >= 0; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t have = iov[i].iov_len, want = 1;

        while (have && want && len >= 0) {
            if (tc->frag_len >= TLS_RECORD_HEADER)
                len = tls_record_length(&tc->rx_key, tc->frag);
            want = tc->frag_len < TLS_RECORD_HEADER ? TLS_RECORD_HEADER - tc->frag_len
                   : len >= 0                       ? TLS_RECORD_HEADER + (size_t)len - tc->frag_len
                                                    : 0;
            if (want > have)
                want = have;
            memcpy(tc->frag + tc->frag_len, p, want);
            tc->frag_len += (uint32_t)want;
            p += want;
            have -= want;
            took += want;
        }
    }
    tc->lower->consume(tc->lower_t, took);
    if (tc->frag_len < TLS_RECORD_HEADER)
        return 0;
    len = tls_record_length(&tc->rx_key, tc->frag);
    return len < 0 ? -1 : tc->frag_len == TLS_RECORD_HEADER + (size_t)len;
}

/* Open the whole records the transport holds into rx, straight from where they lie. */
static void own_fill(struct tls_conn *tc)
{
    while (!tc->rd_eof) {
        struct iovec iov[64], whole;
        int n = tc->lower->peek(tc->lower_t, iov, 64), nrec = n, len = -1;
        uint8_t header[TLS_RECORD_HEADER], type;
        size_t avail = 0, got = 0, plain, room, skip = sizeof(header);
        const struct iovec *rec = iov;
        bool in_view;

        for (int i = 0; i < n; i++) {
            size_t take = iov[i].iov_len < sizeof(header) - got ? iov[i].iov_len : sizeof(header) - got;

            memcpy(header + got, iov[i].iov_base, take);
            got += take;
            avail += iov[i].iov_len;
        }
        if (got == sizeof(header))
            len = tls_record_length(&tc->rx_key, header);
        in_view = len >= 0 && avail >= sizeof(header) + (size_t)len;
        if (!tc->frag && !in_view) {
            if (got == sizeof(header) && len < 0) {
                own_broken(tc, SSL_AD_DECODE_ERROR);
                return;
            }
            if (n < 64) { /* the rest is on its way, or the client ended (a cut record ends it too) */
                tc->rd_eof = tc->lower->eof(tc->lower_t);
                return;
            }
        }
        if (tc->frag || !in_view) {
            int r = frag_fill(tc, iov, n);

            if (r < 0) {
                own_broken(tc, SSL_AD_DECODE_ERROR);
                return;
            }
            if (!r && n == 64)
                continue; /* what this peek showed is in frag now: look further */
            if (!r) {
                tc->rd_eof = tc->lower->eof(tc->lower_t);
                return;
            }
            memcpy(header, tc->frag, sizeof(header));
            len = tls_record_length(&tc->rx_key, header);
            whole = (struct iovec){tc->frag + sizeof(header), (size_t)len};
            rec = &whole;
            nrec = 1;
            skip = 0;
        }
        room = tls_record_plain_max(&tc->rx_key, (size_t)len);
        if (BUF_CAP - tc->rx_off - tc->rx_len < room && tc->rx_off) {
            memmove(tc->rx, tc->rx + tc->rx_off, tc->rx_len);
            tc->rx_off = 0;
        }
        if (BUF_CAP - tc->rx_off - tc->rx_len < room)
            return; /* the service consumes first */
        if (tls_record_open(&tc->rx_key, header, rec, nrec, skip, (size_t)len,
                            tc->rx + tc->rx_off + tc->rx_len, &plain, &type)) {
            own_broken(tc, SSL_AD_BAD_RECORD_MAC);
            return;
        }
        if (rec == &whole) {
            tc->w->stats.gathered_records++;
            tc->frag_len = 0;
            buf_put(tc->w, &tc->frag);
        } else {
            tc->lower->consume(tc->lower_t, sizeof(header) + (size_t)len);
        }
        switch (type) {
        case TLS_CT_APPLICATION_DATA:
            tc->rx_len += (uint32_t)plain;
            tc->fresh |= plain > 0;
            break;
        case TLS_CT_ALERT: {
            const uint8_t *alert = tc->rx + tc->rx_off + tc->rx_len;

            tc->rd_eof = true;
            if (plain == 2 && alert[1] == SSL3_AD_CLOSE_NOTIFY)
                tc->w->stats.close_notify_received++;
            else
                tc->state = TLS_FAILED;
            return;
        }
        case TLS_CT_HANDSHAKE: /* TLS 1.2: a renegotiation, which we do not do */
            if (tc->rx_key.tls12)
                own_broken(tc, SSL_AD_UNEXPECTED_MESSAGE);
            else
                own_post_handshake(tc, tc->rx + tc->rx_off + tc->rx_len, plain);
            break;
        default:
            own_broken(tc, SSL_AD_UNEXPECTED_MESSAGE);
            return;
        }
    }
}

/* Decrypt what the transport holds into rx, as far as rx has room; early data is consumed first. */
static void fill(struct tls_conn *tc)
{
    if (tc->state != TLS_OPEN || tc->rd_eof || tc->early_left)
        return;
    if (!tc->rx && !(tc->rx = buf_get(tc->w)))
        return;
    if (tc->own) {
        own_fill(tc);
        if (!tc->rx_len)
            rx_release(tc);
        return;
    }
    if (tc->rx_off && BUF_CAP - tc->rx_off - tc->rx_len < 4096) {
        memmove(tc->rx, tc->rx + tc->rx_off, tc->rx_len);
        tc->rx_off = 0;
    }
    while (tc->rx_off + tc->rx_len < BUF_CAP) {
        int r = SSL_read(tc->ssl, tc->rx + tc->rx_off + tc->rx_len, (int)(BUF_CAP - tc->rx_off - tc->rx_len));
        int err;

        if (r > 0) {
            tc->rx_len += (uint32_t)r;
            tc->fresh = true;
            continue;
        }
        err = SSL_get_error(tc->ssl, r);
        if (err == SSL_ERROR_WANT_READ)
            break;
        tc->rd_eof = true;
        if (err != SSL_ERROR_ZERO_RETURN) {
            tc->w->stats.bad_records++;
            tc->state = TLS_FAILED;
        }
        ERR_clear_error();
        break;
    }
    if (!tc->rx_len)
        rx_release(tc);
}

static int tls_peek(void *t, struct iovec *iov, int max)
{
    struct tls_conn *tc = t;

    if (tc->state == TLS_FAILED && tc->ac->shut)
        return tc->lower->peek(tc->lower_t, iov, max);
    fill(tc);
    if (!tc->rx_len || max < 1)
        return 0;
    tc->fresh = false;
    iov[0].iov_base = tc->rx + tc->rx_off;
    iov[0].iov_len = tc->rx_len;
    return 1;
}

static void tls_consume(void *t, size_t n)
{
    struct tls_conn *tc = t;

    if (tc->state == TLS_FAILED && tc->ac->shut) {
        tc->lower->consume(tc->lower_t, n);
        return;
    }
    if (n > tc->rx_len)
        n = tc->rx_len; /* SIZE_MAX: drop what is left */
    tc->rx_off += (uint32_t)n;
    tc->rx_len -= (uint32_t)n;
    if (tc->early_left) {
        tc->early_left -= n < tc->early_left ? (uint32_t)n : tc->early_left;
        tc->ac->early = tc->early_left || tc->state != TLS_OPEN;
    }
    if (!tc->rx_len)
        rx_release(tc);
}

static bool tls_eof(void *t)
{
    struct tls_conn *tc = t;

    if (tc->state == TLS_FAILED)
        return tc->ac->shut ? tc->lower->eof(tc->lower_t) : !tc->rx_len;
    if (tc->state != TLS_OPEN)
        return false;
    fill(tc);
    return !tc->rx_len && tc->rd_eof;
}

static size_t record_size(const struct tls_conn *tc)
{
    return tc->sent < tc->w->cfg->small_record_bytes ? TLS_SMALL_RECORD : FULL_RECORD;
}

static void list_for_flush(struct tls_conn *tc)
{
    if (!tc->tx_listed) {
        tc->tx_listed = true;
        tc->w->to_flush[tc->w->nto_flush++] = (uint32_t)(tc - tc->w->conns);
    }
}

/* Seal len bytes of tx into records; false when the connection cannot go on (the overflow bound):
 * it is reset at the next flush. */
static bool seal(struct tls_conn *tc, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t chunk = record_size(tc);
        int r;

        if (chunk > len - off)
            chunk = len - off;
        if (tc->own) {
            const struct tls_sink sink = {sink_span, sink_commit, tc};

            r = tls_record_seal(&tc->tx_key, TLS_CT_APPLICATION_DATA, tc->tx + off, chunk, &sink)
                    ? -1
                    : (int)chunk;
        } else {
            r = SSL_write(tc->ssl, tc->tx + off, (int)chunk);
        }
        if (r <= 0) { /* reset from the flush, outside the service's own calls */
            ERR_clear_error();
            tc->state = TLS_FAILED;
            tc->abort_pending = true;
            list_for_flush(tc);
            return false;
        }
        off += (size_t)r;
        tc->sent += (uint64_t)r;
    }
    return true;
}

static void tx_flush(struct tls_conn *tc)
{
    if (tc->tx_len && tc->state == TLS_OPEN)
        seal(tc, tc->tx_len);
    tc->tx_len = 0;
    buf_put(tc->w, &tc->tx);
}

static size_t tls_writable(void *t)
{
    struct tls_conn *tc = t;
    size_t room, rec, usable, rest;

    if (tc->state != TLS_OPEN || tc->ovf_len || tc->shut)
        return 0;
    room = tc->lower->writable(tc->lower_t);
    rec = record_size(tc);
    usable = room / (rec + RECORD_OVERHEAD) * rec;
    rest = room % (rec + RECORD_OVERHEAD);
    if (rest > RECORD_OVERHEAD)
        usable += rest - RECORD_OVERHEAD;
    return usable > tc->tx_len ? usable - tc->tx_len : 0;
}

static uint8_t *tls_reserve(void *t, size_t *room)
{
    struct tls_conn *tc = t;
    size_t n = tls_writable(t);

    if (!n || (!tc->tx && !(tc->tx = buf_get(tc->w)))) {
        *room = 0;
        return NULL;
    }
    *room = n < BUF_CAP - tc->tx_len ? n : BUF_CAP - tc->tx_len;
    return tc->tx + tc->tx_len;
}

/* Whole records go at once; the rest waits for more writes or the layer's flush. */
static void tls_commit(void *t, size_t n)
{
    struct tls_conn *tc = t;
    size_t rec = record_size(tc), whole;

    tc->tx_len += (uint32_t)n;
    list_for_flush(tc);
    whole = tc->tx_len / rec * rec;
    if (!whole || !seal(tc, whole))
        return;
    tc->tx_len -= (uint32_t)whole;
    memmove(tc->tx, tc->tx + whole, tc->tx_len);
}

static void tls_shutdown(void *t)
{
    struct tls_conn *tc = t;

    if (tc->shut)
        return;
    tx_flush(tc);
    tc->shut = true;
    if (tc->state == TLS_OPEN && tc->own) {
        own_alert(tc, SSL3_AL_WARNING, SSL3_AD_CLOSE_NOTIFY); /* the client's is not awaited */
    } else if (tc->state == TLS_OPEN) {
        SSL_shutdown(tc->ssl);
        ERR_clear_error();
    }
    if (tc->ovf_len)
        tc->shut_pending = true;
    else
        tc->lower->shutdown(tc->lower_t);
}

static void tls_abort(void *t)
{
    struct tls_conn *tc = t;

    tc->lower->abort(tc->lower_t);
}

static void tls_want_writable(void *t)
{
    struct tls_conn *tc = t;

    tc->want_writable = true;
    tc->lower->want_writable(tc->lower_t);
}

static const struct app_io tls_io = {
    .peek = tls_peek,
    .consume = tls_consume,
    .eof = tls_eof,
    .reserve = tls_reserve,
    .commit = tls_commit,
    .shutdown = tls_shutdown,
    .abort = tls_abort,
    .writable = tls_writable,
    .want_writable = tls_want_writable,
};

/* ---- the layer (struct app_layer) -------------------------------------------------------------- */

static void *layer_worker_new(const void *layer_config, uint32_t nslots)
{
    struct tls_server *srv = (struct tls_server *)layer_config;
    struct tls_worker *w;

    pthread_once(&bio_once, bio_method_new);
    if (!bio_method) {
        errno = ENOMEM;
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->conns = calloc(nslots, sizeof(*w->conns));
    w->to_flush = calloc(nslots, sizeof(*w->to_flush));
    if (!w->conns || !w->to_flush) {
        free(w->conns);
        free(w->to_flush);
        free(w);
        errno = ENOMEM;
        return NULL;
    }
    w->srv = srv;
    w->cfg = tls_server_config(srv);
    w->nslots = nslots;
    w->handshake_in_max = HANDSHAKE_IN_BASE + w->cfg->max_early_data + w->cfg->max_early_data / 16;
    return w;
}

static void layer_worker_free(void *state)
{
    struct tls_worker *w = state;

    for (uint32_t i = 0; i < w->nslots; i++) {
        SSL_free(w->conns[i].ssl);
        if (w->conns[i].own) {
            tls_record_key_free(&w->conns[i].rx_key);
            tls_record_key_free(&w->conns[i].tx_key);
        }
        free(w->conns[i].ovf);
        free(w->conns[i].rx);
        free(w->conns[i].tx);
        free(w->conns[i].frag);
    }
    while (w->free_bufs) {
        void *b = w->free_bufs;

        memcpy(&w->free_bufs, b, sizeof(void *));
        free(b);
    }
    free(w->to_flush);
    free(w->conns);
    free(w);
}

static int layer_open(void *state, struct app_conn *ac)
{
    struct tls_worker *w = state;
    struct tls_conn *tc = &w->conns[ac - ac->table->slots];
    bool listed = tc->tx_listed;
    BIO *bio;

    memset(tc, 0, sizeof(*tc));
    tc->tx_listed = listed;
    tc->w = w;
    tc->ac = ac;
    tc->lower = ac->io;
    tc->lower_t = ac->transport;
    tc->ssl = tls_server_ssl_new(w->srv);
    bio = tc->ssl ? BIO_new(bio_method) : NULL;
    if (!bio) {
        SSL_free(tc->ssl);
        tc->ssl = NULL;
        ERR_clear_error();
        return -1;
    }
    BIO_set_data(bio, tc);
    SSL_set_bio(tc->ssl, bio, bio);
    SSL_set_app_data(tc->ssl, tc);
    SSL_set_msg_callback(tc->ssl, on_message);
    SSL_set_msg_callback_arg(tc->ssl, tc);
    SSL_set_accept_state(tc->ssl);
    tc->state = w->cfg->max_early_data ? TLS_EARLY : TLS_HANDSHAKE;
    ac->io = &tls_io;
    ac->transport = tc;
    ac->layer_conn = tc;
    app_handshake_started(ac, w->cfg->handshake_timeout_ms);
    return 0;
}

static bool layer_readable(struct app_conn *ac)
{
    struct tls_conn *tc = ac->layer_conn;

    if (tc->state == TLS_EARLY || tc->state == TLS_HANDSHAKE) {
        handshake_step(tc);
        if (tc->state == TLS_OPEN && tc->want_writable) {
            tc->want_writable = false;
            app_writable(ac);
            if (!ac->transport)
                return false;
        }
    }
    return tc->state == TLS_OPEN || tc->state == TLS_FAILED || tc->rx_len;
}

/* The service's peek shows one buffer of plaintext; more may wait in OpenSSL or the transport,
 * which will not say readable again for bytes it already has. */
static bool layer_readable_again(struct app_conn *ac)
{
    struct tls_conn *tc = ac->layer_conn;

    if (tc->state != TLS_OPEN)
        return false;
    fill(tc);
    return tc->fresh || (tc->rd_eof && !tc->rx_len);
}

static bool layer_writable(struct app_conn *ac)
{
    struct tls_conn *tc = ac->layer_conn;

    overflow_flush(tc);
    return !tc->ovf_len && tc->state == TLS_OPEN;
}

static void layer_closed(struct app_conn *ac)
{
    struct tls_conn *tc = ac->layer_conn;

    SSL_free(tc->ssl); /* and the BIO */
    tc->ssl = NULL;
    if (tc->own) {
        tls_record_key_free(&tc->rx_key);
        tls_record_key_free(&tc->tx_key);
        tc->own = false;
    }
    tc->ac = NULL;
    rx_release(tc);
    tc->tx_len = tc->frag_len = 0;
    buf_put(tc->w, &tc->tx);
    buf_put(tc->w, &tc->frag);
    free(tc->ovf);
    tc->ovf = NULL;
    ac->layer_conn = NULL;
}

static void layer_flush(void *state)
{
    struct tls_worker *w = state;

    for (uint32_t i = 0; i < w->nto_flush; i++) {
        struct tls_conn *tc = &w->conns[w->to_flush[i]];

        tc->tx_listed = false;
        if (tc->ac)
            tx_flush(tc);
        if (tc->ac && tc->abort_pending)
            app_abort(tc->ac);
    }
    w->nto_flush = 0;
}

const struct app_layer tls_layer = {
    .name = "tls",
    .worker_new = layer_worker_new,
    .worker_free = layer_worker_free,
    .open = layer_open,
    .readable = layer_readable,
    .readable_again = layer_readable_again,
    .writable = layer_writable,
    .closed = layer_closed,
    .flush = layer_flush,
};

const struct tls_stats *tls_worker_stats(const void *layer_state)
{
    const struct tls_worker *w = layer_state;

    return w ? &w->stats : NULL;
}
